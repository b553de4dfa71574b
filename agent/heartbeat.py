"""Disk heartbeat and cluster network settings, read as the kernel exposes them.

configfs: cluster/<name>/heartbeat/{mode,dead_threshold,<region>/{dev,...}} and
cluster/<name>/{idle_timeout_ms,keepalive_delay_ms,reconnect_delay_ms,fence_method};
debugfs: o2hb/<region>/elapsed_time_in_ms (time since the region's last heartbeat
write). A node whose writes stall for (dead_threshold - 1) * 2 s is fenced.
"""

from pathlib import Path
from typing import Optional

from .hostroot import HostRoot
from .kernel import CONFIGFS, KERNEL_DEFAULTS, defaults_file, read_defaults

DEBUGFS_O2HB = "sys/kernel/debug/o2hb"
# fs/ocfs2/cluster/heartbeat.h: one heartbeat round is O2HB_REGION_TIMEOUT_MS.
REGION_TIMEOUT_MS = 2000
CLUSTER_SETTINGS = ("idle_timeout_ms", "keepalive_delay_ms", "reconnect_delay_ms")
REGION_ATTRIBUTES = {"block_bytes", "start_block", "blocks", "dev", "pid"}


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def _int(text: Optional[str]) -> Optional[int]:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def dead_ms(threshold: int) -> int:
    return max(threshold - 1, 0) * REGION_TIMEOUT_MS


def probe_heartbeat(root: HostRoot) -> dict:
    """Every registered cluster's heartbeat regions, their lag, and the fence deadline."""
    defaults = read_defaults(root)
    base = root.path(CONFIGFS)
    clusters = []
    for cluster_dir in sorted(base.iterdir()) if base.is_dir() else []:
        heartbeat = cluster_dir / "heartbeat"
        live = _int(_read(heartbeat / "dead_threshold"))
        configured = _int(defaults.get("O2CB_HEARTBEAT_THRESHOLD"))
        threshold = live or configured or int(KERNEL_DEFAULTS["O2CB_HEARTBEAT_THRESHOLD"])
        settings_file = "/" + defaults_file(root)
        source = "running cluster" if live else (settings_file if configured else "default")
        deadline = dead_ms(threshold)
        regions = []
        for region_dir in sorted(heartbeat.iterdir()) if heartbeat.is_dir() else []:
            if not region_dir.is_dir():
                continue
            elapsed = _int(_read(root.path(DEBUGFS_O2HB) / region_dir.name / "elapsed_time_in_ms"))
            regions.append(
                {
                    "region": region_dir.name,
                    "device": _read(region_dir / "dev"),
                    "elapsed_ms": elapsed,
                    "fraction_of_dead": round(elapsed / deadline, 3)
                    if elapsed is not None
                    else None,
                }
            )
        settings = {key: _int(_read(cluster_dir / key)) for key in CLUSTER_SETTINGS}
        clusters.append(
            {
                "name": cluster_dir.name,
                "mode": _read(heartbeat / "mode"),
                "dead_threshold": threshold,
                "dead_threshold_source": source,
                "dead_ms": deadline,
                "configured_dead_threshold": configured,
                "fence_method": _read(cluster_dir / "fence_method"),
                **settings,
                "regions": regions,
            }
        )
    elapsed = [
        r["elapsed_ms"] for c in clusters for r in c["regions"] if r["elapsed_ms"] is not None
    ]
    deadlines = [c["dead_ms"] for c in clusters if c["regions"]]
    worst = max(elapsed, default=None)
    return {
        "clusters": clusters,
        "summary": {
            "clusters": len(clusters),
            "regions": sum(len(c["regions"]) for c in clusters),
            "worst_elapsed_ms": worst,
            "dead_ms": min(deadlines, default=None),
            "headroom_ms": min(deadlines) - worst if worst is not None and deadlines else None,
        },
    }
