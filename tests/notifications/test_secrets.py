"""A web-hook's secret is kept encrypted with the console's key; one that the key cannot
read stops its deliveries saying what to do, instead of sending unsigned bodies."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.secrets import secret_decrypt
from notifications.choices import DeliveryStatus
from notifications.models import NotificationTarget
from notifications.services.config import target_create, target_test, target_update


def test_a_secret_the_consoles_key_cannot_read_fails_the_delivery_saying_so(
    db, receiver, settings, tmp_path
):
    hook = target_create(
        actor=None, name="chat hook", kind="webhook", url=receiver.url, secret="abc"
    )
    settings.SECRETS_KEY_FILE = tmp_path / "another-console.key"  # the key was lost

    delivery = target_test(actor=None, target=hook)

    assert delivery.status == DeliveryStatus.FAILED
    assert "secret is unreadable" in delivery.last_answer
    assert "type it again" in delivery.last_answer
    assert receiver.requests == [], "nothing unsigned went out"

    target_update(actor=None, target=hook, secret="abc")  # typed again, under the new key
    assert target_test(actor=None, target=hook).status == DeliveryStatus.DELIVERED


def test_a_secret_that_is_too_long_is_refused_whole(admin_user):
    from core.errors import ConsoleError

    with pytest.raises(ConsoleError, match="at most 200 characters; this one has 201"):
        target_create(
            actor=admin_user, name="hook", kind="webhook", url="http://h/", secret="x" * 201
        )
    assert not NotificationTarget.objects.exists()


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_secrets_saved_in_clear_before_are_encrypted_by_the_migration():
    old = _migrate(("notifications", "0002_still_open_after_snooze"))
    OldTarget = old.get_model("notifications", "NotificationTarget")
    OldTarget.objects.create(name="hook", kind="webhook", url="http://h/", secret="abc")
    OldTarget.objects.create(name="mail", kind="email", recipients=["a@example.org"])

    _migrate(("notifications", "0003_secret_encrypted_at_rest"))

    hook, mail = NotificationTarget.objects.order_by("name")
    assert "abc" not in hook.secret_encrypted and secret_decrypt(hook.secret_encrypted) == "abc"
    assert mail.secret_encrypted == "" and not mail.has_secret
