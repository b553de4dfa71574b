"""Where the agent works: the real `/`, or a sandbox directory standing in for a host."""

from __future__ import annotations

import os
import re
import socket
import time
import uuid as uuid_module
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import AgentError
from .fsutil import write_atomic

INVENTORY = "etc/xensource-inventory"
INVENTORY_UUID_RE = re.compile(
    r"^INSTALLATION_UUID=['\"]?(?P<uuid>[0-9a-fA-F-]{36})['\"]?\s*$", re.M
)
BTIME_RE = re.compile(r"^btime\s+(?P<epoch>\d+)\s*$", re.M)


@dataclass(frozen=True)
class HostRoot:
    root: Path
    sandbox: bool

    @classmethod
    def real(cls) -> HostRoot:
        return cls(Path("/"), sandbox=False)

    @classmethod
    def for_sandbox(cls, path: Path) -> HostRoot:
        return cls(Path(path).resolve(), sandbox=True)

    def path(self, relative: str) -> Path:
        return self.root / relative.lstrip("/")

    @property
    def hostname(self) -> str:
        if self.sandbox:
            return self.root.name
        try:
            return self.path("etc/hostname").read_text().split()[0]
        except (FileNotFoundError, IndexError):
            return socket.gethostname()

    @property
    def uuid(self) -> str:
        try:
            match = INVENTORY_UUID_RE.search(self.path(INVENTORY).read_text())
            if match:
                return match["uuid"].lower()
        except FileNotFoundError:
            pass
        try:
            machine_id = self.path("etc/machine-id").read_text().strip()
            return str(uuid_module.UUID(hex=machine_id))
        except (FileNotFoundError, ValueError):
            raise AgentError(
                f"No host identity under {self.root}: neither {INVENTORY} "
                "(INSTALLATION_UUID) nor etc/machine-id."
            ) from None

    @property
    def boot_time(self) -> datetime:
        match = BTIME_RE.search(self.path("proc/stat").read_text())
        if match is None:
            raise AgentError(f"{self.path('proc/stat')} has no btime line.")
        return datetime.fromtimestamp(int(match["epoch"]), UTC)

    @property
    def addresses(self) -> list[str]:
        if self.sandbox:
            text = _read(self.path("etc/sandbox/address"))
            return [text.strip()] if text.strip() else []
        configured = os.environ.get("AGENT_ADDRESSES", "")
        if configured:
            return [a.strip() for a in configured.split(",") if a.strip()]
        return [_primary_address()]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _primary_address() -> str:
    """The address this host uses to reach other hosts (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects a route
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def write_boot_time(root: HostRoot, epoch: int) -> None:
    write_atomic(root.path("proc/stat"), f"btime {epoch}\n")


def create_sandbox_host(
    sandbox_dir: Path, hostname: str, uuid: str | None = None, address: str | None = None
) -> HostRoot:
    """Make (or keep) a sandbox host directory with a host's identity files."""
    root = HostRoot.for_sandbox(Path(sandbox_dir) / hostname)
    root.root.mkdir(parents=True, exist_ok=True)
    if not root.path(INVENTORY).exists():
        host_uuid = uuid or str(uuid_module.uuid4())
        write_atomic(root.path(INVENTORY), f"INSTALLATION_UUID='{host_uuid}'\n")
    if not root.path("etc/hostname").exists():
        write_atomic(root.path("etc/hostname"), hostname + "\n")
    if not root.path("proc/stat").exists():
        write_boot_time(root, int(time.time()))
    if address and not root.path("etc/sandbox/address").exists():
        write_atomic(root.path("etc/sandbox/address"), address + "\n")
    root.path("etc/ocfs2").mkdir(parents=True, exist_ok=True)
    return root


def iter_sandbox_hosts(sandbox_dir: Path) -> list[HostRoot]:
    base = Path(sandbox_dir)
    if not base.is_dir():
        return []
    return [
        HostRoot.for_sandbox(child)
        for child in sorted(base.iterdir())
        if child.is_dir() and (child / INVENTORY).exists()
    ]
