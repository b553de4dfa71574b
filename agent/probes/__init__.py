"""Host-side parsers for I/O-path health: dm-multipath topology and Linux bonding state.

The parsers take the text a host prints (``multipath -ll``, ``multipathd show paths``,
``/proc/net/bonding/<bond>``) and return plain dictionaries; they never run commands.
"""

from agent.errors import AgentError


class ProbeError(AgentError):
    """The text handed to a probe parser is not the output it reads."""


__all__ = ["ProbeError"]
