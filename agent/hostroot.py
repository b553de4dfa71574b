"""Where the agent works: the real `/`, or a sandbox directory standing in for a host.

A HostRoot is a directory and the kind of kernel behind it (`kernel_class`, a subclass
of agent.kernel.Kernel): `root.kernel` is the one seam to the host's kernel and
hardware. Roots are built where the agent starts (agent.realkernel.real_root,
agent.sandbox.host), never chosen by the code that uses them.
"""

import re
import uuid as uuid_module
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, NamedTuple

from .errors import AgentError

INVENTORY = "etc/xensource-inventory"
INVENTORY_UUID_RE = re.compile(
    r"^INSTALLATION_UUID=['\"]?(?P<uuid>[0-9a-fA-F-]{36})['\"]?\s*$", re.M
)
BTIME_RE = re.compile(r"^btime\s+(?P<epoch>\d+)\s*$", re.M)


class HostRoot(NamedTuple):
    root: Path
    # A subclass of agent.kernel.Kernel (typed loosely: that module builds on this one).
    kernel_class: Any

    @property
    def kernel(self):
        """The seam to this host's kernel and hardware (an agent.kernel.Kernel)."""
        return self.kernel_class(self)

    @property
    def sandbox(self) -> bool:
        return self.kernel_class.sandbox

    def path(self, relative: str) -> Path:
        return self.root / relative.lstrip("/")

    @property
    def hostname(self) -> str:
        return self.kernel.hostname()

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
        return datetime.fromtimestamp(int(match["epoch"]), timezone.utc)

    @property
    def addresses(self) -> List[str]:
        return self.kernel.addresses()
