"""The seam between the agent and a host's kernel and hardware.

Every module of the agent reaches the live O2CB state (configfs, o2hb's debugfs, the
o2cb service), the SAN's devices, multipathd and mounts through one `Kernel` object,
`root.kernel`, and through nothing else. `agent.realkernel.RealKernel` drives a real
host (`o2cb register-cluster`, systemctl, multipathd, mount); the sandbox's emulation,
`agent.sandbox.kernel.SandboxKernel`, imports the real modules and is never imported
by them. Which one a host gets is chosen where its HostRoot is built (agent/worker.py,
agent/cli.py, agent/plugin.py): everything else runs the same code path for both.
"""

import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from .errors import AgentError
from .fsutil import write_atomic
from .hostroot import HostRoot

CONFIGFS = "sys/kernel/config/cluster"
LIVENODES = "sys/kernel/debug/o2hb/livenodes"
DEFAULTS_FILE = "etc/default/o2cb"  # Debian's
SYSCONFIG_FILE = "etc/sysconfig/o2cb"  # Red Hat's, so XenServer's and XCP-ng's dom0
CONF_FILE = "etc/ocfs2/cluster.conf"
# The kernel's defaults when /etc/default/o2cb says nothing (fs/ocfs2/cluster/).
KERNEL_DEFAULTS = {
    "O2CB_HEARTBEAT_THRESHOLD": "31",
    "O2CB_IDLE_TIMEOUT_MS": "30000",
    "O2CB_KEEPALIVE_DELAY_MS": "2000",
    "O2CB_RECONNECT_DELAY_MS": "2000",
}


def find_tool(name: str) -> str:
    """A system tool's path; sbin directories count even when not on PATH."""
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if Path(f"{d}/{name}").exists()), None
    )
    if found is None:
        raise AgentError(f"{name} is missing: install Debian's ocfs2-tools and util-linux.")
    return found


def run_o2cb(*args: str, config: Optional[Path] = None) -> str:
    command = [find_tool("o2cb")]
    if config is not None:
        command.append(f"--config-file={config}")
    result = subprocess.run(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise AgentError(f"o2cb {args[0]} failed: {lines[-1] if lines else 'no message'}")
    return result.stdout


def defaults_file(root: HostRoot) -> str:
    """The o2cb settings file, chosen as ocfs2-tools' o2cb init script chooses it."""
    if root.path(SYSCONFIG_FILE).exists():
        return SYSCONFIG_FILE
    if root.path(DEFAULTS_FILE).exists():
        return DEFAULTS_FILE
    return SYSCONFIG_FILE if root.path("etc/sysconfig").is_dir() else DEFAULTS_FILE


def _shell_value(text: str) -> str:
    """A shell assignment's value: quoted, or one word (a `# comment` may follow)."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        return text[1:end] if end > 0 else text[1:]
    return text.split(None, 1)[0] if text else ""


def read_defaults(root: HostRoot) -> Dict[str, str]:
    """`/etc/sysconfig/o2cb` or `/etc/default/o2cb` as a dict (shell KEY=value lines)."""
    values = {}
    try:
        text = root.path(defaults_file(root)).read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = _shell_value(value)
    return values


def update_defaults(root: HostRoot, changes: Dict[str, str]) -> bool:
    """Set keys in the o2cb settings file, keeping every other line as it is."""
    path = root.path(defaults_file(root))
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    pending = dict(changes)
    out = []
    for line in lines:
        key = (
            line.split("=", 1)[0].strip()
            if "=" in line and not line.lstrip().startswith("#")
            else None
        )
        if key in pending:
            value = pending.pop(key)
            new = f"{key}={value}"
            out.append(new)
        else:
            out.append(line)
    out.extend(f"{key}={value}" for key, value in pending.items())
    text = "\n".join(out) + "\n"
    if lines and text == "\n".join(lines) + "\n":
        return False
    write_atomic(path, text)
    return True


class Kernel:
    """What a host's kernel and hardware offer the agent; subclasses say how.

    The configfs and debugfs readers are shared (a sandbox writes the kernel's own
    layout under its root); each subclass gives the rest.
    """

    # Answered in `hello`: the console shows a sandbox host as one.
    sandbox = False

    def __init__(self, root: HostRoot):
        self.root = root

    # Identity ------------------------------------------------------------------------------

    def hostname(self) -> str:
        raise NotImplementedError

    def addresses(self) -> List[str]:
        raise NotImplementedError

    def answer_delay(self) -> float:
        """Seconds to wait before each answer (the sandbox's slow host); none here."""
        return 0.0

    def powered_off(self) -> bool:
        """Whether the host is dark (the sandbox's powered-off host); a running agent's
        own host never is."""
        return False

    # O2CB: configfs, the heartbeat, the service -------------------------------------------

    def sync_cluster(self, name: str) -> None:
        """Register the cluster of cluster.conf, or add the nodes it lacks (online add)."""
        raise NotImplementedError

    def start_heartbeat(self, name: str) -> None:
        raise NotImplementedError

    def unregister(self, name: str) -> None:
        raise NotImplementedError

    def service(self, action: str) -> None:
        """enable, disable, start or stop the o2cb service."""
        raise NotImplementedError

    def service_state(self) -> dict:
        """{"enabled": bool, "active": bool} of the o2cb service."""
        raise NotImplementedError

    def reboot(self) -> None:
        raise NotImplementedError

    def connected_nodes(self, cluster: str) -> Optional[List[int]]:
        """O2CB peers this node has a live network connection to (None: unknown)."""
        raise NotImplementedError

    # I/O paths and storage ----------------------------------------------------------------

    def settle(self) -> None:
        """Bring what the probes read up to now; a real kernel always is."""

    def multipath_text(self) -> Tuple[Optional[str], Optional[str]]:
        """multipathd's topology and configuration text (None: multipath is missing)."""
        raise NotImplementedError

    def ovs_bond_text(self) -> Tuple[Optional[str], Optional[str]]:
        """Open vSwitch's `ovs-appctl bond/show` and `lacp/show` text (None: no Open vSwitch,
        or ovs-vswitchd does not answer)."""
        raise NotImplementedError

    def san_luns(self) -> List[dict]:
        """The SAN LUNs this host sees: scsi_id, size, vendor, model, device, dm, paths,
        paths_up (storage.list_luns adds what their signatures say)."""
        raise NotImplementedError

    def mkfs_options(self) -> List[str]:
        """Extra mkfs.ocfs2 options this host's LUNs need."""
        return []

    def mount(self, lun: dict, target: Path, sr_uuid: str, cluster: str) -> bool:
        """Mount an OCFS2 LUN on target; False when it already was."""
        raise NotImplementedError

    def unmount(self, target: Path, sr_uuid: str) -> bool:
        """Unmount target; False when nothing was mounted."""
        raise NotImplementedError

    # Shared readers of the kernel's layout -------------------------------------------------

    def cluster_dir(self, name: str) -> Path:
        return self.root.path(CONFIGFS) / name

    def is_registered(self, name: str) -> bool:
        return self.cluster_dir(name).is_dir()

    def registered_clusters(self) -> List[str]:
        """The clusters in configfs: at most one, the kernel holds one O2CB cluster per host
        (o2nm_cluster_group_make_group answers -ENOSPC for a second)."""
        base = self.root.path(CONFIGFS)
        return sorted(child.name for child in base.iterdir()) if base.is_dir() else []

    def live_nodes(self, name: str) -> List[dict]:
        node_dir = self.cluster_dir(name) / "node"
        if not node_dir.is_dir():
            return []
        nodes = []
        for child in sorted(node_dir.iterdir()):

            def attr(key, child=child):
                try:
                    return (child / key).read_text().strip()
                except FileNotFoundError:
                    return ""

            number = attr("num")
            nodes.append(
                {
                    "name": child.name,
                    "number": int(number) if number.isdigit() else None,
                    "ip_address": attr("ipv4_address"),
                    "ip_port": int(attr("ipv4_port") or 0),
                    "local": attr("local") == "1",
                }
            )
        return nodes

    def heartbeat_live_numbers(self, name: str) -> Set[int]:
        try:
            text = self.root.path(LIVENODES).read_text()
        except FileNotFoundError:
            return set()
        return {int(word) for word in text.split() if word.isdigit()}
