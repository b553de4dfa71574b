"""The message itself: the web-hook's JSON body (schema version WEBHOOK_SCHEMA_VERSION),
which e-mails put in words. README, Notifications, documents every field."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from core.choices import AlertName, AlertPriority
from core.models import Alert

from ..choices import WEBHOOK_SCHEMA_VERSION, NotificationEvent


def _time(value) -> str | None:
    return value.isoformat() if value else None


def console_url(path: str) -> str:
    return settings.CONSOLE_URL.rstrip("/") + path


def alert_body(*, alert: Alert, event: str, previous_priority: int | None, scope) -> dict:
    return {
        "version": WEBHOOK_SCHEMA_VERSION,
        "event": event,
        "sent_at": _time(timezone.now()),
        "alert": {
            "id": alert.pk,
            "name": alert.name,
            "title": AlertName(alert.name).label,
            "priority": alert.priority,
            "priority_label": AlertPriority(alert.priority).label,
            "previous_priority": previous_priority,
            "message": alert.message,
            "target": {
                "kind": alert.target_kind or None,
                "id": alert.target_id or None,
                "name": alert.target_repr or None,
            },
            "hosts": sorted(scope.hostnames),
            "pools": sorted(scope.poolnames),
            "raised_at": _time(alert.created),
            "cleared_at": _time(alert.cleared),
        },
        # Every alert of its name, open or not (open= empty), scrolled to this one.
        "console_url": console_url(
            reverse("alert-list") + f"?name={alert.name}&open=#alert-{alert.pk}"
        ),
    }


def test_body() -> dict:
    return {
        "version": WEBHOOK_SCHEMA_VERSION,
        "event": NotificationEvent.TEST.value,
        "sent_at": _time(timezone.now()),
        "alert": None,
        "console_url": console_url(reverse("notification-target-list")),
    }
