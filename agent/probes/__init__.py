"""Host-side parsers for I/O-path health: dm-multipath topology, Linux and Open vSwitch bonds.

The parsers take the text a host prints (``multipath -ll``, ``multipathd show paths``,
``/proc/net/bonding/<bond>``, ``ovs-appctl bond/show``) and return plain dictionaries; they
never run commands.
"""

from agent.errors import AgentError


class ProbeError(AgentError):
    """The text handed to a probe parser is not the output it reads."""


__all__ = ["ProbeError"]
