"""Names that reach files, paths and commands, checked by O2CB's own rules.

- A node name is a host name (O2CB finds the local node by `uname -n`) and the name of a
  directory in configfs (`/sys/kernel/config/cluster/<cluster>/node/<name>`): at most
  O2NM_MAX_NAME_LEN (64) bytes, the kernel's nodename length. It is also one `name = `
  line of cluster.conf. So: host-name labels (letters, digits, `-`, `_`) joined by dots,
  no label starting or ending with `-`, nothing else: no `/`, no space, no `=`, no line
  break, nothing that `o2cb` could read as an option.
- A new cluster's name is what `o2cb add-cluster` accepts: 1 to OCFS2_CLUSTER_NAME_LEN
  (16) letters and digits (ocfs2-tools, o2cb_valid_o2cb_cluster_name).
- A volume label (`mkfs.ocfs2 -L`, the SR's name) is at most OCFS2_MAX_VOL_LABEL_LEN - 1
  (63) bytes: mkfs.ocfs2 keeps no more.
- A global heartbeat region is the UUID of an OCFS2 volume as o2cb writes it: 32
  upper-case hexadecimal digits.
"""

import re
from typing import Optional

from .errors import AgentError

NODE_NAME_MAX = 64  # O2NM_MAX_NAME_LEN
CLUSTER_NAME_MAX = 16  # OCFS2_CLUSTER_NAME_LEN
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
NODE_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
CLUSTER_NAME = re.compile(rf"[A-Za-z0-9]{{1,{CLUSTER_NAME_MAX}}}")
REGION = re.compile(r"[0-9A-F]{32}")
VOLUME_LABEL_MAX = 63  # OCFS2_MAX_VOL_LABEL_LEN (64) less its NUL


class NameRefused(AgentError):
    """A name that O2CB, a file system or a command line would misread."""


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "...'"


def node_name_problem(name: object) -> Optional[str]:
    """Why `name` cannot be an O2CB node (host) name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a host name is needed"
    if len(name.encode()) > NODE_NAME_MAX:
        return f"{_shown(name)} is longer than O2CB's {NODE_NAME_MAX} bytes"
    if not NODE_NAME.fullmatch(name):
        return (
            f"{_shown(name)} is not a host name O2CB can use: letters, digits, '-' and '_' in "
            "dot-separated labels, no label starting or ending with '-'"
        )
    return None


def check_node_name(name: object) -> str:
    problem = node_name_problem(name)
    if problem:
        raise NameRefused(problem[0].upper() + problem[1:] + ".")
    return name  # type: ignore[return-value]


def new_cluster_name_problem(name: object) -> Optional[str]:
    """Why `name` cannot name a new O2CB cluster, or None when it can."""
    if isinstance(name, str) and CLUSTER_NAME.fullmatch(name):
        return None
    return (
        f"{_shown(name)} is not a name `o2cb add-cluster` accepts: 1 to {CLUSTER_NAME_MAX} "
        "letters and digits"
    )


def volume_label_problem(label: object) -> Optional[str]:
    """Why `label` cannot be an OCFS2 volume label, or None when it can."""
    if not isinstance(label, str) or not label:
        return "a volume label is needed"
    size = len(label.encode())
    if size > VOLUME_LABEL_MAX:
        return (
            f"{_shown(label)} is {size} bytes long, and an OCFS2 volume label "
            f"(mkfs.ocfs2 -L, OCFS2_MAX_VOL_LABEL_LEN) is at most {VOLUME_LABEL_MAX} bytes"
        )
    return None


def check_volume_label(label: object) -> str:
    problem = volume_label_problem(label)
    if problem:
        raise NameRefused(problem[0].upper() + problem[1:] + ".")
    return label  # type: ignore[return-value]


def check_region(region: object) -> str:
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise NameRefused(
            f"{_shown(region)} is not a heartbeat region: the OCFS2 volume's UUID, "
            "32 upper-case hexadecimal digits."
        )
    return region
