"""A real host's kernel and hardware behind the seam (see agent/kernel.py).

O2CB through the real `o2cb` tool and systemctl, the SAN's LUNs as multipathd's maps
(`/dev/mapper/<name>`), mounts with mount(8). The agent never reboots a real host.
"""

import os
import re
import socket
import subprocess
from pathlib import Path
from typing import List, Optional, Tuple

from .errors import AgentError
from .hostroot import HostRoot
from .io_probe import MULTIPATH_CONF, multipath_report
from .kernel import CONF_FILE, Kernel, find_tool, read_defaults, run_o2cb
from .probes.multipath import path_ok

O2NET_CONNECTED = "sys/kernel/debug/o2net/connected_nodes"
INIT_SCRIPT = "/etc/init.d/o2cb"
REBOOT_COMMAND_ENV = "AGENT_REBOOT_COMMAND"
OVS_APPCTL_TIMEOUT_S = 5


def real_root(path: Path = Path("/")) -> HostRoot:
    """The host this agent runs on (or a copy of its files under `path`)."""
    return HostRoot(Path(path), RealKernel)


def _run(tool: str, *args: str) -> Optional[str]:
    """A tool's output, or None when it is missing or fails (multipathd lives in sbin)."""
    try:
        command = [find_tool(tool), *args]
    except AgentError:
        return None
    result = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=30
    )
    return result.stdout if result.returncode == 0 else None


def _ovs_appctl(*args: str) -> Optional[str]:
    """ovs-vswitchd's answer, or None when ovs-appctl is missing or the daemon does not
    answer within a few seconds (a hung vswitchd must not hold up the probe)."""
    try:
        command = [find_tool("ovs-appctl"), f"--timeout={OVS_APPCTL_TIMEOUT_S}", *args]
    except AgentError:
        return None
    try:
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=OVS_APPCTL_TIMEOUT_S + 2,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _primary_address() -> str:
    """The address this host uses to reach other hosts (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects a route
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class RealKernel(Kernel):
    def hostname(self) -> str:
        try:
            return self.root.path("etc/hostname").read_text().split()[0]
        except (FileNotFoundError, IndexError):
            return socket.gethostname()

    def addresses(self) -> List[str]:
        configured = os.environ.get("AGENT_ADDRESSES", "")
        if configured:
            return [a.strip() for a in configured.split(",") if a.strip()]
        return [_primary_address()]

    def sync_cluster(self, name: str) -> None:
        # Registers the cluster, or adds the nodes the running cluster lacks (online add).
        run_o2cb("register-cluster", name, config=self.root.path(CONF_FILE))

    def start_heartbeat(self, name: str) -> None:
        # Starts the global heartbeat regions cluster.conf lists and the kernel lacks.
        run_o2cb("start-heartbeat", name, config=self.root.path(CONF_FILE))

    def unregister(self, name: str) -> None:
        run_o2cb("unregister-cluster", name, config=self.root.path(CONF_FILE))

    def _systemd_runs(self) -> bool:
        return self.root.path("run/systemd/system").is_dir()

    def service(self, action: str) -> None:
        # Debian ships o2cb as a SysV script that systemd wraps; a host booted without
        # systemd (the lab's guests) runs the script itself, as sysvinit would.
        if self._systemd_runs():
            command = ["systemctl", action, "o2cb"]
        else:
            command = [INIT_SCRIPT, action]
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=120,
        )
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip().splitlines()
            raise AgentError(f"{' '.join(command)} failed: {said[-1] if said else 'no message'}")

    def service_state(self) -> dict:
        if not self._systemd_runs():
            defaults = read_defaults(self.root)
            boot_cluster = defaults.get("O2CB_BOOTCLUSTER", "")
            return {
                "enabled": defaults.get("O2CB_ENABLED") == "true",
                "active": bool(boot_cluster) and self.is_registered(boot_cluster),
            }

        def check(what):
            result = subprocess.run(
                ["systemctl", what, "--quiet", "o2cb"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            return result.returncode == 0

        return {"enabled": check("is-enabled"), "active": check("is-active")}

    def reboot(self) -> None:
        # Only where the host's owner said how (the lab's guests do); the answer goes back
        # before the host goes down.
        command = os.environ.get(REBOOT_COMMAND_ENV, "").strip()
        if not command:
            raise AgentError(
                f"The agent never reboots a real host unless {REBOOT_COMMAND_ENV} says how."
            )
        subprocess.Popen(
            ["sh", "-c", f"sleep 1; {command}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def connected_nodes(self, cluster: str) -> Optional[List[int]]:
        try:
            text = self.root.path(O2NET_CONNECTED).read_text()
        except (FileNotFoundError, PermissionError):
            return None
        return sorted(int(n) for n in re.findall(r"\d+", text))

    def multipath_text(self) -> Tuple[Optional[str], Optional[str]]:
        topology = _run("multipathd", "show", "topology") or _run("multipath", "-ll")
        config = _run("multipathd", "show", "config")
        if config is None and self.root.path(MULTIPATH_CONF).exists():
            config = self.root.path(MULTIPATH_CONF).read_text(errors="replace")
        return topology, config

    def ovs_bond_text(self) -> Tuple[Optional[str], Optional[str]]:
        bonds = _ovs_appctl("bond/show")
        if bonds is None or not bonds.strip():
            return bonds, None
        # Only lacp/show tells a member whose link is down from one LACP left out.
        return bonds, _ovs_appctl("lacp/show")

    def san_luns(self) -> List[dict]:
        raw = []
        for map_ in multipath_report(*self.multipath_text())["maps"]:
            paths = [p for g in map_["path_groups"] for p in g["paths"]]
            raw.append(
                {
                    "scsi_id": map_.get("wwid") or map_["name"],
                    "size": map_.get("size_bytes"),
                    "vendor": map_.get("vendor") or "",
                    "model": map_.get("product") or "",
                    "device": f"/dev/mapper/{map_['name']}",
                    "dm": map_.get("dm"),
                    "paths": len(paths),
                    "paths_up": sum(map(path_ok, paths)),
                }
            )
        return raw

    def mount(self, lun: dict, target: Path, sr_uuid: str, cluster: str) -> bool:
        if subprocess.run(["mountpoint", "-q", str(target)], check=False).returncode == 0:
            return False
        target.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "ocfs2", lun["device"], str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AgentError(
                f"mount of {lun['scsi_id']} failed: {result.stderr.strip() or 'no reason'}"
            )
        return True

    def unmount(self, target: Path, sr_uuid: str) -> bool:
        if subprocess.run(["mountpoint", "-q", str(target)], check=False).returncode != 0:
            return False
        result = subprocess.run(
            ["umount", str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AgentError(f"umount of SR {sr_uuid} failed: {result.stderr.strip() or 'busy'}")
        return True
