"""A snooze ends: an alert still open is said once more, at the real servers."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.choices import AlertName
from core.models import Alert
from core.services.alerts import alert_acknowledge, alert_clear, alert_snooze, alert_sync
from notifications.choices import DeliveryStatus
from notifications.models import Delivery, Notification
from notifications.services.routing import snoozes_ended_notify
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("console_worker", "rule")

STOPPED = AlertName.CLUSTER_MEMBER_STOPPED


def delivered(receiver, smtp_server) -> tuple[list[str], list[str]]:
    wait_for(
        lambda: not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists(),
        timeout=90,
        message="every delivery done",
    )
    hooks = [json.loads(r.body)["event"] for r in receiver.requests]
    mails = [message["Subject"] for _at, _from, _to, message in smtp_server.messages]
    return hooks, mails


def snoozed_then_ended(host, admin_user) -> Alert:
    alert = alert_sync(name=STOPPED, target=host, message="stopped")
    alert_snooze(alert=alert, minutes=30, actor=admin_user)
    # Thirty minutes later, as far as the snooze can tell.
    Alert.objects.filter(pk=alert.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    return alert


def test_an_open_alert_is_said_once_more_when_its_snooze_ends(
    host, admin_user, receiver, smtp_server
):
    alert = snoozed_then_ended(host, admin_user)
    assert snoozes_ended_notify() == 1
    assert snoozes_ended_notify() == 0, "said once, not once per look"
    hooks, mails = delivered(receiver, smtp_server)
    assert hooks == ["raised", "still_open"]
    assert mails[-1].startswith("[O2CB console] STILL_OPEN ")
    text = smtp_server.messages[-1][3].get_content()
    assert "is still open: the snooze ended." in text
    alert.refresh_from_db()
    assert alert.snoozed_until is None and alert.snoozed_by is None


def test_a_cleared_or_acknowledged_alert_is_not_reminded(host, admin_user, receiver, smtp_server):
    cleared = snoozed_then_ended(host, admin_user)
    alert_clear(name=STOPPED, target=host)
    assert snoozes_ended_notify() == 0
    acknowledged = snoozed_then_ended(host, admin_user)
    assert acknowledged.pk != cleared.pk
    alert_acknowledge(alert=acknowledged, actor=admin_user)
    snoozes_ended_notify()
    hooks, _mails = delivered(receiver, smtp_server)
    assert "still_open" not in hooks
    held = Notification.objects.get(alert=acknowledged, event="still_open")
    assert held.held == f"acknowledged by {admin_user.username}"


def test_a_new_snooze_before_the_end_moves_the_end(host, admin_user, receiver, smtp_server):
    alert = snoozed_then_ended(host, admin_user)
    alert_snooze(alert=alert, minutes=60, actor=admin_user)
    assert snoozes_ended_notify() == 0
    assert "still_open" not in delivered(receiver, smtp_server)[0]
