"""ocfs2-tools' cluster.conf: read, edit and write it without losing anything.

The format is what ocfs2-tools' reader (o2cb_ctl/jconfig.c, o2cb_config.c) accepts,
and what it refuses is refused here too, naming the line:

- a stanza name (`cluster:`, `node:`, `heartbeat:`, or any other, kept and ignored)
  starts in the first column, its colon right after it, then only spaces or tabs;
- its settings follow on lines indented with spaces or tabs, `key = value`; the value
  runs to the end of the line less its trailing white space, so a `#` in it is part
  of it; a key given twice keeps the last value;
- only a line whose first character is `#` is a comment, and it does not end the
  stanza; a blank (or white-space-only) line does;
- a CR before the newline is tolerated only where the value's trailing white space
  takes it: a CRLF stanza name or blank line, or a byte-order mark, is refused.

Real files still differ in tabs or spaces, spacing round `=`, key and stanza order,
several clusters, unknown keys and hand-written comments; all that is read.

The document keeps every original line, so an unchanged file is written back
byte for byte and an edit touches only the lines it must. A node removed by
the console is commented out (every line of its stanza prefixed with `#`) so
the admin still sees it.
"""

import re
import socket
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from .errors import AgentError
from .fsutil import write_atomic
from .names import check_node_name

DEFAULT_PORT = 7777
MAX_NODES = 255  # the kernel's O2NM_MAX_NODES: numbers 0..254
MAX_PORT = 65534  # the kernel's ipv4_port refuses 0 and 65535 and above
HEARTBEAT_MODES = ("local", "global")

# jconfig's identifiers are [A-Za-z0-9_]+; its white space is space and tab only.
HEADER_RE = re.compile(r"(?P<kind>[A-Za-z0-9_]+):[ \t]*")
SETTING_RE = re.compile(r"(?P<indent>[ \t]+)(?P<key>[A-Za-z0-9_]+)[ \t]*=[ \t]*(?P<value>.*)")
# What g_strchomp takes off a value: ASCII white space, a CR included.
CHOMPED = " \t\r\n\f\v"
NUMBER_RE = re.compile(r"\+?[0-9]+")  # what strtoul reads whole (no '_', no other digits)


class ConfError(AgentError):
    """cluster.conf cannot be read; the message names the line."""


class Stanza:
    def __init__(self, kind: str, header: int, commented: bool = False):
        self.kind = kind
        self.header = header  # line index of `kind:`
        self.commented = commented
        self.settings: Dict[str, str] = {}
        self.setting_lines: Dict[str, int] = {}  # the line a key's value is read from
        self.all_lines: List[int] = [header]  # a repeated key's earlier lines too

    def add(self, key: str, value: str, index: int) -> None:
        self.settings[key] = value  # the last one wins, as in jconfig
        self.setting_lines[key] = index
        self.all_lines.append(index)

    @property
    def lines(self) -> List[int]:
        return list(self.all_lines)

    @property
    def last_line(self) -> int:
        return max(self.lines)


class Node(NamedTuple):
    name: str
    number: int
    ip_address: str
    ip_port: int
    cluster: str

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "number": self.number,
            "ip_address": self.ip_address,
            "ip_port": self.ip_port,
        }


class ClusterSection:
    def __init__(self, name: str, heartbeat_mode: str, node_count: Optional[int]):
        self.name = name
        self.heartbeat_mode = heartbeat_mode
        self.node_count = node_count
        self.nodes: List[Node] = []
        self.commented_nodes: List[Node] = []
        self.heartbeat_regions: List[str] = []
        # Lookups kept while parsing, so large clusters parse in linear time.
        self._by_number: Dict[int, Node] = {}
        self._by_name: Dict[str, Node] = {}
        self._by_address: Dict[str, Node] = {}

    def __repr__(self) -> str:
        return f"ClusterSection({self.name!r}, {len(self.nodes)} nodes)"

    def node_by_number(self, number: int) -> Optional[Node]:
        return self._by_number.get(number)

    def node_by_name(self, name: str) -> Optional[Node]:
        return self._by_name.get(name)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "heartbeat_mode": self.heartbeat_mode,
            "nodes": [n.as_dict() for n in sorted(self.nodes, key=lambda n: n.number)],
            "heartbeat_regions": list(self.heartbeat_regions),
        }


def _body(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


def _uncomment(body: str) -> Optional[str]:
    return body[1:] if body.startswith("#") else None


class ClusterConf:
    """One cluster.conf file as lines, with the stanzas found in them."""

    def __init__(self, text: str = "", source: str = "cluster.conf"):
        self.source = source
        # Lines end at "\n" only, as ocfs2-tools reads them (not at \f, \v or U+2028).
        self.lines = [line for line in re.findall(r"[^\n]*\n?", text) if line]
        self._parse()

    @classmethod
    def load(cls, path: Path) -> "ClusterConf":
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls("", str(path))
        if b"\0" in data:
            raise ConfError(f"{path}: not a text file (it contains NUL bytes).")
        # Bytes that are not UTF-8 (a Latin-1 comment, say) survive the round trip.
        return cls(data.decode("utf-8", errors="surrogateescape"), str(path))

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def save(self, path: Path) -> None:
        write_atomic(Path(path), self.text)

    # Parsing ---------------------------------------------------------------------------

    def _error(self, index: int, message: str) -> ConfError:
        return ConfError(f"{self.source} line {index + 1}: {message}")

    def _parse(self) -> None:
        self.stanzas: List[Stanza] = []
        current: Optional[Stanza] = None
        closed: Optional[Stanza] = None  # the stanza a blank line just ended
        commented: Optional[Stanza] = None
        for index, line in enumerate(self.lines):
            body = _body(line)
            if index == 0 and body.startswith("\ufeff"):
                raise self._error(index, "starts with a byte-order mark, which o2cb refuses.")
            if not body.strip(" \t\r"):
                if "\r" in body:  # jconfig does not count a CR as white space
                    raise self._crlf(index)
                closed, current, commented = current or closed, None, None
                continue
            inner = _uncomment(body)
            if inner is not None:
                commented = self._parse_commented(index, inner, commented)
                continue
            commented = None
            header = HEADER_RE.fullmatch(body)
            if header:
                current, closed = Stanza(kind=header["kind"], header=index), None
                self.stanzas.append(current)
                continue
            setting = SETTING_RE.fullmatch(body)
            if setting is None:
                raise self._unreadable(index, body)
            key = setting["key"]
            if current is None:
                if closed is not None:
                    raise self._error(
                        index,
                        f"'{key}' follows a blank line, which ends the '{closed.kind}:' "
                        f"stanza of line {closed.header + 1}; o2cb refuses it.",
                    )
                raise self._error(index, f"'{key}' is outside any stanza.")
            value = setting["value"].rstrip(CHOMPED)
            if value.endswith("\\"):
                raise self._error(
                    index, f"the value of '{key}' is continued onto the next line with '\\'."
                )
            current.add(key, value, index)
        self._build()

    def _crlf(self, index: int) -> ConfError:
        return self._error(
            index,
            "ends in a Windows (CRLF) line end, which o2cb refuses; convert the file to "
            "Unix line ends (dos2unix).",
        )

    def _unreadable(self, index: int, body: str) -> ConfError:
        stripped = body.lstrip(" \t")
        if body.endswith("\r") and HEADER_RE.fullmatch(body[:-1]):
            return self._crlf(index)
        if stripped != body and (stripped.startswith("#") or HEADER_RE.fullmatch(stripped)):
            what = "a comment" if stripped.startswith("#") else "a stanza name"
            return self._error(
                index, f"{what} must start in the first column; o2cb refuses {stripped!r}."
            )
        if stripped == body and SETTING_RE.fullmatch("\t" + body):
            key = SETTING_RE.fullmatch("\t" + body)["key"]
            return self._error(index, f"'{key}' must be indented under its stanza name.")
        return self._error(index, f"cannot read {body.strip()!r}; expected 'key = value'.")

    def _parse_commented(
        self, index: int, inner: str, stanza: Optional[Stanza]
    ) -> Optional[Stanza]:
        """A node the console commented out stays readable; other comments are just kept."""
        header = HEADER_RE.fullmatch(inner)
        if header:
            stanza = Stanza(kind=header["kind"], header=index, commented=True)
            self.stanzas.append(stanza)
            return stanza
        setting = SETTING_RE.fullmatch(inner)
        if stanza is not None and setting:
            stanza.add(setting["key"], setting["value"].rstrip(CHOMPED), index)
        # Other comments leave it open, as they leave a live stanza (a blank line ends it).
        return stanza

    def _node(self, stanza: Stanza, strict: bool) -> Optional[Node]:
        s = stanza.settings
        try:
            # The same keys o2cb insists on: it refuses a node without ip_port, too.
            required = ("name", "cluster", "number", "ip_address", "ip_port")
            missing = [k for k in required if not s.get(k)]
            if missing:
                raise self._error(stanza.header, f"node is missing {', '.join(missing)}.")
            number = _int(s["number"], "number")
            port = _int(s["ip_port"], "ip_port")
            if not 0 <= number < MAX_NODES:
                raise ValueError(f"node number {number} is outside 0..{MAX_NODES - 1}")
            if not 1 <= port <= MAX_PORT:
                raise ValueError(f"ip_port {port} is outside 1..{MAX_PORT}")
            _check_ipv4(s["ip_address"])
            return Node(
                name=s["name"],
                number=number,
                ip_address=s["ip_address"],
                ip_port=port,
                cluster=s["cluster"],
            )
        except ValueError as exc:
            if strict:
                raise self._error(stanza.header, f"{exc}.") from None
            return None
        except ConfError:
            if strict:
                raise
            return None

    def _cluster_section(self, stanza: Stanza, name: str) -> ClusterSection:
        """The cluster stanza read as o2cb_config does (it refuses a missing node_count)."""
        count = stanza.settings.get("node_count")
        if not count:
            raise self._error(
                stanza.header,
                f"cluster '{name}' has no node_count, which o2cb refuses; "
                "add 'node_count = <number of nodes>'.",
            )
        if not NUMBER_RE.fullmatch(count):
            raise self._error(stanza.header, f"node_count '{count}' is not a number.")
        mode = stanza.settings.get("heartbeat_mode", "local")
        if mode.lower() not in HEARTBEAT_MODES:
            raise self._error(
                stanza.header, f"heartbeat_mode '{mode}' is neither 'local' nor 'global'."
            )
        # o2cb takes the mode in any case and lowercases it.
        return ClusterSection(name=name, heartbeat_mode=mode.lower(), node_count=int(count))

    def _build(self) -> None:
        self.clusters: Dict[str, ClusterSection] = {}
        self._cluster_stanzas: Dict[str, Stanza] = {}
        self._node_stanzas: Dict[Tuple[str, int], Stanza] = {}
        self._commented_stanzas: Dict[Tuple[str, int, str], Stanza] = {}
        for stanza in self.stanzas:
            if stanza.kind == "cluster" and not stanza.commented:
                name = stanza.settings.get("name")
                if not name:
                    raise self._error(stanza.header, "cluster has no name.")
                if name in self.clusters:
                    raise self._error(stanza.header, f"cluster '{name}' is defined twice.")
                self.clusters[name] = self._cluster_section(stanza, name)
                self._cluster_stanzas[name] = stanza
        for stanza in self.stanzas:
            if stanza.kind == "node":
                self._add_node(stanza)
            elif stanza.kind == "heartbeat" and not stanza.commented:
                cluster = self._cluster_for(stanza)
                region = stanza.settings.get("region")
                if not region:
                    raise self._error(stanza.header, "heartbeat has no region.")
                cluster.heartbeat_regions.append(region)

    def _cluster_for(self, stanza: Stanza) -> ClusterSection:
        name = stanza.settings.get("cluster")
        if name not in self.clusters:
            raise self._error(stanza.header, f"{stanza.kind} belongs to unknown cluster '{name}'.")
        return self.clusters[name]

    def _add_node(self, stanza: Stanza) -> None:
        node = self._node(stanza, strict=not stanza.commented)
        if node is None:
            return
        if stanza.commented:
            if node.cluster in self.clusters:
                self.clusters[node.cluster].commented_nodes.append(node)
                self._commented_stanzas[(node.cluster, node.number, node.name)] = stanza
            return
        cluster = self._cluster_for(stanza)
        if cluster.node_by_number(node.number):
            raise self._error(stanza.header, f"node number {node.number} is used twice.")
        if cluster.node_by_name(node.name):
            raise self._error(stanza.header, f"node name '{node.name}' is used twice.")
        if node.ip_address in cluster._by_address:
            # The kernel keys a cluster's nodes by address, too (o2nm's ip tree: EEXIST).
            raise self._error(
                stanza.header,
                f"ip_address {node.ip_address} is used twice (also by node "
                f"'{cluster._by_address[node.ip_address].name}').",
            )
        cluster.nodes.append(node)
        cluster._by_number[node.number] = node
        cluster._by_name[node.name] = node
        cluster._by_address[node.ip_address] = node
        self._node_stanzas[(node.cluster, node.number)] = stanza

    # Queries ----------------------------------------------------------------------------

    def cluster(self, name: str) -> ClusterSection:
        if name not in self.clusters:
            raise AgentError(f"Cluster '{name}' is not in {self.source}.")
        return self.clusters[name]

    def as_dict(self) -> dict:
        return {"clusters": [c.as_dict() for c in self.clusters.values()]}

    # Edits: each changes lines, then parses once so the model always matches the text ---

    def _append(self, stanza_lines: List[str], parse: bool = True) -> None:
        nl = "\n"  # even in a file of CRLF comments: o2cb refuses a CRLF stanza name
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += nl
        if self.lines and _body(self.lines[-1]).strip():
            self.lines.append(nl)
        self.lines.extend(line + nl for line in stanza_lines)
        if parse:
            self._parse()

    def add_cluster(self, name: str, heartbeat_mode: str = "global") -> None:
        if name in self.clusters:
            return
        self._append(
            [
                "cluster:",
                f"\tname = {name}",
                f"\theartbeat_mode = {heartbeat_mode}",
                "\tnode_count = 0",
            ]
        )

    def _set(self, stanza: Stanza, key: str, value: str, parse: bool = True) -> None:
        nl = "\n"
        if key in stanza.setting_lines:
            index = stanza.setting_lines[key]
            match = SETTING_RE.match(_body(self.lines[index]))
            ending = self.lines[index][len(_body(self.lines[index])) :] or nl
            self.lines[index] = f"{match['indent']}{key} = {value}{ending}"
        else:
            indent = "\t"
            if stanza.setting_lines:
                first = min(stanza.setting_lines.values())
                indent = SETTING_RE.match(_body(self.lines[first]))["indent"] or "\t"
            self.lines.insert(stanza.last_line + 1, f"{indent}{key} = {value}{nl}")
        if parse:
            self._parse()

    def set_heartbeat_mode(self, cluster: str, mode: str) -> bool:
        if self.cluster(cluster).heartbeat_mode == mode:
            return False
        self._set(self._cluster_stanzas[cluster], "heartbeat_mode", mode)
        return True

    def _set_node_count(self, cluster: str, count: int) -> None:
        """Edit the line only; the caller parses once when all its edits are done."""
        if self.cluster(cluster).node_count != count:
            self._set(self._cluster_stanzas[cluster], "node_count", str(count), parse=False)

    def add_node(self, node: Node) -> None:
        check_node_name(node.name)
        self._set_node_count(node.cluster, len(self.cluster(node.cluster).nodes) + 1)
        self._append(
            [
                "node:",
                f"\tcluster = {node.cluster}",
                f"\tnumber = {node.number}",
                f"\tip_port = {node.ip_port}",
                f"\tip_address = {node.ip_address}",
                f"\tname = {node.name}",
            ],
            parse=False,
        )
        self._parse()

    def comment_out_node(self, cluster: str, number: int) -> Optional[Node]:
        """Comment the node's stanza out; None when no such active node."""
        stanza = self._node_stanzas.get((cluster, number))
        if stanza is None:
            return None
        node = self.cluster(cluster).node_by_number(number)
        for index in stanza.lines:
            self.lines[index] = "#" + self.lines[index]
        self._set_node_count(cluster, len(self.cluster(cluster).nodes) - 1)
        self._parse()
        return node

    def uncomment_node(self, cluster: str, number: int, name: str) -> bool:
        stanza = self._commented_stanzas.get((cluster, number, name))
        if stanza is None:
            return False
        for index in stanza.lines:
            line = self.lines[index]
            hash_at = line.index("#")
            self.lines[index] = line[:hash_at] + line[hash_at + 1 :]
        self._set_node_count(cluster, len(self.cluster(cluster).nodes) + 1)
        self._parse()
        return True

    def add_heartbeat_region(self, cluster: str, region: str) -> bool:
        if region in self.cluster(cluster).heartbeat_regions:
            return False
        self._append(["heartbeat:", f"\tregion = {region}", f"\tcluster = {cluster}"])
        return True

    def remove_heartbeat_region(self, cluster: str, region: str) -> bool:
        for stanza in self.stanzas:
            if (
                stanza.kind == "heartbeat"
                and not stanza.commented
                and stanza.settings.get("cluster") == cluster
                and stanza.settings.get("region") == region
            ):
                for index in sorted(stanza.lines, reverse=True):
                    del self.lines[index]
                self._parse()
                return True
        return False


def _int(text: str, what: str) -> int:
    if NUMBER_RE.fullmatch(text):
        return int(text, 10)
    hint = "; '#' starts a comment only in the first column" if "#" in text else ""
    raise ValueError(f"{what} '{text}' is not a whole number{hint}")


def _check_ipv4(text: str) -> None:
    # o2cb checks the address with inet_pton(AF_INET): the o2cb stack speaks IPv4 only.
    try:
        socket.inet_pton(socket.AF_INET, text)
    except OSError:
        raise ValueError(
            f"ip_address '{text}' is not an IPv4 address (o2cb and the kernel's o2net "
            "take IPv4 only)"
        ) from None
