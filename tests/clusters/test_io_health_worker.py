"""I/O-path health end to end: Celery beat schedules the rounds, a real worker collects
from the real agent serving sandbox hosts, and an injected fault is alerted and cleared."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.utils import timezone

from clusters.models import HostIOHealth
from clusters.services.hosts import host_accept, host_record_report
from core.models import Alert
from tests.conftest import ROOT, start_agent, stop_process, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

INTERVAL = 2.0


@pytest.fixture
def beat(tmp_path):
    """Real celery beat sending the health rounds to this test's console queue."""
    env = dict(
        os.environ,
        REDIS_URL=settings.REDIS_URL,
        CONSOLE_QUEUE=settings.CONSOLE_QUEUE,
        IO_HEALTH_INTERVAL=str(INTERVAL),
    )
    log = open(tmp_path / "beat.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "beat",
            "-s",
            str(tmp_path / "beat-schedule"),
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    stop_process(proc)


def fault(root, *args):
    subprocess.run(
        [sys.executable, "-m", "agent", "--root", str(root.root), "sandbox-fault", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def open_alert(name, host):
    return Alert.objects.filter(name=name, target_id=str(host.pk), cleared__isnull=True).first()


def rounds_until(condition, host, since, limit=2, timeout=60):
    """Collection rounds of `host` finished after `since` until `condition()` held."""
    seen = set()

    def check():
        health = HostIOHealth.objects.filter(host=host).first()
        if health and health.checked > since:
            seen.add(health.checked)
        return condition() or len(seen) > limit + 1

    wait_for(check, timeout, message="no collection rounds: is beat running?")
    return len(seen), condition()


def test_path_failure_is_alerted_within_two_rounds_and_cleared_after_restore(
    sandbox_dir, console_worker, beat, settings
):
    from agent.host import hello
    from agent.sandbox.host import create_sandbox_host
    from agent.sandbox.io import create_sandbox_san, sandbox_luns

    settings.AGENT_CALL_TIMEOUT = 10
    create_sandbox_san(sandbox_dir, count=2)
    roots = [create_sandbox_host(sandbox_dir, f"io-{i}", address=f"127.0.1.{i}") for i in (1, 2)]
    agent = start_agent(sandbox_dir)
    try:
        hosts = []
        for root in roots:
            host = host_record_report(report=hello(root))
            hosts.append(host_accept(host=host, actor=None))
        host = hosts[0]
        wait_for(
            lambda: HostIOHealth.objects.filter(host=host, state="ok").exists(),
            60,
            message="the host never became healthy",
        )
        victim = sandbox_luns(roots[0])[1]["paths"][1]["device"]

        fault(roots[0], "path-fail", victim)
        injected = timezone.now()
        rounds, alerted = rounds_until(
            lambda: open_alert("MULTIPATH_PERIODIC_ALERT", host), host, injected
        )
        assert alerted, f"no multipath alert after {rounds} rounds"
        assert rounds <= 2
        alert = open_alert("MULTIPATH_PERIODIC_ALERT", host)
        assert victim in alert.message and "1 of 2 paths down" in alert.message
        assert "What to do" in alert.message
        health = HostIOHealth.objects.get(host=host)
        assert health.state == "degraded"
        assert not open_alert("MULTIPATH_PERIODIC_ALERT", hosts[1]), "only the broken host"

        fault(roots[0], "path-restore", victim)
        restored = timezone.now()
        rounds, cleared = rounds_until(
            lambda: not open_alert("MULTIPATH_PERIODIC_ALERT", host), host, restored
        )
        assert cleared and rounds <= 2
        alert.refresh_from_db()
        assert alert.cleared is not None
        assert HostIOHealth.objects.get(host=host).state == "ok"
    finally:
        stop_process(agent)
