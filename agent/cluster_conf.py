"""ocfs2-tools' cluster.conf: read, edit and write it without losing anything.

The format (ocfs2-tools' o2cb_config/jconfig): stanzas `cluster:`, `node:` and
`heartbeat:` start at a line of their own; their settings follow on indented
`key = value` lines. `#` starts a comment line. Real files differ in tabs or
spaces, spacing round `=`, key order, CRLF endings and hand-written comments;
all are accepted. Unknown stanzas are kept and ignored, as o2cb does.

The document keeps every original line, so an unchanged file is written back
byte for byte and an edit touches only the lines it must. A node removed by
the console is commented out (every line of its stanza prefixed with `#`) so
the admin still sees it.
"""

import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from .errors import AgentError
from .fsutil import write_atomic
from .names import check_node_name

DEFAULT_PORT = 7777
MAX_NODES = 255  # the kernel's O2NM_MAX_NODES: numbers 0..254

HEADER_RE = re.compile(r"^[ \t]*(?P<kind>[A-Za-z_][A-Za-z0-9_]*)[ \t]*:[ \t]*$")
SETTING_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<key>[A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(?P<value>.*?)[ \t]*$"
)


class ConfError(AgentError):
    """cluster.conf cannot be read; the message names the line."""


class Stanza:
    def __init__(self, kind: str, header: int, commented: bool = False):
        self.kind = kind
        self.header = header  # line index of `kind:`
        self.commented = commented
        self.settings: Dict[str, str] = {}
        self.setting_lines: Dict[str, int] = {}

    @property
    def lines(self) -> List[int]:
        return [self.header, *sorted(self.setting_lines.values())]

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
    # A byte-order mark some editors add is kept in the text but not read as content.
    return line.rstrip("\r\n").lstrip("\ufeff")


def _uncomment(body: str) -> Optional[str]:
    stripped = body.lstrip(" \t")
    return stripped[1:] if stripped.startswith("#") else None


class ClusterConf:
    """One cluster.conf file as lines, with the stanzas found in them."""

    def __init__(self, text: str = "", source: str = "cluster.conf"):
        self.source = source
        # Lines end at "\n" only, as ocfs2-tools reads them (not at \f, \v or U+2028).
        self.lines = [line for line in re.findall(r"[^\n]*\n?", text) if line]
        self._newline = "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"
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
        commented: Optional[Stanza] = None
        for index, line in enumerate(self.lines):
            body = _body(line)
            if not body.strip():
                continue
            inner = _uncomment(body)
            if inner is not None:
                commented = self._parse_commented(index, inner, commented)
                continue
            commented = None
            header = HEADER_RE.match(body)
            if header:
                current = Stanza(kind=header["kind"], header=index)
                self.stanzas.append(current)
                continue
            setting = SETTING_RE.match(body)
            if setting is None:
                raise self._error(index, f"cannot read {body.strip()!r}; expected 'key = value'.")
            if current is None:
                raise self._error(index, f"'{setting['key']}' is outside any stanza.")
            if not setting["indent"]:
                raise self._error(
                    index, f"'{setting['key']}' must be indented under its '{current.kind}:'."
                )
            current.settings[setting["key"]] = setting["value"]
            current.setting_lines[setting["key"]] = index
        self._build()

    def _parse_commented(
        self, index: int, inner: str, stanza: Optional[Stanza]
    ) -> Optional[Stanza]:
        """A node the console commented out stays readable; other comments are just kept."""
        header = HEADER_RE.match(inner)
        if header:
            stanza = Stanza(kind=header["kind"], header=index, commented=True)
            self.stanzas.append(stanza)
            return stanza
        setting = SETTING_RE.match(inner)
        if stanza is not None and setting:
            stanza.settings[setting["key"]] = setting["value"]
            stanza.setting_lines[setting["key"]] = index
            return stanza
        return None

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
                count = stanza.settings.get("node_count")
                try:
                    node_count = int(count) if count else None
                except ValueError:
                    raise self._error(
                        stanza.header, f"node_count '{count}' is not a number."
                    ) from None
                self.clusters[name] = ClusterSection(
                    name=name,
                    heartbeat_mode=stanza.settings.get("heartbeat_mode", "local"),
                    node_count=node_count,
                )
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
        cluster.nodes.append(node)
        cluster._by_number[node.number] = node
        cluster._by_name[node.name] = node
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
        nl = self._newline
        if self.lines and not self.lines[-1].endswith(("\n", "\r")):
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
        nl = self._newline
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
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise ValueError(f"{what} '{text}' is not a whole number") from None
