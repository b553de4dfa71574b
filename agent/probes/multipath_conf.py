"""How long dm-multipath keeps queueing I/O when a LUN has lost every path.

Reads multipath.conf syntax, which is also what ``multipathd show config`` prints
(that one includes the built-in hardware table): ``section {`` ... ``}`` blocks holding
``keyword value`` lines, ``#`` and ``!`` comments, values optionally double-quoted.
Precedence, as libmultipath/propsel.c applies it: a ``multipaths`` entry for the WWID,
then ``overrides``, then the last matching ``devices`` entry (vendor and product are
regular expressions), then ``defaults``.

``no_path_retry``: ``queue`` queues forever, ``fail`` or 0 fails at once, N retries for
N checker rounds of ``polling_interval`` seconds (default 5).
"""

import re
from typing import List, Optional, Tuple

DEFAULT_POLLING_INTERVAL = 5
# A token that starts with # or ! opens a comment (libmultipath/parser.c).
COMMENT_RE = re.compile(r"(?:^|\s)[#!].*$")


def parse_multipath_conf(text: str) -> dict:
    """Sections of a multipath.conf: defaults, overrides, devices and multipaths."""
    conf: dict = {"defaults": {}, "overrides": {}, "devices": [], "multipaths": []}
    stack: List[Tuple[str, dict]] = []
    for raw in text.splitlines():
        line = COMMENT_RE.sub("", raw).strip()
        if not line:
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            parent = stack[-1][0] if stack else None
            block = conf[name] if parent is None and name in ("defaults", "overrides") else {}
            if parent in ("devices", "multipaths"):
                conf[parent].append(block)
            stack.append((name, block))
        elif line == "}":
            if stack:
                stack.pop()
        elif stack:
            keyword, _, value = line.partition(" ")
            stack[-1][1][keyword] = value.strip().strip('"')
    return conf


def _matches(pattern: Optional[str], value: Optional[str]) -> bool:
    if not pattern:
        return True
    try:
        return re.search(pattern, value or "") is not None
    except re.error:
        return False


def no_path_retry_for(
    conf: dict, *, wwid: Optional[str], vendor: Optional[str], product: Optional[str]
):
    """The `no_path_retry` value that applies to one map, and where it came from."""
    for entry in conf["multipaths"]:
        if entry.get("wwid") == wwid and "no_path_retry" in entry:
            return entry["no_path_retry"], "multipaths"
    if "no_path_retry" in conf["overrides"]:
        return conf["overrides"]["no_path_retry"], "overrides"
    found = None
    for entry in conf["devices"]:
        if (
            "no_path_retry" in entry
            and _matches(entry.get("vendor"), vendor)
            and _matches(entry.get("product"), product)
        ):
            found = (entry["no_path_retry"], f"device {entry.get('vendor')}/{entry.get('product')}")
    if found:
        return found
    if "no_path_retry" in conf["defaults"]:
        return conf["defaults"]["no_path_retry"], "defaults"
    return None, None


def queueing_for(conf: Optional[dict], map_: dict) -> dict:
    """How long I/O to `map_` is queued once its last path fails (None: without limit)."""
    conf = conf or {"defaults": {}, "overrides": {}, "devices": [], "multipaths": []}
    try:
        interval = int(conf["defaults"].get("polling_interval", DEFAULT_POLLING_INTERVAL))
    except ValueError:
        interval = DEFAULT_POLLING_INTERVAL
    value, source = no_path_retry_for(
        conf, wwid=map_.get("wwid"), vendor=map_.get("vendor"), product=map_.get("product")
    )
    features = map_.get("features") or ""
    if value is None:
        # Nothing configured: the map's live features say what the kernel does now.
        seconds = None if "queue_if_no_path" in features else 0
        source = "map features"
    elif value == "queue":
        seconds = None
    elif value == "fail" or not value.isdigit():
        seconds = 0
    else:
        seconds = int(value) * interval
    return {
        "map": map_.get("name"),
        "wwid": map_.get("wwid"),
        "no_path_retry": value,
        "polling_interval": interval,
        "queue_seconds": seconds,
        "source": source,
    }
