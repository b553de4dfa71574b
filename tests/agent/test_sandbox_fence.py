"""A sandbox host whose heartbeat stalls past the dead time fences as O2CB would."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from agent.crash.rules import wall_time
from agent.crashdumps import mark_reported, new_dumps, peer_log_lines
from agent.io_probe import probe_io
from agent.kernel import CONFIGFS
from agent.o2cb import O2CBPlugin
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import STATE_FILE, create_sandbox_san, inject_fault
from tests.agent.test_sandbox_io import format_lun


@pytest.fixture
def pair(tmp_path):
    """Two sandbox hosts in a started cluster heartbeating on one formatted LUN."""
    create_sandbox_san(tmp_path, count=1, size=1 << 30)
    roots = [create_sandbox_host(tmp_path, f"fx-{i}", address=f"127.0.1.{i}") for i in (1, 2)]
    region = None
    for root in roots:
        plugin = O2CBPlugin(root, "pool")
        for number, peer in enumerate(roots):
            plugin.membership_create(peer.hostname, peer.uuid, number, [f"127.0.1.{number + 1}"])
        plugin.cluster_start(None)
        region = region or format_lun(root)
        plugin.heartbeat_region_add(region)
    return roots, region


def backdate(root, change):
    path = root.path(STATE_FILE)
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


def set_dead_threshold(root, threshold: int):
    root.path(f"{CONFIGFS}/pool/heartbeat/dead_threshold").write_text(f"{threshold}\n")


def test_a_stalled_heartbeat_fences_with_a_dump_and_the_peer_logs_it(pair):
    (victim, survivor), region = pair
    booted = victim.boot_time
    set_dead_threshold(victim, 2)  # fence after 2 s instead of 60
    inject_fault(victim, "heartbeat-stall")
    # Backdate the stall rather than sleep: the next probe finds it past the dead time.
    backdate(victim, lambda state: state.update(heartbeat_since=state["heartbeat_since"] - 5))

    probe_io(victim)

    assert victim.boot_time > booted, "the host restarted"
    (dump,) = new_dumps(victim)
    assert sorted(p.name for p in dump.iterdir()) == [
        "dom0.log",
        "xen-crashdump-analyser.log",
        "xen-memory-dump",
        "xen.log",
    ]
    dom0 = (dump / "dom0.log").read_text()
    assert "Heartbeat write timeout to device dm-0 after" in dom0
    assert "ocfs2 is very sorry to be fencing this system by panicing" in dom0
    assert "Hardware Dom0 crashed" in (dump / "xen.log").read_text()
    mark_reported(victim, dump.name)
    assert new_dumps(victim) == []

    now = datetime.now(UTC)
    lines = peer_log_lines(survivor, now - timedelta(minutes=5), now + timedelta(minutes=1))
    texts = [line["text"] for line in lines]
    assert any("No longer connected to node fx-1 (num 0)" in t for t in texts)
    assert any(f"Begin recovery on domain {region} for node 0" in t for t in texts)
    assert any("Begin replay journal (node 0" in t for t in texts)
    assert all(line["file"] == "var/log/kern.log" for line in lines)
    assert peer_log_lines(survivor, now - timedelta(hours=3), now - timedelta(hours=2)) == []


def test_with_fence_method_reset_no_dump_is_left(pair):
    (victim, survivor), _region = pair
    victim.path(f"{CONFIGFS}/pool/fence_method").write_text("reset\n")
    set_dead_threshold(victim, 2)
    inject_fault(victim, "path-fail", "sdb")
    inject_fault(victim, "path-fail", "sdc")  # the heartbeat LUN's last path
    backdate(
        victim,
        lambda state: state.update(
            lun_down_since={k: v - 5 for k, v in state["lun_down_since"].items()}
        ),
    )
    booted = victim.boot_time
    probe_io(victim)
    assert victim.boot_time > booted
    assert new_dumps(victim) == []
    assert survivor.path("var/log/kern.log").exists()


def test_a_kernel_message_logged_to_several_files_is_read_once(tmp_path):
    """rsyslog writes a kernel message to kern.log, syslog and messages alike."""
    from agent.hostroot import HostRoot
    from agent.sandbox.kernel import SandboxKernel

    root = HostRoot(tmp_path / "survivor", SandboxKernel)
    line = "Nov 25 06:10:00 xs-1 kernel: [ 99.0] o2cb: o2dlm has evicted node 1 from domain AB\n"
    other = "Nov 25 06:10:01 xs-1 kernel: [ 99.5] o2dlm: End recovery on domain AB\n"
    for relative, text in (("kern.log", line + other), ("syslog", line), ("messages", line)):
        path = root.path(f"var/log/{relative}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    at = datetime(2026, 11, 25, 6, 10, tzinfo=UTC)
    lines = peer_log_lines(root, at - timedelta(minutes=1), at + timedelta(minutes=1))
    assert [(item["file"], item["line"]) for item in lines] == [
        ("var/log/kern.log", 1),
        ("var/log/kern.log", 2),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Nov 25 06:10:00 h kernel: o2net: x", datetime(2026, 11, 25, 6, 10, tzinfo=UTC)),
        ("Nov  5 06:10:00 h kernel: o2net: x", datetime(2026, 11, 5, 6, 10, tzinfo=UTC)),
        (
            "2026-11-25T06:10:00.123+00:00 h kernel: x",
            datetime(2026, 11, 25, 6, 10, 0, 123000, tzinfo=UTC),
        ),
        ("[ 12.3] no wall clock", None),
    ],
)
def test_log_line_times(line, expected):
    assert wall_time(line, 2026) == expected


@pytest.fixture
def trio(tmp_path):
    """Three sandbox hosts in a started cluster heartbeating on three LUNs."""
    create_sandbox_san(tmp_path, count=3, size=1 << 30)
    roots = [create_sandbox_host(tmp_path, f"fx-{i}", address=f"127.0.1.{i}") for i in (1, 2, 3)]
    for root in roots:
        plugin = O2CBPlugin(root, "pool")
        for number, peer in enumerate(roots):
            plugin.membership_create(peer.hostname, peer.uuid, number, [f"127.0.1.{number + 1}"])
        plugin.cluster_start(None)
    regions = [format_lun(roots[0], index) for index in range(3)]
    for root in roots:
        for region in regions:
            O2CBPlugin(root, "pool").heartbeat_region_add(region)
        set_dead_threshold(root, 2)  # a dead time of 2 s
    return roots, regions


def lose_lun(root, *paths):
    for path in paths:
        inject_fault(root, "path-fail", path)
    backdate(
        root,
        lambda state: state.update(
            lun_down_since={k: v - 5 for k, v in state["lun_down_since"].items()}
        ),
    )


def kernel_log(root) -> str:
    path = root.path("var/log/kern.log")
    return path.read_text() if path.exists() else ""


def test_one_of_three_regions_hanging_times_out_but_fences_nobody(trio):
    (victim, *_others), regions = trio
    booted = victim.boot_time
    lose_lun(victim, "sdb", "sdc")  # every path of the first region's LUN

    probe_io(victim)

    assert victim.boot_time == booted, "two of three quorum regions still beat"
    assert "Heartbeat write timeout to device dm-0 after" in kernel_log(victim)
    assert new_dumps(victim) == []
    lag = {
        r["region"]: r["elapsed_ms"]
        for r in probe_io(victim)["heartbeat"]["clusters"][0]["regions"]
    }
    assert lag[regions[0]] >= 5000 and lag[regions[1]] < 2000


def test_two_of_three_regions_hanging_fence(trio):
    (victim, *_others), _regions = trio
    booted = victim.boot_time
    lose_lun(victim, "sdb", "sdc", "sdd", "sde")

    probe_io(victim)

    assert victim.boot_time > booted, "failed quorum regions are half or more"


def test_a_stall_is_negotiated_with_the_lowest_node_and_one_survivor_replays(trio):
    lowest, victim, other = trio[0]
    inject_fault(victim, "heartbeat-stall")
    backdate(victim, lambda state: state.update(heartbeat_since=state["heartbeat_since"] - 5))
    booted = victim.boot_time

    probe_io(victim)

    assert victim.boot_time > booted
    told = "o2hb: receive negotiate timeout message from node 1 on region"
    assert told in kernel_log(lowest) and told not in kernel_log(other)
    for survivor in (lowest, other):
        log = kernel_log(survivor)
        assert "No longer connected to node fx-2 (num 1)" in log
        assert "o2dlm has evicted node 1 from domain" in log
        assert "has been idle" not in log, "o2net drops the node on the heartbeat's word"
    assert "Node 0 (me) is the Recovery Master for the dead node 1" in kernel_log(lowest)
    assert "Node 0 (he) is the Recovery Master for the dead node 1" in kernel_log(other)
    assert "Begin replay journal (node 1" in kernel_log(lowest)
    assert "replay journal" not in kernel_log(other), "one node replays a dead node's journal"


def test_the_whole_array_hanging_restarts_the_timers_instead_of_fencing(trio):
    roots, _regions = trio
    booted = [root.boot_time for root in roots]
    for root in roots:
        inject_fault(root, "heartbeat-stall")
        backdate(root, lambda state: state.update(heartbeat_since=state["heartbeat_since"] - 5))

    for root in roots:
        probe_io(root)

    assert [root.boot_time for root in roots] == booted, "nobody fences"
    assert "all nodes hb write hung, maybe region" in kernel_log(roots[0])
    for root in roots:  # the array answers again: everyone beats on
        inject_fault(root, "heartbeat-normal")
    assert all(probe_io(r)["heartbeat"]["summary"]["worst_elapsed_ms"] < 2000 for r in roots)


def test_with_one_host_of_the_array_still_writing_the_stalled_ones_fence(trio):
    roots, _regions = trio
    for root in roots[1:]:
        inject_fault(root, "heartbeat-stall")
        backdate(root, lambda state: state.update(heartbeat_since=state["heartbeat_since"] - 5))
    booted = roots[1].boot_time
    probe_io(roots[1])
    assert roots[1].boot_time > booted
