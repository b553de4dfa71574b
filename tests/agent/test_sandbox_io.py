"""The sandbox's SAN, bond and heartbeat, read back through the real parsers."""

import json
import subprocess
import sys
import time

import pytest

from agent import storage
from agent.errors import AgentError
from agent.fsutil import read_json
from agent.hostroot import HostRoot
from agent.io_probe import probe_io
from agent.o2cb import O2CBPlugin
from agent.realkernel import RealKernel
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san, inject_fault, sandbox_luns
from tests.conftest import ROOT


@pytest.fixture
def host(tmp_path):
    create_sandbox_san(tmp_path, count=2, size=1 << 30)
    return create_sandbox_host(tmp_path, "sb-1", address="127.0.1.1")


def paths_by_device(result):
    return {
        p["device"]: p
        for m in result["multipath"]["maps"]
        for g in m["path_groups"]
        for p in g["paths"]
    }


def test_every_host_sees_every_lun_over_two_paths(tmp_path, host):
    other = create_sandbox_host(tmp_path, "sb-2")
    assert [lun["wwid"] for lun in sandbox_luns(host)] == [
        lun["wwid"] for lun in sandbox_luns(other)
    ]
    result = probe_io(host)
    assert len(result["multipath"]["maps"]) == 2
    paths = paths_by_device(result)
    assert sorted(paths) == ["sdb", "sdc", "sdd", "sde"]
    assert {p["dm_state"] for p in paths.values()} == {"active"}
    # Sparse: a 1 GiB LUN takes no space until written.
    image = next(tmp_path.glob(".shared/san/*.img"))
    assert image.stat().st_size == 1 << 30 and image.stat().st_blocks == 0
    assert create_sandbox_san(tmp_path, count=2) == read_json(
        tmp_path / ".shared/san/luns.json", []
    )


def test_a_hidden_lun_is_not_seen(host):
    hidden = sandbox_luns(host)[0]["wwid"]
    host.path("etc/sandbox").mkdir(parents=True, exist_ok=True)
    host.path("etc/sandbox/hidden-luns").write_text(hidden + "\n")
    assert hidden not in [lun["wwid"] for lun in sandbox_luns(host)]


def test_path_and_slave_faults_show_as_a_real_host_shows_them(host):
    inject_fault(host, "path-fail", "sdc")
    inject_fault(host, "slave-down", "eth1")
    result = probe_io(host)
    sdc = paths_by_device(result)["sdc"]
    assert (sdc["dm_state"], sdc["checker_state"]) == ("failed", "faulty")
    (bond,) = result["bonds"]
    assert bond["summary"] == {"mode": "active-backup", "slaves": 2, "up": 1}
    eth1 = next(s for s in bond["slaves"] if s["name"] == "eth1")
    assert eth1["mii_status"] == "down" and eth1["link_failure_count"] == 1
    inject_fault(host, "restore")
    result = probe_io(host)
    assert paths_by_device(result)["sdc"]["dm_state"] == "active"
    assert result["bonds"][0]["summary"]["up"] == 2
    assert result["bonds"][0]["slaves"][1]["link_failure_count"] == 1, "the count is history"


def test_queueing_comes_from_the_sandbox_multipath_conf(host):
    queueing = probe_io(host)["multipath"]["queueing"]
    assert {q["queue_seconds"] for q in queueing} == {30}


def test_bad_fault_targets_are_refused_with_the_valid_ones(host):
    with pytest.raises(AgentError, match="its paths are sdb, sdc, sdd, sde"):
        inject_fault(host, "path-fail", "sdz")
    with pytest.raises(AgentError, match="eth0, eth1"):
        inject_fault(host, "slave-down", "eth7")
    with pytest.raises(AgentError, match="Unknown fault"):
        inject_fault(host, "unplug-everything")
    real = HostRoot(root=host.root, kernel_class=RealKernel)
    with pytest.raises(AgentError, match="only be injected into sandbox hosts"):
        inject_fault(real, "restore")


def format_lun(host, index=0) -> str:
    """Real mkfs.ocfs2 on a sandbox LUN; returns its heartbeat region name."""
    lun = sandbox_luns(host)[index]
    return storage.format_lun(host, lun["wwid"], "pool", f"lun{index}", 4)["region"]


@pytest.fixture
def heartbeating(host):
    plugin = O2CBPlugin(host, "pool")
    plugin.membership_create("sb-1", host.uuid, 0, ["127.0.1.1"])
    plugin.cluster_start(None)
    region = format_lun(host)
    assert plugin.heartbeat_region_add(region)["changed"]
    assert not plugin.heartbeat_region_add(region)["changed"], "idempotent"
    return region


def test_heartbeat_region_runs_on_its_lun_and_stalls_on_demand(host, heartbeating):
    (cluster,) = probe_io(host)["heartbeat"]["clusters"]
    (region,) = cluster["regions"]
    assert region["region"] == heartbeating and region["device"] == "dm-0"
    assert region["elapsed_ms"] < 2000
    assert cluster["dead_ms"] == 60000 and cluster["fence_method"] == "panic"
    inject_fault(host, "heartbeat-slow")
    assert probe_io(host)["heartbeat"]["clusters"][0]["regions"][0]["elapsed_ms"] >= 9000
    inject_fault(host, "heartbeat-stall")
    time.sleep(0.3)
    first = probe_io(host)["heartbeat"]["summary"]["worst_elapsed_ms"]
    time.sleep(0.3)
    assert probe_io(host)["heartbeat"]["summary"]["worst_elapsed_ms"] > first >= 300


def test_losing_every_path_to_the_heartbeat_lun_stalls_its_heartbeat(host, heartbeating):
    inject_fault(host, "path-fail", "sdb")
    assert probe_io(host)["heartbeat"]["summary"]["worst_elapsed_ms"] < 2000, "one path left"
    inject_fault(host, "path-fail", "sdc")
    time.sleep(0.3)
    assert probe_io(host)["heartbeat"]["summary"]["worst_elapsed_ms"] >= 300
    inject_fault(host, "path-restore", "sdc")
    assert probe_io(host)["heartbeat"]["summary"]["worst_elapsed_ms"] < 2000


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_cli_injects_faults_and_probes_everything(host):
    done = cli("--root", str(host.root), "sandbox-fault", "path-fail", "sdd")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failed_paths"] == ["sdd"]
    refused = cli("--root", str(host.root), "sandbox-fault", "path-fail", "sdq")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: sb-1 has no path 'sdq'")
    assert "Traceback" not in refused.stderr
    probed = json.loads(cli("--root", str(host.root), "probe", "io").stdout)
    assert paths_by_device(probed)["sdd"]["dm_state"] == "failed"
    assert probed["bonds"][0]["summary"]["up"] == 2


def test_heartbeat_faults_need_a_running_region(host):
    with pytest.raises(AgentError, match="runs no global heartbeat region yet"):
        inject_fault(host, "heartbeat-stall")
    inject_fault(host, "heartbeat-normal")  # mending is always allowed
