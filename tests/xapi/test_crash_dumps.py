"""A pool host's crash dumps: it sends nothing unasked, so the console asks its plugin
(after a new boot the poll finds, or when XAPI shows a Host_crashdump)."""

from pathlib import Path

import pytest

from agent.crashdumps import CRASH_DIR
from clusters.agents import agent
from clusters.models import Host
from clusters.services.hosts import pool_hosts_hello
from crashes.models import HostCrashdump
from crashes.tasks import collect_host_dumps
from tests.conftest import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "agent" / "fixtures" / "crash"
DUMP = "20260304-030323-UTC"


def plant_dump(root, name: str = DUMP) -> None:
    """A dump as XenServer leaves one in /var/crash: a directory with dom0's log."""
    dump = root.path(f"{CRASH_DIR}/{name}")
    dump.mkdir(parents=True)
    (dump / "dom0.log").write_text((FIXTURES / "o2cb_network_quorum_new.log").read_text())


def root_of(sandbox_dir, hostname):
    from agent.sandbox.kernel import sandbox_root

    return sandbox_root(sandbox_dir / hostname)


@pytest.mark.django_db
def test_the_dumps_a_host_has_not_reported_are_fetched_and_recorded_once(xapi_pool, sandbox_dir):
    host = xapi_pool.add_host(sandbox_dir, "xs-1", "127.0.5.1")
    plant_dump(root_of(sandbox_dir, "xs-1"))

    collect_host_dumps(host.pk)
    crash = HostCrashdump.objects.get(host=host)
    assert (crash.name, crash.cause, crash.source) == (DUMP, "o2cb", "agent")
    assert crash.stored_logs, "the logs the analysis read came along"
    collect_host_dumps(host.pk)
    assert HostCrashdump.objects.count() == 1, "the host forgot it once it was recorded"
    assert agent(host).crash_dumps([]) == [], "and does not send it again"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_crashed_pool_host_is_found_by_the_poll_with_its_dump(
    xapi_pool, sandbox_dir, console_worker, settings
):
    settings.CRASH_REBOOT_GRACE = 1
    host = xapi_pool.add_host(sandbox_dir, "xs-1", "127.0.5.1")
    pool_hosts_hello(timeout=30)
    booted = Host.objects.get(pk=host.pk).boot_time
    plant_dump(root_of(sandbox_dir, "xs-1"))
    agent(host).sandbox_reboot()  # fenced: back with a new boot and a dump

    pool_hosts_hello(timeout=30)
    assert Host.objects.get(pk=host.pk).boot_time > booted, "the poll saw the new boot"
    crash = wait_for(lambda: HostCrashdump.objects.filter(host=host).first(), 30)
    assert crash.cause == "o2cb" and crash.name == DUMP
