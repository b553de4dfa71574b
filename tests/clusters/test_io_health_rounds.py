"""A round fanned out in shards: every accepted host judged once by the rounds workers, and
a shard still running when the next round comes is not run twice at once."""

import threading
import time

import pytest
from celery import current_app
from django.db import connection

from clusters.iohealth.rounds import io_health_collect_shard, io_health_shards
from clusters.models import HealthSample, HostIOHealth
from clusters.services.hosts import host_accept, host_record_report
from core.models import Alert
from tests.conftest import start_agent, stop_process, wait_for

from .factories import HostFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_a_round_in_shards_judges_every_accepted_host_once(sandbox_dir, console_worker, settings):
    from agent.host import hello
    from agent.sandbox.host import create_sandbox_host
    from agent.sandbox.io import create_sandbox_san

    settings.IO_HEALTH_SHARD_HOSTS = 2
    create_sandbox_san(sandbox_dir, count=2)
    roots = [
        create_sandbox_host(sandbox_dir, f"shard-{i}", address=f"127.0.7.{i}") for i in range(1, 6)
    ]
    hosts = [host_accept(host=host_record_report(report=hello(root)), actor=None) for root in roots]
    waiting = HostFactory(registration="pending", hostname="not-accepted")
    shards = io_health_shards(hosts_per_shard=settings.IO_HEALTH_SHARD_HOSTS)
    assert [len(shard.host_ids) for shard in shards] == [2, 2, 1]
    assert sorted(pk for shard in shards for pk in shard.host_ids) == sorted(h.pk for h in hosts)

    agent = start_agent(sandbox_dir)
    try:
        current_app.send_task("clusters.collect_io_health", queue=settings.ROUNDS_QUEUE)
        wait_for(
            lambda: HostIOHealth.objects.filter(state="ok").count() == len(hosts),
            60,
            message="the shards did not judge every host",
        )
    finally:
        stop_process(agent)
    assert not HostIOHealth.objects.filter(host=waiting).exists()
    for host in hosts:
        times = HealthSample.objects.filter(host=host).values("time").distinct().count()
        assert times == 1, f"{host} was collected {times} times in one round"


def test_a_shard_still_running_is_not_started_again_by_the_next_round(redis_url, settings):
    settings.IO_HEALTH_INTERVAL = 2.0
    silent = HostFactory(hostname="no-agent")  # its probe waits the whole round for nothing
    first = {}

    def previous_round():
        try:
            first["states"] = io_health_collect_shard(
                shard="0:0", host_ids=[silent.pk], deadline=time.time() + 3
            )
        finally:
            connection.close()

    running = threading.Thread(target=previous_round)
    running.start()
    time.sleep(1)
    skipped = io_health_collect_shard(shard="0:0", host_ids=[silent.pk], deadline=time.time() + 3)
    running.join(timeout=30)

    assert skipped is None, "the same shard ran twice at once"
    assert first["states"] == {silent: "critical"}  # the previous round still recorded it
    health = HostIOHealth.objects.get(host=silent)
    assert "did not answer" in health.problems[0]["message"]
    # Once it is done, the shard runs again; a round whose time is over is not run at all.
    assert (
        io_health_collect_shard(shard="0:0", host_ids=[silent.pk], deadline=time.time() - 1) is None
    )
    again = io_health_collect_shard(shard="0:0", host_ids=[silent.pk], deadline=time.time() + 0.5)
    assert again == {silent: "critical"}


def test_judging_a_shard_takes_as_many_queries_for_ten_hosts_as_for_two():
    from django.test.utils import CaptureQueriesContext

    from clusters.iohealth.services import ProbeResult, io_health_record_many

    from .test_io_health import probe

    def record(hosts, **faults):
        with CaptureQueriesContext(connection) as queries:
            healths = io_health_record_many([ProbeResult(h, probe(**faults)) for h in hosts])
        return len(queries), healths

    few, many = HostFactory.create_batch(2), HostFactory.create_batch(10)
    for hosts in (few, many):
        record(hosts)  # first verdicts
    late = {"lag_ms": 9000}  # heartbeat late: an alert opens on every host
    for hosts in (few, many):
        record(hosts, **late)  # each opened alert is routed to notifications, one by one
    assert record(few, **late)[0] == record(many, **late)[0]  # open alerts kept in step
    _, healths = record(many)  # and clears on every host
    assert {h.state for h in healths.values()} == {"ok"}
    assert not Alert.objects.filter(target_id__in=[str(h.pk) for h in many], cleared=None)
