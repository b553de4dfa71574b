"""Sandbox hosts: one directory each, with the identity files of a host."""

import time
import uuid as uuid_module
from pathlib import Path
from typing import Optional

from ..fsutil import write_atomic
from ..hostroot import INVENTORY, HostRoot
from ..names import check_node_name
from .kernel import ADDRESS_FILE, iter_sandbox_hosts, sandbox_root, write_boot_time

__all__ = ["create_sandbox_host", "iter_sandbox_hosts", "sandbox_root", "write_boot_time"]


def create_sandbox_host(
    sandbox_dir: Path, hostname: str, uuid: Optional[str] = None, address: Optional[str] = None
) -> HostRoot:
    """Make (or keep) a sandbox host directory with a host's identity files."""
    check_node_name(hostname)  # it is a directory name here, and a node name later
    root = sandbox_root(Path(sandbox_dir) / hostname)
    root.root.mkdir(parents=True, exist_ok=True)
    if not root.path(INVENTORY).exists():
        host_uuid = uuid or str(uuid_module.uuid4())
        write_atomic(root.path(INVENTORY), f"INSTALLATION_UUID='{host_uuid}'\n")
    if not root.path("etc/hostname").exists():
        write_atomic(root.path("etc/hostname"), hostname + "\n")
    if not root.path("proc/stat").exists():
        write_boot_time(root, int(time.time()))
    if address and not root.path(ADDRESS_FILE).exists():
        write_atomic(root.path(ADDRESS_FILE), address + "\n")
    root.path("etc/ocfs2").mkdir(parents=True, exist_ok=True)
    return root
