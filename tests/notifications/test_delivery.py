"""Messages reach a real SMTP server and a real web-hook receiver, through the real worker:
one per raise, escalation and clearing, never one per health round."""

import hashlib
import hmac
import json
import time

import pytest

from core.choices import AlertName, AlertPriority
from core.services.alerts import alert_clear, alert_sync
from notifications.choices import DeliveryStatus
from notifications.models import Delivery
from notifications.services.config import target_create
from notifications.transports import SIGNATURE_HEADER
from tests.conftest import wait_for

from .conftest import SECRET

pytestmark = pytest.mark.usefixtures("console_worker")

STOPPED = AlertName.CLUSTER_MEMBER_STOPPED  # raised on a host, MAJOR by default


def _settled():
    return not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()


def _wait_for_messages(smtp_server, receiver, count):
    wait_for(
        lambda: len(smtp_server.messages) >= count and len(receiver.requests) >= count,
        timeout=90,
        message=f"{count} message(s) at each server",
    )
    wait_for(_settled, timeout=90, message="every delivery done")


def _verify(request) -> dict:
    """What a receiver does (README): check the HMAC over "t." + body, then read it."""
    parts = dict(item.split("=", 1) for item in request.headers[SIGNATURE_HEADER].split(","))
    mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + request.body, hashlib.sha256)
    assert hmac.compare_digest(mac.hexdigest(), parts["v1"])
    assert abs(time.time() - int(parts["t"])) < 300
    return json.loads(request.body)


def test_raise_escalate_clear_are_one_message_each(host, rule, smtp_server, receiver):
    alert = alert_sync(name=STOPPED, target=host, message="xs-1 does not run pool")
    _wait_for_messages(smtp_server, receiver, 1)

    for _round in range(3):  # later health rounds find the same condition
        alert_sync(name=STOPPED, target=host, message="xs-1 does not run pool")
    alert_sync(name=STOPPED, target=host, message="xs-1 still does not run pool")
    # One message, to two targets (work another test left queued may raise alerts of its own).
    assert Delivery.objects.filter(notification__alert=alert).count() == 2

    body = _verify(receiver.requests[0])
    assert body["version"] == 1 and body["event"] == "raised"
    assert body["alert"]["id"] == alert.pk
    assert body["alert"]["name"] == "CLUSTER_MEMBER_STOPPED"
    assert body["alert"]["priority"] == AlertPriority.MAJOR
    assert body["alert"]["priority_label"] == "Major"
    assert body["alert"]["message"] == "xs-1 does not run pool"
    assert body["alert"]["target"] == {"kind": "host", "id": str(host.pk), "name": "xs-1"}
    assert body["alert"]["hosts"] == ["xs-1"] and body["alert"]["pools"] == ["pool-a"]
    assert body["alert"]["raised_at"] and body["alert"]["cleared_at"] is None
    assert body["console_url"].startswith("https://console.example/alerts/")
    assert receiver.requests[0].headers["Content-Type"] == "application/json"
    assert receiver.requests[0].headers["X-O2CB-Event"] == "raised"

    _when, sender, to, mail = smtp_server.messages[0]
    assert to == ["ops@example.org"] and sender == "o2cb-console@localhost"
    assert mail["Subject"] == (
        "[O2CB console] RAISED Major: A member host does not run its cluster (xs-1)"
    )
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-O2CB-Alert"] == "CLUSTER_MEMBER_STOPPED"
    text = mail.get_content()
    assert "xs-1 does not run pool" in text and body["console_url"] in text

    alert_sync(name=STOPPED, target=host, message="worse", priority=AlertPriority.CRITICAL)
    alert_sync(name=STOPPED, target=host, message="worse", priority=AlertPriority.CRITICAL)
    _wait_for_messages(smtp_server, receiver, 2)
    escalated = _verify(receiver.requests[1])
    assert escalated["event"] == "escalated"
    assert escalated["alert"]["priority"] == 1 and escalated["alert"]["previous_priority"] == 2
    assert smtp_server.messages[1][3]["Subject"].startswith("[O2CB console] ESCALATED Critical")

    # Less urgent again is no news; the clearing is.
    alert_sync(name=STOPPED, target=host, message="better", priority=AlertPriority.MAJOR)
    alert_clear(name=STOPPED, target=host)
    alert_clear(name=STOPPED, target=host)
    _wait_for_messages(smtp_server, receiver, 3)
    cleared = _verify(receiver.requests[2])
    assert cleared["event"] == "cleared" and cleared["alert"]["cleared_at"]
    assert len(receiver.requests) == 3 and len(smtp_server.messages) == 3

    log = Delivery.objects.filter(target__kind="email").order_by("created")
    assert [d.status for d in log] == ["delivered"] * 3
    assert log[0].last_answer == "SMTP 250: 2.0.0 Ok: queued as TEST"


def test_a_failing_hook_is_retried_with_backoff_then_delivered(
    host, rule, receiver, smtp_server, admin_api
):
    receiver.script = [(500, b"database down"), (500, b"still down"), (200, b"ok")]
    alert_sync(name=STOPPED, target=host, message="xs-1 does not run pool")
    wait_for(_settled, timeout=120, message="the hook delivered after two failures")

    assert len(receiver.requests) == 3
    bodies = {request.body for request in receiver.requests}
    assert len(bodies) == 1  # the same message each time, signed afresh
    hook = rule.targets.get(kind="webhook")
    answer = admin_api.get(f"/api/notification-targets/{hook.pk}/deliveries/").json()
    delivery = answer["results"][0]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [t["answer"] for t in delivery["tries"]] == [
        "HTTP 500: database down",
        "HTTP 500: still down",
        "HTTP 200: ok",
    ]
    assert [t["retry_in"] for t in delivery["tries"]] == [0.5, 1.0, None]  # doubling
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0  # each retry waited at least its backoff
    assert delivery["last_answer"] == "HTTP 200: ok"


def test_an_unreachable_target_is_logged_with_the_error(host, smtp_server, receiver, settings):
    settings.NOTIFY_RETRIES = 1
    from notifications.services.config import rule_create

    closed = target_create(
        actor=None, name="gone", kind="webhook", url=f"http://127.0.0.1:{_closed_port()}/x"
    )
    rule_create(actor=None, name="to the void", targets=[closed])
    alert_sync(name=STOPPED, target=host, message="xs-1 does not run pool")
    wait_for(_settled, timeout=60, message="the delivery gave up")
    delivery = Delivery.objects.get(target=closed)
    assert delivery.status == "failed" and delivery.attempts == 2
    assert delivery.last_answer.startswith("no answer:")
    assert "refused" in delivery.last_answer.lower()


def _closed_port() -> int:
    from .servers import free_port

    return free_port()
