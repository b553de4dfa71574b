"""Parse dm-multipath state as multipath-tools prints it.

Accepted inputs, learnt from libmultipath/print.c across releases:

* the topology printed by ``multipath -ll``, ``multipath -l``, ``multipath -v3/-v4 -ll`` and
  ``multipathd show topology``, in both layouts:

  - 0.4.9 and later::

        mpatha (3600...) dm-2 LIO-ORG,disk
        size=10G features='1 queue_if_no_path' hwhandler='1 alua' wp=rw
        |-+- policy='service-time 0' prio=50 status=active
        | `- 3:0:0:1 sdc 8:32 active ready running
        `-+- policy='service-time 0' prio=10 status=enabled
          `- 4:0:0:1 sdd 8:48 active ghost running

  - 0.4.8 and earlier (bracketed)::

        mpath1 (3600...) dm-2 HP,HSV210
        [size=10G][features=1 queue_if_no_path][hwhandler=0][rw]
        \\_ round-robin 0 [prio=50][active]
         \\_ 1:0:0:1 sdb 8:16 [active][ready]

  with optional ``create:``/``reload:``... action prefixes (a bare ``:`` for actions print.c
  has no word for, such as a resize), ANSI bold escapes, log lines
  (``Nov 25 10:00:00 | sdx: ...`` or ``12.345678 | ...``), the ``===== paths list =====``
  table of verbose runs, and text flattened onto fewer lines by copy and paste;

* a path table such as ``multipathd show paths``, read by its header line
  (``hcil dev dev_t pri dm_st chk_st dev_st next_check``).

Native NVMe multipath, which multipathd shows through its nvme foreign library, has its own
map header (``<wwid> [nvme]:nvme0n1 NVMe,<model>,<firmware>``), a size in 512-byte sectors,
"n/a" where there is no device-mapper state, ANA states where SCSI paths have checker
states, controller states (``live``, ``connecting``...) as the online state, and
``nvme:controller:namespace`` triples where SCSI paths have host:channel:target:lun.
"""

import re
from typing import Dict, List, Optional, Pattern, Tuple

from agent.probes import ProbeError

NO_INPUT = "no multipath map or path table found in the input"

ACTIONS = ("create", "reload", "reject", "rename", "switchpg", "resize", "unchanged")

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# condlog lines: "Nov 25 10:00:00 | ...", "1234.567890 | ...", "10:00:00 | ...".
LOG_RE = re.compile(
    r"^\s*(?:[A-Z][a-z]{2}\s+\d{1,2}\s+\d\d:\d\d:\d\d(?:\.\d+)?|\d+\.\d+|\d\d:\d\d:\d\d(?:\.\d+)?)"
    r"\s+\|\s"
)
HCIL = r"(?:\d+|#):(?:\d+|#):(?:\d+|#):(?:\d+|#)"
NVME_HCIL = r"\d+:\d+:\d+"
PATH_HCIL = rf"(?:{HCIL}|{NVME_HCIL})"
HCIL_RE = re.compile(rf"^{PATH_HCIL}$")
DEV_T_RE = re.compile(r"^(?:\d+:\d+|#:#)$")
PATH_RE = re.compile(
    rf"^(?P<hcil>{PATH_HCIL})\s+(?P<dev>\S+)\s+(?P<dev_t>\d+:\d+|#:#)(?:\s+(?P<rest>.*))?$"
)
# Tree drawing in front of groups and paths: "|-+- ", "| `- ", "  |- ", "\_ ", " \_ ".
TREE_RE = re.compile(r"^[\s|`+\\_-]*")
OLD_TREE_RE = re.compile(r"^\s*[|`\s]*\\_\s*")
KV_RE = re.compile(r"([A-Za-z_]+)=(?:'([^']*)'|\"([^\"]*)\"|(\S+))")
BRACKET_RE = re.compile(r"\[([^\]]*)\]")
HEADER_RE = re.compile(
    r"^(?:(?P<action>" + "|".join(ACTIONS) + r")?:\s+)?"
    r"(?P<name>[^\s()\[\]]+)"
    r"(?:\s+\((?P<wwid>[^()\s]*)\))?"
    r"(?:\s+(?P<dm>dm-\d+|undef))?"
    r"(?:\s+(?P<vp>\S.*?))?\s*$"
)
# The nvme foreign library's style "%w [%G]:%d %s".
NVME_HEADER_RE = re.compile(
    r"^(?P<wwid>[^\s()\[\]]+)\s+\[(?P<foreign>[^\]\s]+)\]:(?P<dev>\S+)(?:\s+(?P<vp>\S.*?))?\s*$"
)
SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgGtTpPeE]?)(?:i?[bB])?$")
SIZE_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
# Split points for text whose lines were joined (web pages, copy and paste).
FLATTENED_RES = (
    re.compile(r"\s*(?=\[size=)"),
    re.compile(r"\s+(?=size=\S+\s+features=)"),
    re.compile(r"\s+(?=[|`]-\+-\s)"),
    re.compile(rf"\s+(?=[|`]-\s+{HCIL}\s)"),
    re.compile(r"(?<=\S)\s*(?=\\_\s)"),
)
TABLE_MULTIWORD = (
    ("host", "WWNN"),
    ("target", "WWNN"),
    ("host", "WWPN"),
    ("target", "WWPN"),
    ("host", "adapter"),
    ("LUN", "hex"),
    ("vpd", "page", "data"),
)
PG_STATES = {"active", "enabled", "disabled", "undef"}
# 0.4.5 prints nothing for an unknown state, so a lone bracket is told apart by its word.
DM_PATH_STATES = {"active", "failed"}
# What copy and paste from web pages and word processors puts in place of ASCII.
TYPOGRAPHIC = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ", "\ufeff": ""}
)


# A path carries I/O when dm has it active and its checker does not say it failed (ghost
# is an ALUA standby path, used once its group is switched to). A native NVMe path
# (multipathd's nvme foreign library, nvme<subsystem>c<controller>n<namespace>) has no dm
# state: its ANA state must allow I/O and its controller be live.
WORKING_CHECKER_STATES = {"ready", "ghost", None, "undef", "i/o pending"}
NVME_PATH_RE = re.compile(r"^nvme\d+c(?P<controller>\d+)n\d+$")
NVME_ANA_WORKING = {"optimized", "non-optimized"}


def nvme_controller(path: dict) -> Optional[str]:
    """The controller (nvmeN) of a native NVMe path; None for a path of a dm map."""
    match = NVME_PATH_RE.match(path.get("device") or "")
    if path.get("dm_state") is not None or match is None:
        return None
    return "nvme" + match.group("controller")


def path_ok(path: dict) -> bool:
    """Whether the path carries I/O now."""
    if nvme_controller(path):
        return path.get("checker_state") in NVME_ANA_WORKING and path.get("online_state") == "live"
    return path.get("dm_state") == "active" and path.get("checker_state") in WORKING_CHECKER_STATES


def parse_multipath(text: str) -> dict:
    """Read multipath topology or a multipathd path table into one dictionary."""
    if not isinstance(text, str):
        raise ProbeError(NO_INPUT)
    lines = _clean_lines(text)
    parser = _Parser()
    for line in lines:
        parser.feed(line)
    parser.finish()
    if parser.maps:
        paths = [p for m in parser.maps for g in m["path_groups"] for p in g["paths"]]
        return {
            "format": "topology",
            "maps": parser.maps,
            "paths": paths,
            "summary": _summary(paths, len(parser.maps)),
        }
    if parser.table_paths:
        paths = parser.table_paths
        return {"format": "paths", "maps": [], "paths": paths, "summary": _summary(paths, None)}
    raise ProbeError(NO_INPUT)


def _summary(paths: List[dict], maps: Optional[int]) -> dict:
    return {
        "maps": maps,
        "paths": len(paths),
        "active": sum(1 for p in paths if p["dm_state"] == "active"),
        "failed": sum(1 for p in paths if p["dm_state"] == "failed"),
        "faulty": sum(1 for p in paths if p["checker_state"] == "faulty"),
    }


def _clean_lines(text: str) -> List[str]:
    text = text.translate(TYPOGRAPHIC).replace("\r\n", "\n").replace("\r", "\n")
    text = ANSI_RE.sub("", text).expandtabs(8)
    out: List[str] = []
    for raw in text.split("\n"):
        if LOG_RE.match(raw):
            continue
        pieces = [raw]
        for split_re in FLATTENED_RES:
            pieces = [part for piece in pieces for part in _split_keep_start(split_re, piece)]
        out.extend(pieces)
    return out


def _split_keep_start(split_re: Pattern, line: str) -> List[str]:
    """Split ``line`` at ``split_re`` unless the match is the line's own tree prefix."""
    first = TREE_RE.match(line).end()
    parts, start = [], 0
    for m in split_re.finditer(line):
        if m.start() <= first or not line[start : m.start()].strip():
            continue
        parts.append(line[start : m.start()])
        start = m.end()
    parts.append(line[start:])
    return parts


def _size_bytes(size: Optional[str]) -> Optional[int]:
    if not size:
        return None
    m = SIZE_RE.match(size.strip())
    if not m or not m.group(2):
        return None
    return int(round(float(m.group(1)) * 1024 ** SIZE_POWER[m.group(2).lower()]))


def _none_if_unknown(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip()
    return None if value in ("", "##", "undef", "[undef]", "n/a") else value


def _int_or_none(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Parser:
    def __init__(self) -> None:
        self.maps: List[dict] = []
        self.table_paths: List[dict] = []
        self.map: Optional[dict] = None
        self.group: Optional[dict] = None
        self.candidate: Optional[str] = None
        self.columns: Optional[List[Tuple[str, int]]] = None
        self.revisions: Dict[str, str] = {}

    # -- line dispatch -------------------------------------------------------------------
    def feed(self, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self.columns = None
            return
        if self.columns is not None:
            if self._table_row(line):
                return
            self.columns = None
        if self._table_header(line):
            return
        if self._props(stripped):
            return
        if self.map is not None and (self._group(line) or self._path(line)):
            return
        self.candidate = stripped

    def finish(self) -> None:
        for m in self.maps:
            if m["revision"] is None and m["wwid"] in self.revisions:
                m["revision"] = self.revisions[m["wwid"]]

    # -- map header and properties -------------------------------------------------------
    def _props(self, stripped: str) -> bool:
        if stripped.startswith("[size="):
            props = self._old_props(stripped)
        elif re.match(r"^size=\S+\s+features=", stripped):
            props = self._new_props(stripped)
        else:
            return False
        header = self._header(self.candidate)
        self.candidate = None
        self.group = None
        if header is None:
            self.map = None
            return True
        header.update(props)
        if header.pop("foreign") and (header["size"] or "").isdigit():
            header["size_bytes"] = int(header["size"]) * 512
        else:
            header["size_bytes"] = _size_bytes(header["size"])
        self.map = header
        self.maps.append(header)
        return True

    @staticmethod
    def _old_props(stripped: str) -> dict:
        props = {"size": None, "features": None, "hwhandler": None, "write_protect": None}
        for token in BRACKET_RE.findall(stripped):
            key, sep, value = token.partition("=")
            value = value.strip().strip('"')
            if sep and key == "size":
                props["size"] = value
            elif sep and key == "features":
                props["features"] = value
            elif sep and key == "hwhandler":
                props["hwhandler"] = value
            elif not sep and token in ("rw", "ro"):
                props["write_protect"] = token
        return props

    @staticmethod
    def _new_props(stripped: str) -> dict:
        values = {}
        for m in KV_RE.finditer(stripped):
            value = next(v for v in m.groups()[1:] if v is not None)
            values.setdefault(m.group(1), value)
        return {
            "size": values.get("size"),
            "features": _none_if_unknown(values.get("features")),
            "hwhandler": _none_if_unknown(values.get("hwhandler")),
            "write_protect": _none_if_unknown(values.get("wp")),
        }

    @staticmethod
    def _header(line: Optional[str]) -> Optional[dict]:
        if not line:
            return None
        nvme = NVME_HEADER_RE.match(line)
        m = nvme or HEADER_RE.match(line)
        if not m:
            return None
        if nvme:
            # Named by WWID; its block device is the namespace (nvme0n1), not a dm-N.
            name = wwid = nvme.group("wwid")
            dm = nvme.group("dev")
        else:
            name, wwid, dm = m.group("name"), m.group("wwid"), m.group("dm")
        alias = name if wwid and wwid != name else None
        vendor = product = revision = None
        vp = m.group("vp")
        if vp:
            parts = [p.strip() for p in vp.split(",")]
            vendor = _none_if_unknown(parts[0])
            product = _none_if_unknown(parts[1]) if len(parts) > 1 else None
            revision = _none_if_unknown(",".join(parts[2:])) if len(parts) > 2 else None
        return {
            "name": name,
            "wwid": wwid or name,
            "alias": alias,
            "dm": dm if dm and dm != "undef" else None,
            "vendor": vendor,
            "product": product,
            "revision": revision,
            "size": None,
            "size_bytes": None,
            "features": None,
            "hwhandler": None,
            "write_protect": None,
            "foreign": bool(nvme),
            "path_groups": [],
        }

    # -- path groups and paths -----------------------------------------------------------
    def _group(self, line: str) -> bool:
        body = line[TREE_RE.match(line).end() :]
        if body.startswith("policy="):
            values = {}
            for m in KV_RE.finditer(body):
                values.setdefault(m.group(1), next(v for v in m.groups()[1:] if v is not None))
            group = {
                "policy": _none_if_unknown(values.get("policy")),
                "priority": _int_or_none(values.get("prio")),
                "status": values.get("status"),
                "paths": [],
            }
        elif OLD_TREE_RE.match(line) and not PATH_RE.match(body):
            body = line[OLD_TREE_RE.match(line).end() :]
            first = body.find("[")
            selector = (body if first < 0 else body[:first]).strip()
            priority, status = None, None
            for token in BRACKET_RE.findall(body):
                key, sep, value = token.partition("=")
                if sep and key.strip() == "prio":
                    priority = _int_or_none(value.strip())
                elif not sep and token.strip() in PG_STATES:
                    status = token.strip()
            if not selector and priority is None and status is None:
                return False
            group = {
                "policy": selector or None,
                "priority": priority,
                "status": status,
                "paths": [],
            }
        else:
            return False
        self.map["path_groups"].append(group)
        self.group = group
        return True

    def _path(self, line: str) -> bool:
        body = line[TREE_RE.match(line).end() :].strip()
        m = PATH_RE.match(body)
        if not m:
            return False
        rest = (m.group("rest") or "").strip()
        brackets = BRACKET_RE.findall(rest)
        if brackets and rest.startswith("["):
            states = [b.strip() for b in brackets if b.strip() != "claimed"]
            dm_state = checker = online = None
            if len(states) == 1 and states[0] not in DM_PATH_STATES:
                checker = states[0]
            elif states:
                dm_state = states[0]
                checker = states[1] if len(states) > 1 else None
        else:
            tokens = rest.split()
            dm_state = tokens[0] if tokens else None
            checker = online = None
            if len(tokens) == 2:
                checker = tokens[1]
            elif len(tokens) >= 3:
                checker = " ".join(tokens[1:-1])
                online = tokens[-1]
        if self.group is None:
            self.group = {"policy": None, "priority": None, "status": None, "paths": []}
            self.map["path_groups"].append(self.group)
        path = {
            "hcil": m.group("hcil"),
            "device": m.group("dev"),
            "dev_t": m.group("dev_t"),
            "dm_state": None if dm_state == "n/a" else dm_state,
            "checker_state": checker,
            "online_state": online,
            "map": self.map["name"],
            "group": len(self.map["path_groups"]) - 1,
        }
        self.group["paths"].append(path)
        return True

    # -- path tables ---------------------------------------------------------------------
    def _table_header(self, line: str) -> bool:
        words = [(m.group(0), m.start()) for m in re.finditer(r"\S+", line)]
        names = [w for w, _ in words]
        found = set(names)
        # Devices and their states, or devices and their addresses: a format of the admin's
        # own ("show paths format '%d %T'") need not have the default's hcil and dev_t.
        states = found & {"dm_st", "chk_st", "dev_st"}
        address = found & {"hcil", "dev_t"} and found & {"pri", "dev_t"}
        if "dev" not in found or not (states or address):
            return False
        merged: List[Tuple[str, int]] = []
        i = 0
        while i < len(words):
            for combo in TABLE_MULTIWORD:
                if tuple(names[i : i + len(combo)]) == combo:
                    merged.append((" ".join(combo), words[i][1]))
                    i += len(combo)
                    break
            else:
                merged.append(words[i])
                i += 1
        self.columns = merged
        self.candidate = None
        return True

    def _table_row(self, line: str) -> bool:
        row = self._slice_row(line) or self._token_row(line)
        if row is None:
            return False
        hcil = row.get("hcil")
        path = {
            "hcil": hcil if hcil and HCIL_RE.match(hcil) else None,
            "device": row.get("dev"),
            "dev_t": row.get("dev_t"),
            "dm_state": _strip_brackets(row.get("dm_st")),
            "checker_state": _strip_brackets(row.get("chk_st")),
            "online_state": _strip_brackets(row.get("dev_st")),
            "map": _table_map(row.get("multipath")),
            "group": None,
        }
        if row.get("uuid") and row.get("vend/prod/rev"):
            parts = row["vend/prod/rev"].split(",")
            if len(parts) >= 3 and _none_if_unknown(parts[-1]):
                self.revisions.setdefault(row["uuid"], parts[-1].strip())
        self.table_paths.append(path)
        return True

    def _valid_row(self, row: dict) -> bool:
        if "dev" not in row or not row["dev"] or " " in row["dev"]:
            return False
        if "hcil" in row and not HCIL_RE.match(row["hcil"] or ""):
            return False
        if "dev_t" in row and not DEV_T_RE.match(row["dev_t"] or ""):
            return False
        return True

    def _slice_row(self, line: str) -> Optional[dict]:
        cols = self.columns
        row = {}
        for i, (name, start) in enumerate(cols):
            end = cols[i + 1][1] if i + 1 < len(cols) else len(line)
            row[name] = line[start:end].strip()
        return row if self._valid_row(row) else None

    def _token_row(self, line: str) -> Optional[dict]:
        tokens: List[str] = []
        for token in line.split():
            if tokens and tokens[-1] == "i/o":
                tokens[-1] = f"i/o {token}"
            elif token.startswith("[") and "][" in token:
                tokens.extend(f"[{t}]" for t in BRACKET_RE.findall(token))
            else:
                tokens.append(token)
        names = [name for name, _ in self.columns]
        if len(tokens) < len(names) - 1:
            return None
        row = dict(zip(names[:-1], tokens))
        row[names[-1]] = " ".join(tokens[len(names) - 1 :]) or None
        return row if self._valid_row(row) else None


def _strip_brackets(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip().strip("[]").strip()
    return value if value and value != "n/a" else None


def _table_map(value: Optional[str]) -> Optional[str]:
    if not value or value.startswith("["):
        return None
    return value
