from datetime import timedelta

import pytest
from django.utils import timezone

from clusters.iohealth.selectors import health_series
from clusters.iohealth.services import samples_record, samples_roll_up
from clusters.models import HealthRollup, HealthSample

from .factories import HostFactory

DAY, YEAR = timedelta(days=1), timedelta(days=365)


@pytest.fixture
def host(db):
    return HostFactory()


def record(host, time, value, subject="sdb"):
    samples_record(host=host, time=time, values=[("path_up", subject, value)])


def test_a_collection_round_is_stored_in_one_go(host, django_assert_max_num_queries):
    values = [("path_up", f"sd{i}", 1.0) for i in range(64)]
    with django_assert_max_num_queries(3):  # savepoint, one insert, release
        assert samples_record(host=host, time=timezone.now(), values=values) == 64
    assert HealthSample.objects.count() == 64


def test_old_samples_become_hourly_rollups_and_late_ones_merge(host):
    hour = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    for minute, value in [(0, 10.0), (20, 30.0), (40, 20.0)]:
        record(host, hour + timedelta(minutes=minute), value)
    record(host, timezone.now(), 99.0)  # recent: stays at full resolution
    assert samples_roll_up(full_resolution_for=DAY, keep_rollups_for=YEAR) == 1
    rollup = HealthRollup.objects.get()
    assert (rollup.count, rollup.minimum, rollup.maximum, rollup.mean) == (3, 10.0, 30.0, 20.0)
    assert list(HealthSample.objects.values_list("value", flat=True)) == [99.0]
    record(host, hour + timedelta(minutes=50), 60.0)  # arrives late
    samples_roll_up(full_resolution_for=DAY, keep_rollups_for=YEAR)
    rollup.refresh_from_db()
    assert (rollup.count, rollup.maximum, rollup.mean) == (4, 60.0, 30.0)


def test_rollups_older_than_a_year_are_dropped(host):
    HealthRollup.objects.create(
        host=host,
        metric="path_up",
        subject="sdb",
        hour=timezone.now() - timedelta(days=400),
        count=1,
        minimum=1,
        maximum=1,
        mean=1,
    )
    samples_roll_up(full_resolution_for=DAY, keep_rollups_for=YEAR)
    assert not HealthRollup.objects.exists()


def test_a_series_joins_rollups_and_recent_samples_into_buckets(host):
    now = timezone.now().replace(second=0, microsecond=0)
    old_hour = (now - timedelta(hours=30)).replace(minute=0)
    record(host, old_hour + timedelta(minutes=5), 4.0)
    record(host, old_hour + timedelta(minutes=6), 8.0)
    samples_roll_up(full_resolution_for=DAY, keep_rollups_for=YEAR)
    record(host, now - timedelta(minutes=10), 1.0)
    record(host, now - timedelta(minutes=9), 3.0)
    record(host, now - timedelta(minutes=9), 50.0, subject="sdc")  # another series
    points = health_series(
        host_id=host.pk,
        metric="path_up",
        subject="sdb",
        since=now - timedelta(hours=48),
        until=now,
        points=48,
    )
    assert [(p.minimum, p.maximum, p.mean) for p in points] == [(4.0, 8.0, 6.0), (1.0, 3.0, 2.0)]
    assert points[0].time < points[1].time
