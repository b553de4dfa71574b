"""Identity calls about the host itself."""

from . import __version__
from .hostroot import HostRoot


def hello(root: HostRoot) -> dict:
    """Who this host is, when it booted and which agent answers."""
    return {
        "uuid": root.uuid,
        "hostname": root.hostname,
        "boot_time": root.boot_time.isoformat(),
        "agent_version": __version__,
        "sandbox": root.sandbox,
        "addresses": root.addresses,
    }
