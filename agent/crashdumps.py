"""Crash dumps on the host: find new ones, describe them, and read what peers logged.

XenServer hosts keep one directory per crash under /var/crash (named after the time,
e.g. 20261125-061000-UTC) holding the hypervisor's console ring (xen.log), dom0's kernel
log (dom0.log), the crash-dump analyser's own log and the memory images. The agent
analyses each new one on the host and sends the console the result and the tail of every
log the analysis read (never the memory images).
"""

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Set

from .crash.rules import wall_time
from .fsutil import read_json, write_json
from .hostroot import HostRoot

logger = logging.getLogger(__name__)

CRASH_DIR = "var/crash"
REPORTED_FILE = "var/lib/o2cb-console/crashdumps-reported.json"
# Logs a surviving host keeps of its peers' deaths (Debian and XenServer dom0 names).
PEER_LOGS = ("var/log/kern.log", "var/log/messages", "var/log/syslog")
PEER_LINE_RE = re.compile(r"o2net|o2hb|o2dlm|o2quo|o2cb|ocfs2|\bdlm\b", re.I)
LOG_BYTES_KEPT = 256 * 1024
LOGS_KEPT = 20  # of one dump: an archive of a whole /var/log would be too much to send
PEER_LINES_KEPT = 400


def _reported(root: HostRoot) -> Set[str]:
    return set(read_json(root.path(REPORTED_FILE), []))


def new_dumps(root: HostRoot) -> List[Path]:
    """Crash dumps (directories, or archives dropped there) not yet sent to the console."""
    base = root.path(CRASH_DIR)
    if not base.is_dir():
        return []
    done = _reported(root)
    return sorted(p for p in base.iterdir() if p.name not in done and not p.name.startswith("."))


def mark_reported(root: HostRoot, name: str) -> None:
    write_json(root.path(REPORTED_FILE), sorted(_reported(root) | {name}))


def _tail(path: Path) -> dict:
    """The log's last LOG_BYTES_KEPT bytes from a line start, with that line's number (the
    evidence cites lines of the whole file)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        start = max(size - LOG_BYTES_KEPT, 0)
        handle.seek(0)
        head = b""
        lines_before = 0
        while handle.tell() < start:
            head = handle.read(min(1 << 20, start - handle.tell()))
            lines_before += head.count(b"\n")
        data = handle.read()
    return _from_line_start(data, lines_before, cut=bool(head) and not head.endswith(b"\n"))


def _streamed_tail(blocks) -> dict:
    """The same for a log read as a stream (a member of an archive, a compressed log)."""
    kept = b""
    lines_before = 0
    cut = False  # whether `kept` starts inside a line
    for block in blocks:
        kept += block
        if len(kept) > 2 * LOG_BYTES_KEPT:
            dropped, kept = kept[:-LOG_BYTES_KEPT], kept[-LOG_BYTES_KEPT:]
            lines_before += dropped.count(b"\n")
            cut = not dropped.endswith(b"\n")
    if len(kept) > LOG_BYTES_KEPT:
        dropped, kept = kept[:-LOG_BYTES_KEPT], kept[-LOG_BYTES_KEPT:]
        lines_before += dropped.count(b"\n")
        cut = not dropped.endswith(b"\n")
    return _from_line_start(kept, lines_before, cut)


def _from_line_start(data: bytes, lines_before: int, cut: bool) -> dict:
    if cut:
        end = data.find(b"\n") + 1  # the end of a line cut in two
        data, lines_before = data[end:], lines_before + (1 if end else 0)
    return {"first_line": lines_before + 1, "text": data.decode("utf-8", errors="replace")}


def kept_logs(path: Path, analysis: dict) -> Dict[str, dict]:
    """The tail of every log the analysis of `path` read (a dump directory, a log or an
    archive of either), by the name its evidence cites it by: what a bug report needs.
    At most LOGS_KEPT: the cited ones, then the others in the order they were read."""
    from .crash.archive import open_input

    cited = {item["file"] for item in analysis.get("evidence", [])}
    read = [item["file"] for item in analysis.get("files", []) if item.get("read")]
    wanted = set(sorted(read, key=lambda name: name not in cited)[:LOGS_KEPT])
    logs = {}
    for source in open_input(path):
        if source.skipped or source.name not in wanted or source.name in logs:
            continue
        logs[source.name] = (
            _tail(source.path) if source.path is not None else _streamed_tail(source.blocks())
        )
    return logs


def describe_dump(path: Path) -> dict:
    """What the console stores about one dump: its files, the analysis, the logs it read."""
    from .crash import analyse_path

    files = (
        [p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()]
        if path.is_dir()
        else [path]
    )
    listing = [
        {"name": str(p.relative_to(path)) if path.is_dir() else p.name, "size": p.stat().st_size}
        for p in files
    ]
    analysis = analyse_path(path)  # it falls back on the time the dump is named after
    return {
        "name": path.name,
        "files": listing,
        "size": sum(item["size"] for item in listing),
        "analysis": analysis,
        "logs": kept_logs(path, analysis),
    }


def dump_report(path: Path) -> dict:
    """describe_dump, or for a dump that cannot be analysed, what is known of it and why
    (an unreadable dump is still news)."""
    try:
        return describe_dump(path)
    except Exception as exc:
        logger.warning("could not analyse crash dump %s", path, exc_info=True)
        return {
            "name": path.name,
            "files": [],
            "size": 0,
            "logs": {},
            "analysis": None,
            "error": str(exc),
        }


def peer_log_lines(root: HostRoot, since: datetime, until: datetime) -> List[dict]:
    """O2CB, DLM and OCFS2 lines this host logged between two times (a peer's death,
    recovery and journal replay), read line by line."""
    lines = []
    seen = set()
    for relative in PEER_LOGS:
        path = root.path(relative)
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if not PEER_LINE_RE.search(text):
                    continue
                # Syslog omits the year: the window's, or the year before across New Year.
                stamp = wall_time(text, until.year, not_after=until)
                if stamp is None or not since <= stamp <= until:
                    continue
                # rsyslog writes a kernel message to kern.log, messages and syslog alike:
                # the first file's copy is the line.
                if text in seen:
                    continue
                seen.add(text)
                lines.append(
                    {
                        "file": relative,
                        "line": number,
                        "time": stamp.isoformat(),
                        "text": text.rstrip("\r\n")[:1000],
                    }
                )
    lines.sort(key=lambda item: item["time"])
    return lines[-PEER_LINES_KEPT:]
