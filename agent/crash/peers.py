"""What a surviving host's kernel logged about a peer: that it died, left, or came back.

A host that dies is seen by the others: they stop hearing it, evict it from their lock
domains, recover its locks and replay its journal. A host that leaves cleanly (O2CB
stopped for maintenance, a planned reboot) is seen too, but only as a departure. Only
the first kind of line says a peer died. Formats from the sources that print them:

* ``fs/ocfs2/cluster/tcp.c``: ``o2net: Connection to node X (num N) at IP:port has been
  idle for 30.500 secs.`` (``connection to node X (num N) at IP:port has been idle for
  30.0 seconds, shutting it down.`` before 3.2), ``o2net: No longer connected to node X
  (num N) at IP:port``, ``o2net: Connected to node X (num N) at IP:port`` and ``o2net:
  Accepted connection from node X (num N) at IP:port``.
* ``fs/ocfs2/cluster/heartbeat.c``: ``o2hb: receive negotiate timeout message from node
  N on region R (dm-0).``: node N's heartbeat writes hung, the lowest node hears of it.
* ``fs/ocfs2/stack_o2cb.c``: ``o2cb: o2dlm has evicted node N from domain D``.
* ``fs/ocfs2/dlm/dlmrecovery.c``: ``o2dlm: Begin recovery on domain D for node N``,
  ``o2dlm: Node M (me) is the Recovery Master for the dead node N in domain D`` (``he``
  on the others), ``o2dlm: End recovery on domain D``, ``o2dlm: Waiting on the recovery
  of node N in domain D`` and ``o2dlm: Waiting on the death of node N in domain D``.
* ``fs/ocfs2/dlm/dlmdomain.c``: ``o2dlm: Node N leaves domain D ( 0 1 ) 2 nodes`` and
  ``o2dlm: Node N joins domain D ( 0 1 2 ) 3 nodes``.
* ``fs/ocfs2/journal.c``: ``ocfs2: Begin replay journal (node N, slot S) on device
  (M,m)`` and ``ocfs2: End replay journal (node N, slot S) on device (M,m)``.
"""

import re
from typing import Dict, List, Optional, Pattern, Tuple

DIED = "died"  # evicted, its locks recovered, its journal replayed: it died
TROUBLE = "trouble"  # it stopped answering, or its heartbeat writes hung: what comes first
LEFT = "left"  # a departure, clean or not: no death by itself
BACK = "back"  # it connected or joined again

_NODE = r"node (?P<name>\S+) \(num (?P<number>\d+)\)"
PATTERNS: Tuple[Tuple[str, Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (TROUBLE, rf"[Cc]onnection to {_NODE} at \S+ has been idle for"),
        (LEFT, rf"o2net: No longer connected to {_NODE}"),
        (BACK, rf"o2net: (?:Connected to|Accepted connection from) {_NODE}"),
        (
            TROUBLE,
            r"o2hb: receive negotiate timeout message from node (?P<number>\d+) on region "
            r"(?P<domain>[0-9A-Fa-f]+)",
        ),
        (DIED, r"o2dlm has evicted node (?P<number>\d+) from domain (?P<domain>[0-9A-Fa-f]+)"),
        (DIED, r"o2dlm: Begin recovery on domain (?P<domain>\S+) for node (?P<number>\d+)"),
        (
            DIED,
            r"o2dlm: Node \d+ \((?:me|he)\) is the Recovery Master for the dead node "
            r"(?P<number>\d+) in domain (?P<domain>\S+)",
        ),
        (DIED, r"o2dlm: Waiting on the recovery of node (?P<number>\d+) in domain (?P<domain>\S+)"),
        (TROUBLE, r"o2dlm: Waiting on the death of node (?P<number>\d+) in domain (?P<domain>\S+)"),
        (DIED, r"o2dlm: End recovery on domain (?P<domain>\S+)"),
        (LEFT, r"o2dlm: Node (?P<number>\d+) leaves domain (?P<domain>\S+)"),
        (BACK, r"o2dlm: Node (?P<number>\d+) joins domain (?P<domain>\S+)"),
        (DIED, r"ocfs2: (?:Begin|End) replay journal \(node (?P<number>\d+), slot \d+\)"),
    )
)


def classify(text: str) -> Optional[dict]:
    """What one line says about a peer: {kind, name?, number?, domain?}, or None."""
    for kind, pattern in PATTERNS:
        match = pattern.search(text)
        if match:
            fields = {key: value for key, value in match.groupdict().items() if value}
            if "number" in fields:
                fields["number"] = int(fields["number"])
            if "domain" in fields:
                fields["domain"] = fields["domain"].upper()
            return {"kind": kind, **fields}
    return None


def read_peer_lines(lines: List[dict]) -> List[dict]:
    """One host's lines (in time order), each with what it says (`said`, or None).

    ``End recovery on domain D`` names no node: it ends the recovery of the node whose
    recovery in D that host began last.
    """
    recovering: Dict[str, int] = {}
    read = []
    for line in lines:
        said = classify(line["text"])
        if said and "domain" in said:
            if "number" in said and said["kind"] == DIED:
                recovering[said["domain"]] = said["number"]
            elif "number" not in said and said["domain"] in recovering:
                said["number"] = recovering.pop(said["domain"])
        read.append({**line, "said": said})
    return read
