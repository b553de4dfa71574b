"""Targets and rules as pool-admins manage them, in the API and the console's pages."""

from clusters.choices import HostRegistration
from clusters.models import Host
from core.choices import AlertName
from core.models import AuditEvent
from core.secrets import secret_decrypt
from core.services.alerts import alert_sync
from notifications.models import Notification, NotificationTarget
from notifications.services.config import rule_create, target_create
from tests.conftest import api_client_for

from .servers import free_port


def test_secrets_are_write_only_and_changes_audited(admin_api, receiver):
    created = admin_api.post(
        "/api/notification-targets/",
        {"name": "hook", "kind": "webhook", "url": receiver.url, "secret": "abc"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert "secret" not in created.json() and created.json()["has_secret"] is True
    pk = created.json()["id"]
    renamed = admin_api.patch(f"/api/notification-targets/{pk}/", {"name": "hook2"}, format="json")
    assert renamed.json()["has_secret"] is True  # left out: kept
    stored = NotificationTarget.objects.get(pk=pk).secret_encrypted
    assert "abc" not in stored and secret_decrypt(stored) == "abc"  # a database copy hides it
    assert "secret" not in admin_api.get(f"/api/notification-targets/{pk}/").json()
    assert admin_api.delete(f"/api/notification-targets/{pk}/").status_code == 204
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"notification_target.create", "notification_target.update"} <= actions
    assert "notification_target.delete" in actions


def test_bad_targets_and_rules_are_refused_saying_why(admin_api):
    bad = admin_api.post(
        "/api/notification-targets/",
        {"name": "x", "kind": "webhook", "url": "file:///etc/passwd"},
        format="json",
    )
    assert bad.status_code == 400 and "http://" in bad.json()["message"]
    bad = admin_api.post(
        "/api/notification-targets/",
        {"name": "x", "kind": "email", "recipients": ["not an address"]},
        format="json",
    )
    assert bad.status_code == 400 and "not an e-mail address" in bad.json()["message"]
    bad = admin_api.post(
        "/api/notification-rules/", {"name": "r", "alert_names": ["NOPE"], "targets": []}
    )
    assert bad.status_code == 400


def test_only_pool_admins_manage_notifications(operator_user, readonly_user):
    for user in (operator_user, readonly_user):
        client = api_client_for(user)
        assert client.get("/api/notification-targets/").status_code == 403
        assert client.get("/api/notification-rules/").status_code == 403


def test_the_test_button_answers_with_what_the_target_said(
    admin_api, client, admin_user, receiver, smtp_server
):
    receiver.script = [(202, b"queued for #ops")]
    hook = target_create(actor=None, name="hook", kind="webhook", url=receiver.url)
    answer = admin_api.post(f"/api/notification-targets/{hook.pk}/test/").json()
    assert answer["status"] == "delivered" and answer["last_answer"] == "HTTP 202: queued for #ops"
    assert receiver.requests[-1].headers["X-O2CB-Event"] == "test"

    mail = target_create(actor=None, name="mail", kind="email", recipients=["a@example.org"])
    answer = admin_api.post(f"/api/notification-targets/{mail.pk}/test/").json()
    assert answer["last_answer"] == "SMTP 250: 2.0.0 Ok: queued as TEST"
    assert smtp_server.messages[-1][3]["Subject"] == "[O2CB console] Test message"

    dead = target_create(
        actor=None, name="dead", kind="webhook", url=f"http://127.0.0.1:{free_port()}/"
    )
    client.force_login(admin_user)
    page = client.post(f"/notifications/targets/{dead.pk}/test/", follow=True)
    text = page.content.decode()
    assert "Test message to dead: no answer:" in text
    assert AuditEvent.objects.filter(action="notification_target.test", outcome="failure").exists()


def test_pages_create_a_target_and_a_rule(client, admin_user, receiver, host):
    client.force_login(admin_user)
    page = client.post(
        "/notifications/targets/",
        {"name": "ops", "kind": "email", "recipients": "a@example.org, b@example.org"},
    )
    assert page.status_code == 302
    target = NotificationTarget.objects.get(name="ops")
    assert target.recipients == ["a@example.org", "b@example.org"]
    page = client.post(
        "/notifications/rules/",
        {
            "name": "xs-1 majors",
            "priority_at_least": "2",
            "hosts": [host.pk],
            "targets": [target.pk],
            "alert_names": [AlertName.HOST_SILENT],
            "enabled": "on",
        },
    )
    assert page.status_code == 302, page.content.decode()
    listing = client.get("/notifications/rules/").content.decode()
    assert "xs-1 majors" in listing and "HOST_SILENT" in listing
    assert client.get(f"/notifications/targets/{target.pk}/").status_code == 200
    assert client.get("/notifications/deliveries/").status_code == 200


def test_rules_choose_by_name_priority_pool_and_host(host, pool, db):
    other = Host.objects.create(hostname="xs-2", registration=HostRegistration.ACCEPTED)
    target = target_create(actor=None, name="t", kind="email", recipients=["a@example.org"])
    rule_create(actor=None, name="pool-a", pools=[pool], targets=[target])
    rule_create(
        actor=None,
        name="xs-2 silent",
        hosts=[other],
        targets=[target],
        alert_names=[AlertName.HOST_SILENT],
        priority_at_least=2,
    )
    alert_sync(name=AlertName.HOST_SILENT, target=host, message="a")  # pool-a takes it
    alert_sync(name=AlertName.CLUSTER_MEMBER_STOPPED, target=other, message="b")  # nobody
    alert_sync(name=AlertName.HOST_SILENT, target=other, message="c")  # xs-2 silent
    alert_sync(name=AlertName.HOST_WAITING_FOR_ACCEPTANCE, target=other, message="d")  # minor
    sent = Notification.objects.values_list("alert__target_repr", "alert__name")
    assert sorted(sent) == [("xs-1", "HOST_SILENT"), ("xs-2", "HOST_SILENT")]


def test_a_disabled_target_gets_nothing_more_and_old_messages_are_forgotten(
    host, receiver, settings, db
):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.models import Delivery
    from notifications.services.delivery import delivery_attempt, notifications_prune

    hook = target_create(actor=None, name="hook", kind="webhook", url=receiver.url)
    rule_create(actor=None, name="all", targets=[hook])
    alert_sync(name=AlertName.HOST_SILENT, target=host, message="silent")
    hook.enabled = False
    hook.save()
    delivery = Delivery.objects.get()
    assert delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_answer.startswith("not sent")
    assert receiver.requests == []

    Notification.objects.update(created=timezone.now() - timedelta(days=31))
    assert notifications_prune() >= 1
    assert not Delivery.objects.exists()


def test_pages_silence_a_host_in_maintenance_and_snooze_an_alert(
    client, operator_user, admin_user, host
):
    from maintenance.choices import MaintenanceState
    from maintenance.models import HostMaintenance
    from notifications.models import HostSilence

    client.force_login(operator_user)
    alert = alert_sync(name=AlertName.HOST_SILENT, target=host, message="silent")
    assert "Snooze messages" in client.get("/alerts/").content.decode()
    assert client.post(f"/alerts/{alert.pk}/snooze/", {"minutes": "60"}).status_code == 302
    alert.refresh_from_db()
    assert alert.snoozed_until is not None and alert.snoozed_by == operator_user
    assert client.post(f"/alerts/{alert.pk}/snooze/", {"minutes": "x"}).status_code == 400
    assert client.post("/notifications/silences/", {"host": host.pk}).status_code == 403

    client.force_login(admin_user)
    HostMaintenance.objects.create(host=host, state=MaintenanceState.IN_MAINTENANCE)
    page = client.get("/notifications/rules/").content.decode()
    assert "Silence until its maintenance ends" in page
    client.post("/notifications/silences/", {"host": host.pk})
    assert HostSilence.objects.filter(maintenance__host=host).exists()
    assert "Send its messages again" in client.get("/notifications/rules/").content.decode()
    client.post("/notifications/silences/", {"host": host.pk, "silence": "off"})
    assert not HostSilence.objects.exists()
    assert client.post("/notifications/silences/", {"host": "x"}).status_code == 400
