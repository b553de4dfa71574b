"""How a lab is set up: what `make lab` was started with, kept in var/lab/lab.json."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timeouts:
    """O2CB and SCSI timeouts every guest starts with (the same on each, as O2CB needs).
    Shorter than Debian's defaults so that a fence takes seconds, not a minute; the
    ratios an admin must keep still hold (a path fails over well inside the dead time)."""

    heartbeat_threshold: int = 11  # dead time (11 - 1) x 2 s = 20 s
    idle_timeout_ms: int = 10000
    scsi_timeout: int = 5


@dataclass
class LabSettings:
    hosts: int = 3
    luns: int = 2
    lun_bytes: int = 1 << 30
    memory_mb: int = 512
    accel: str = "tcg"
    switch_port: int = field(default_factory=lambda: random.randint(20000, 40000))
    redis_url: str = ""
    console_key: str = ""
    console_queue: str = "console"
    report_interval: float = 5.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    kernel_dir: str = ""  # default: the lab directory's kernel/


def guest_redis_url(url: str) -> str:
    """The console's Redis as a guest reaches it: loopback is 10.0.2.2 on QEMU's user net."""
    for local in ("127.0.0.1", "localhost"):
        url = url.replace(f"@{local}:", "@10.0.2.2:").replace(f"//{local}:", "//10.0.2.2:")
    return url
