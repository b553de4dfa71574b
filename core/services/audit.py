"""Audit events: who did what to which object, and how it ended."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models

from core.choices import AuditOutcome
from core.models import AuditEvent, Task


def target_fields(target: models.Model | None) -> dict:
    if target is None:
        return {"target_type": None, "target_id": "", "target_repr": ""}
    return {
        "target_type": ContentType.objects.get_for_model(target),
        "target_id": str(target.pk),
        "target_repr": str(target)[:200],
    }


def user_or_none(actor):
    """A logged-in user, or None for the console itself (and an anonymous request)."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    message: str = "",
    task: Task | None = None,
) -> AuditEvent:
    """Write one audit event; `actor` None means the console itself (monitor, beat)."""
    user = user_or_none(actor)
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "console",
        action=action,
        outcome=outcome,
        message=message,
        task=task,
        **target_fields(target),
    )
