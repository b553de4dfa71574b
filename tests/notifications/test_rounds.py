"""The I/O-health rounds, as they judge a host again and again, make one message per
change of its alerts: however rounds store alerts (one by one or in bulk), they tell
notifications through core.signals.alert_changed."""

import pytest

from clusters.iohealth.services import io_health_record
from notifications.models import Notification
from notifications.services.config import rule_create, target_create
from tests.clusters.test_io_health import probe


@pytest.mark.django_db
def test_health_rounds_make_one_message_per_change(host):
    target = target_create(actor=None, name="t", kind="email", recipients=["a@example.org"])
    rule_create(
        actor=None, name="paths", alert_names=["MULTIPATH_PERIODIC_ALERT"], targets=[target]
    )

    for _round in range(3):
        io_health_record(host=host, probe=probe(mp="current_failed_faulty_offline.txt"))
    for _round in range(3):
        io_health_record(host=host, probe=probe(mp="current_all_paths_down_queueing.txt"))
    for _round in range(3):
        io_health_record(host=host, probe=probe())

    sent = list(Notification.objects.order_by("created", "id"))
    assert [(n.event, n.priority) for n in sent] == [
        ("raised", 3),
        ("escalated", 2),
        ("cleared", 2),
    ]
    assert sent[0].body["alert"]["hosts"] == ["xs-1"]
    assert all(n.deliveries.count() == 1 and not n.held for n in sent)
