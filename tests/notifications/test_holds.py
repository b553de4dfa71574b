"""What admins hold back: acknowledged, snoozed, a host silenced in maintenance; and what
nothing holds back: a fence. Checked at the real servers, through the real worker."""

import json

import pytest

from core.choices import AlertName, AlertPriority
from core.services.alerts import alert_acknowledge, alert_clear, alert_raise, alert_sync
from crashes.services import crashdump_record
from maintenance.choices import MaintenanceState
from maintenance.models import HostMaintenance
from notifications.choices import DeliveryStatus
from notifications.models import Delivery, Notification
from notifications.services.config import rule_create, target_create
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("console_worker")

STOPPED = AlertName.CLUSTER_MEMBER_STOPPED


def _events_received(receiver) -> list[str]:
    wait_for(
        lambda: not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists(),
        timeout=90,
        message="every delivery done",
    )
    return [json.loads(r.body)["event"] for r in receiver.requests]


@pytest.fixture
def hook(receiver, db):
    target = target_create(actor=None, name="hook", kind="webhook", url=receiver.url)
    rule_create(actor=None, name="all", targets=[target])
    return target


def test_acknowledged_alert_sends_nothing_until_it_escalates(host, hook, receiver, admin_api):
    alert = alert_sync(name=STOPPED, target=host, message="stopped")
    assert _events_received(receiver) == ["raised"]
    assert admin_api.post(f"/api/alerts/{alert.pk}/acknowledge/").status_code == 200
    alert_sync(name=STOPPED, target=host, message="stopped")
    alert_clear(name=STOPPED, target=host)
    assert _events_received(receiver) == ["raised"]
    held = Notification.objects.get(alert=alert, event="cleared")
    assert held.held == "acknowledged by pool-admin"

    # A new incident; acknowledged, then more urgent: the escalation is sent, and lifts it.
    alert = alert_sync(name=STOPPED, target=host, message="stopped again")
    alert_acknowledge(alert=alert, actor=None)
    alert_sync(name=STOPPED, target=host, message="worse", priority=AlertPriority.CRITICAL)
    alert_clear(name=STOPPED, target=host)
    assert _events_received(receiver) == ["raised", "raised", "escalated", "cleared"]


def test_a_snoozed_alert_sends_nothing_until_the_snooze_ends(host, hook, receiver, admin_api):
    alert = alert_sync(name=STOPPED, target=host, message="stopped")
    answer = admin_api.post(f"/api/alerts/{alert.pk}/snooze/", {"minutes": 60}, format="json")
    assert answer.status_code == 200 and answer.json()["snoozed_by"] == "pool-admin"
    alert_sync(name=STOPPED, target=host, message="worse", priority=AlertPriority.CRITICAL)
    assert _events_received(receiver) == ["raised"]
    assert Notification.objects.get(event="escalated").held.startswith("snoozed until ")

    admin_api.post(f"/api/alerts/{alert.pk}/snooze/", {"minutes": 0}, format="json")
    alert_clear(name=STOPPED, target=host)
    assert _events_received(receiver) == ["raised", "cleared"]
    too_long = admin_api.post(f"/api/alerts/{alert.pk}/snooze/", {"minutes": 99999})
    assert too_long.status_code == 400


def test_a_host_silenced_in_maintenance_sends_only_fences(host, hook, receiver, admin_api):
    refused = admin_api.post("/api/notification-silences/", {"host": host.pk})
    assert refused.status_code == 409
    assert "not in maintenance" in refused.json()["message"]

    maintenance = HostMaintenance.objects.create(host=host, state=MaintenanceState.IN_MAINTENANCE)
    assert admin_api.post("/api/notification-silences/", {"host": host.pk}).status_code == 201
    assert admin_api.get("/api/notification-silences/").json()["results"][0]["hostname"] == "xs-1"
    alert_sync(name=STOPPED, target=host, message="stopped on purpose")
    # The host crashes in maintenance: crashes/ records it and alerts, about the dump.
    crashdump_record(host=host, dump={"name": "d", "analysis": None, "error": "x"}, source="agent")
    assert _events_received(receiver) == ["raised"]
    crash = json.loads(receiver.requests[0].body)["alert"]
    assert crash["name"] == "HOST_CRASHED_BY_A_BUG"  # no analysis: a bug, by the design
    assert crash["target"]["kind"] == "hostcrashdump" and crash["hosts"] == ["xs-1"]

    maintenance.delete()  # leaving maintenance ends the silence with it
    alert_sync(name=AlertName.HOST_SILENT, target=host, message="xs-1 is silent")
    assert _events_received(receiver) == ["raised", "raised"]


def test_a_fence_is_sent_whatever_the_rule_priority_and_the_snooze(host, receiver, db):
    target = target_create(actor=None, name="pager", kind="webhook", url=receiver.url)
    rule_create(actor=None, name="critical only", priority_at_least=1, targets=[target])
    alert_sync(name=STOPPED, target=host, message="major, not critical")
    crash = alert_raise(name=AlertName.HOST_FENCED_BY_O2CB, target=host, message="fenced")
    crash.snoozed_until = crash.created.replace(year=crash.created.year + 1)
    crash.save()
    alert_raise(
        name=AlertName.HOST_FENCED_BY_O2CB, target=host, message="fenced", priority=1
    )  # an escalation of a snoozed fence
    # Both go out; the worker's threads may send them in either order.
    assert sorted(_events_received(receiver)) == ["escalated", "raised"]
