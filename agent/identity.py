"""Who this host is: its identity as the agent's `hello` answers it.

Apart from agent/host.py (the keys), so the XAPI plugin, which seals nothing and runs
on dom0's python3 without the cryptography package, answers `hello` with the same code.
"""

from . import __version__
from .hostroot import HostRoot

# The public half of the host's key (agent/host.py writes it beside the key, which only
# the Celery agent needs): `hello` names it without loading the key.
HOST_PUBLIC_KEY = "etc/o2cb-agent/host.pub"


def published_key(root: HostRoot) -> str:
    """The public key this host's Celery agent seals with; empty where it has none (a
    host reached through XAPI only, whose answers nothing seals)."""
    try:
        return root.path(HOST_PUBLIC_KEY).read_text().strip()
    except FileNotFoundError:
        return ""


def hello(root: HostRoot) -> dict:
    """Who this host is, when it booted, which agent answers and the key it seals with."""
    return {
        "uuid": root.uuid,
        "hostname": root.hostname,
        "boot_time": root.boot_time.isoformat(),
        "agent_version": __version__,
        "sandbox": root.sandbox,
        "addresses": root.addresses,
        "public_key": published_key(root),
    }
