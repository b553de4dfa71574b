"""A fence that leaves no dump (fence method reset) is still explained, from the peers;
a restart after it that the console asked for, or that comes after the survivors' lines
of it, is not a second fence."""

import pytest

from agent.kernel import CONFIGFS
from clusters.agents import agent
from clusters.iohealth.services import io_health_collect
from clusters.models import Host, Membership
from core.models import Alert, AuditEvent
from crashes.models import HostCrashdump
from maintenance.services import maintenance_enter, maintenance_exit, rolling_restart
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import wait_for
from tests.fencing import fence
from tests.pools import wait_until_monitor_sees_running

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def fenced_by_reset(root, host):
    """Stall the host's heartbeat with fence method reset, and wait for the crash record."""
    root.path(f"{CONFIGFS}/pool/fence_method").write_text("reset\n")
    io_health_collect(timeout=10)  # the console learns the fence method
    fence(root)
    io_health_collect(timeout=10)
    return wait_for(
        lambda: HostCrashdump.objects.filter(host=host).first(),
        60,
        message="the restart was never explained",
    )


def checked(host, verdicts_before: int, crashes_before: int) -> None:
    """Wait until the console has judged the host's latest restart: a crash, or its
    verdict in the audit log."""

    def judged():
        verdicts = AuditEvent.objects.filter(action="crash.restart_check", target_id=str(host.pk))
        return (
            verdicts.count() > verdicts_before
            or HostCrashdump.objects.filter(host=host).count() > crashes_before
        )

    wait_for(judged, 60, message=f"{host}'s restart was never checked")


def verdict_count(host) -> int:
    return AuditEvent.objects.filter(action="crash.restart_check", target_id=str(host.pk)).count()


def test_a_reset_fence_is_explained_from_what_the_peers_logged(heartbeating_pool, settings):
    settings.CRASH_REBOOT_GRACE = 1
    _cluster, (victim, survivor) = heartbeating_pool
    crash = fenced_by_reset(victim, Host.objects.get(hostname=victim.hostname))
    assert crash.source == "peers" and crash.cause == "o2cb"
    assert "O2CB fences by reset on this host" in crash.explanation
    assert any(e["file"].startswith(f"{survivor.hostname}:") for e in crash.evidence)
    assert any("No longer connected to node" in e["text"] for e in crash.evidence)
    assert any("o2dlm has evicted node" in e["text"] for e in crash.evidence)
    from crashes.services import recommendations

    assert any("fence method to panic" in action for action in recommendations(crash))


def test_a_reboot_soon_after_a_fence_is_not_explained_by_the_fences_lines(
    heartbeating_pool, settings
):
    """The admin restarts the host again from its own shell a minute later: the survivors'
    lines still hold the fence, and they told its story already."""
    settings.CRASH_REBOOT_GRACE = 1
    _cluster, (victim, _survivor) = heartbeating_pool
    host = Host.objects.get(hostname=victim.hostname)
    fenced_by_reset(victim, host)
    verdicts = verdict_count(host)
    agent(host).sandbox_reboot()
    checked(host, verdicts, 1)
    assert HostCrashdump.objects.filter(host=host).count() == 1, "a second, false fence"
    assert Alert.objects.filter(name="HOST_FENCED_BY_O2CB").count() == 1


def test_a_planned_reboot_after_a_fence_is_never_a_crash(maintenance_pool, operator_user, settings):
    """Issue 15: a rolling restart, or maintenance with a reboot, after a reset fence each
    recorded a new "Fenced by O2CB" crash about 45 s after the reboot."""
    settings.CRASH_REBOOT_GRACE = 1
    hosts, roots = maintenance_pool
    victim = hosts[0]
    fenced_by_reset(roots[victim.hostname], victim)
    cluster = Membership.objects.get(host=victim, left__isnull=True).cluster
    wait_until_monitor_sees_running(cluster, 3)

    before = {host.pk: verdict_count(host) for host in hosts}
    restart = finished(rolling_restart(cluster=cluster, actor=operator_user), timeout=180)
    assert restart.status == "succeeded", restart.error
    checked(victim, before[victim.pk], 1)
    assert HostCrashdump.objects.count() == 1, "a planned reboot recorded as a fence"
    for host in hosts[1:]:
        checked(host, before[host.pk], 0)
    assert HostCrashdump.objects.count() == 1, "a planned reboot recorded as a fence"
    assert Alert.objects.filter(name="HOST_FENCED_BY_O2CB").count() == 1
    last = AuditEvent.objects.filter(action="crash.restart_check", target_id=str(victim.pk))
    assert "a planned reboot" in last.latest("id").message

    wait_until_monitor_sees_running(cluster, 3)
    entered = finished(maintenance_enter(host=victim, actor=operator_user))
    assert entered.status == "succeeded", entered.error
    before = verdict_count(victim)
    booted = Host.objects.get(pk=victim.pk).boot_time
    agent(victim).sandbox_reboot()  # the admin reboots it, as maintenance asks
    wait_for(lambda: Host.objects.get(pk=victim.pk).boot_time > booted, 30)
    checked(victim, before, 1)
    left = finished(maintenance_exit(host=Host.objects.get(pk=victim.pk), actor=operator_user))
    assert left.status == "succeeded", left.error
    assert HostCrashdump.objects.count() == 1, "the announced reboot recorded as a fence"
    assert "a planned reboot" in last.latest("id").message
