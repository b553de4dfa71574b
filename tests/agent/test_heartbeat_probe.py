"""The heartbeat probe reads the kernel's own layout; here a root laid out as the kernel
lays out configfs and debugfs for a cluster with two global heartbeat regions."""

import json
import subprocess
import sys
from pathlib import Path

from agent.heartbeat import probe_heartbeat
from agent.hostroot import HostRoot
from agent.sandbox.host import sandbox_root

REGION_A, REGION_B = "6A2B0E1C9D3F4A5B8C7D6E5F4A3B2C1D", "0FCE19F3A2E14C0B8D21A7E5B4C3D2E1"


def kernel_tree(tmp_path: Path, dead_threshold: str | None = "31") -> HostRoot:
    root = tmp_path / "xs1"
    cluster = root / "sys/kernel/config/cluster/pool"
    for region, dev, elapsed in [(REGION_A, "dm-3", "1200"), (REGION_B, "dm-7", "45000")]:
        (cluster / "heartbeat" / region).mkdir(parents=True)
        (cluster / "heartbeat" / region / "dev").write_text(dev + "\n")
        debug = root / "sys/kernel/debug/o2hb" / region
        debug.mkdir(parents=True)
        (debug / "elapsed_time_in_ms").write_text(elapsed + "\n")
    (cluster / "heartbeat/mode").write_text("global\n")
    if dead_threshold:
        (cluster / "heartbeat/dead_threshold").write_text(dead_threshold + "\n")
    for key, value in [
        ("idle_timeout_ms", "30000"),
        ("keepalive_delay_ms", "2000"),
        ("reconnect_delay_ms", "2000"),
        ("fence_method", "reset"),
    ]:
        (cluster / key).write_text(value + "\n")
    return sandbox_root(root)


def test_lag_is_set_against_the_fence_deadline(tmp_path):
    result = probe_heartbeat(kernel_tree(tmp_path))
    [cluster] = result["clusters"]
    assert cluster["dead_threshold"] == 31 and cluster["dead_ms"] == 60000
    assert cluster["dead_threshold_source"] == "running cluster"
    assert [(r["device"], r["elapsed_ms"], r["fraction_of_dead"]) for r in cluster["regions"]] == [
        ("dm-7", 45000, 0.75),
        ("dm-3", 1200, 0.02),
    ]
    assert cluster["fence_method"] == "reset" and cluster["idle_timeout_ms"] == 30000
    assert result["summary"] == {
        "clusters": 1,
        "regions": 2,
        "worst_elapsed_ms": 45000,
        "dead_ms": 60000,
        "headroom_ms": 15000,
    }


def test_threshold_falls_back_to_the_default_file_then_the_kernel_default(tmp_path):
    root = kernel_tree(tmp_path, dead_threshold=None)
    assert probe_heartbeat(root)["clusters"][0]["dead_ms"] == 60000
    root.path("etc/default").mkdir(parents=True)
    root.path("etc/default/o2cb").write_text("O2CB_HEARTBEAT_THRESHOLD=61\n")
    cluster = probe_heartbeat(root)["clusters"][0]
    assert (cluster["dead_ms"], cluster["dead_threshold_source"]) == (120000, "/etc/default/o2cb")


def test_a_host_without_o2cb_running_reports_nothing_to_watch(tmp_path):
    root = sandbox_root(tmp_path / "empty")
    assert probe_heartbeat(root)["summary"]["regions"] == 0


def test_cli_prints_the_probe_as_json(tmp_path):
    root = kernel_tree(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "agent", "--root", str(root.root), "probe", "heartbeat"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    ).stdout
    assert json.loads(out)["summary"]["headroom_ms"] == 15000
