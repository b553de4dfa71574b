"""From the events of each log to one verdict: fenced by O2CB, fenced by HA, or a bug.

Per log (source), the incident is what ended the system last: the last terminal event (a
fence, a panic, the hypervisor's watchdog) with the events of the same boot in the
``WINDOW_BYTES`` of log before it; a log without one offers its last boot's failures
(lockups, oopses, a heartbeat timeout whose fence message never reached the disk).

Across the logs of one dump, O2CB's own fence message wins (its panic is the crash), then
a fire of the Xen watchdog for domain 0 or xhad's self-fence, then a heartbeat timeout
left without its fence message, then software failures, hypervisor and kernel alike.

A large plain log is read from its last ``TAIL_BYTES`` first: when they hold a terminal
event and its whole window, the verdict is the one a full scan gives (the window rule
is the same), and only the newlines before are counted, for line numbers. Otherwise, and
for compressed or archived logs, the log is scanned whole, once, from the start.
"""

import re
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Deque, Dict, Iterable, List, Optional, Set, Tuple, Union

from . import rules, trace
from .archive import DAMAGED, CrashInputError, Source, open_input
from .prefilter import scan_file
from .rules import Event
from .scan import BLOCK_BYTES, CONTEXT_BYTES, Hit, line_blocks, scan

WINDOW_BYTES = 2 << 20  # of log before a terminal event that belongs to its incident
WINDOW_EVENTS = 2000
STORM_BYTES = 64 << 10  # a repeat of the same failure this close gets no context of its own
EPOCH_HEAD = 200
EPOCH_TAIL = 50
AFTER_EVENTS = 50
# A plain log this large is read from its end first: what ended the system is there.
TAIL_BYTES = 4 << 20
EVIDENCE_MAX = 20
END_BYTES = 16 << 10  # of a log's end kept to tell when it stops
# A log that ends this long before the time its dump is named after stopped early.
STOPPED_EARLY_SECONDS = 60

# A fence follows its heartbeat write timeout at once: a host still logging this long
# after one was not fenced by it.
RAN_ON_SECONDS = 60

# What a boot must log for a log's verdict to read it rather than an earlier boot: one
# that only logged its heartbeat starting or its peers connecting is the host come back.
WORTH_READING = rules.FAILURES.union({rules.O2HB_TIMEOUT})

NEEDS_CONTEXT = rules.FAILURES.union(rules.O2CB_FENCES, rules.XHAD_FENCES, {rules.O2HB_TIMEOUT})
DUMP_TIME_RE = re.compile(r"(?<!\d)(?P<date>20\d{6})-(?P<time>\d{6})(?:-(?P<zone>[A-Z]{2,5}))?")
GUEST_LOG_RE = re.compile(r"(?:^|/)dom[1-9]\d*\.log$")
O2HB_COMM_RE = re.compile(r"\(o2hb-(?P<region>[0-9A-Fa-f]+),\d+,\d+\)")


class Incident:
    """A terminal event, the events of its window before it and those after it."""

    __slots__ = ("terminal", "events", "floor", "after")

    def __init__(self, terminal: Event, events: List[Event], floor: int):
        self.terminal = terminal
        self.events = events
        self.floor = floor  # file offset where the incident's window starts
        self.after: List[Event] = []


class SourceLog:
    """The events of one log as they stream past, kept as far as the verdict needs them."""

    def __init__(self, name: str):
        self.name = name
        self.window: Deque[Event] = deque()
        self.epoch_start = 0
        self.incident: Optional[Incident] = None
        self.head: List[Event] = []
        self.tail: Deque[Event] = deque(maxlen=EPOCH_TAIL)
        self.last_epoch: List[Event] = []  # of the last boot worth reading, else the last
        self.last_epoch_worth = False
        self.context_at: Dict[str, int] = {}
        self.after_open = False
        self.uptime: Optional[float] = None
        self.end = b""  # the log's last END_BYTES: when it stops
        self.last_line = 0  # of the last event

    def add(self, hit: Hit) -> None:
        previous = hit.previous_line()
        classified = rules.classify_wrapped(hit.text, previous, hit.next_line())
        if classified is None:
            return
        kind, fields, from_previous, message = classified
        if from_previous and previous is not None:
            # A wrapped message whose needle is on its continuation: cite its first line.
            line, pos = hit.line - 1, hit.pos - len(previous.encode("utf-8", "replace")) - 1
            if line == self.last_line:
                return  # read already, from its first line
            event = Event(kind, self.name, line, pos, previous, fields, message)
        else:
            event = Event(kind, self.name, hit.line, hit.pos, hit.text, fields, message)
        self.last_line = event.line
        # A new boot: the kernel's or Xen's clock went back (or Linux announced itself).
        uptime = rules.uptime(hit.text)
        rebooted = uptime is not None and self.uptime is not None and uptime < self.uptime - 1
        if uptime is not None:
            self.uptime = uptime
        if kind == rules.BOOT or rebooted:
            self._close_epoch()
            self.epoch_start = hit.pos
            self.window.clear()
            self.after_open = False
            if kind == rules.BOOT:
                return
        if kind in NEEDS_CONTEXT:
            earlier = self.context_at.get(kind)
            if earlier is None or hit.pos - earlier > STORM_BYTES:
                event.before, event.after = hit.context()
                if event.line < hit.line and event.before:
                    event.before, event.after = event.before[:-1], [hit.text, *event.after]
                self.context_at[kind] = hit.pos
        floor = max(hit.pos - WINDOW_BYTES, self.epoch_start)
        while self.window and (self.window[0].pos < floor or len(self.window) >= WINDOW_EVENTS):
            self.window.popleft()
        self.window.append(event)
        if len(self.head) < EPOCH_HEAD:
            self.head.append(event)
        else:
            self.tail.append(event)
        if event.terminal:
            self.incident = Incident(event, list(self.window), floor)
            self.after_open = True
        elif self.after_open and self.incident and len(self.incident.after) < AFTER_EVENTS:
            self.incident.after.append(event)

    def _close_epoch(self) -> None:
        """End a boot's events; one shut down in order is no crash to read."""
        events = self.head + list(self.tail)
        in_order = any(e.kind == rules.CLEAN_SHUTDOWN for e in events)
        worth = not in_order and any(e.kind in WORTH_READING for e in events)
        if events and (worth or not self.last_epoch_worth):
            self.last_epoch, self.last_epoch_worth = events, worth
        self.head, self.tail = [], deque(maxlen=EPOCH_TAIL)

    def finish(self) -> "SourceLog":
        self._close_epoch()
        return self

    def shift_lines(self, offset: int) -> None:
        """Renumber a finished log read from a line `offset` lines into its file."""
        seen: Set[int] = set()
        events = [*self.last_epoch, *self.window]
        if self.incident:
            events += [self.incident.terminal, *self.incident.events, *self.incident.after]
        for event in events:
            if id(event) not in seen:
                seen.add(id(event))
                event.line += offset


def scan_source(source: Source) -> SourceLog:
    """Scan one log; a large plain file from its tail first, whole only when needed."""
    log = _scan_source(source)
    if source.path is not None:
        with open(source.path, "rb") as handle:
            handle.seek(max(source.size - END_BYTES, 0))
            log.end = handle.read()
    return log


def _scan_source(source: Source) -> SourceLog:
    if source.path is not None and source.size > 2 * TAIL_BYTES:
        with open(source.path, "rb") as handle:
            handle.seek(source.size - TAIL_BYTES)
            head = handle.read(CONTEXT_BYTES)
            origin = source.size - TAIL_BYTES + head.find(b"\n") + 1
            if head.find(b"\n") >= 0:
                handle.seek(origin)
                log = SourceLog(source.name)
                for hit in scan(_read_blocks(handle), origin=origin, first_line=1):
                    log.add(hit)
                incident = log.incident
                if incident and incident.floor - STORM_BYTES - CONTEXT_BYTES >= origin:
                    handle.seek(0)
                    earlier = sum(block.count(b"\n") for block in _read_blocks(handle, origin))
                    log.finish().shift_lines(earlier)
                    return log
    log = SourceLog(source.name)
    hits = scan_file(source.path) if source.path is not None else None
    for hit in scan(_keeping_end(source.blocks(), log)) if hits is None else hits:
        log.add(hit)
    return log.finish()


def _keeping_end(blocks: Iterable[bytes], log: SourceLog):
    """The blocks, the last END_BYTES of them kept as the log's end."""
    for block in blocks:
        log.end = block[-END_BYTES:] if len(block) >= END_BYTES else (log.end + block)[-END_BYTES:]
        yield block


def _read_blocks(handle, limit: Optional[int] = None):
    remaining = limit
    while remaining is None or remaining > 0:
        block = handle.read(BLOCK_BYTES if remaining is None else min(BLOCK_BYTES, remaining))
        if not block:
            return
        if remaining is not None:
            remaining -= len(block)
        yield block


def analyse_path(path: Union[str, Path]) -> dict:
    """Analyse a crash dump directory, a log file or an archive of either."""
    path = Path(path)
    try:
        logs, files = _read_all(path)
    except DAMAGED as error:
        raise CrashInputError(f"{path.name}: cannot be read ({error}).") from None
    names = [path.name, *(item["file"] for item in files)]
    return decide(logs, files, _dump_time(names), _reference_time(path, names))


def _read_all(path: Path) -> Tuple[List[SourceLog], List[dict]]:
    logs: List[SourceLog] = []
    files: List[dict] = []
    for source in open_input(path):
        if source.skipped:
            files.append({"file": source.name, "read": False, "reason": source.skipped})
        elif GUEST_LOG_RE.search(source.name):
            files.append(
                {"file": source.name, "read": False, "reason": "a guest's console, not the host's"}
            )
        else:
            logs.append(scan_source(source))
            entry = {"file": source.name, "read": True}
            if source.truncated:
                entry["truncated"] = True
            files.append(entry)
    return logs, files


def analyse_lines(named_line_sources: Iterable[Tuple[str, Iterable[Union[str, bytes]]]]) -> dict:
    """Analyse logs given as (name, lines) pairs, e.g. lines a console already holds."""
    logs, files = [], []
    for name, lines in named_line_sources:
        log = SourceLog(name)
        for hit in scan(_keeping_end(line_blocks(lines), log)):
            log.add(hit)
        logs.append(log.finish())
        files.append({"file": name, "read": True})
    names = [item["file"] for item in files]
    dump_time = _dump_time(names)
    return decide(logs, files, dump_time, dump_time or datetime.now(timezone.utc))


def _dump_time(names: List[str]) -> Optional[datetime]:
    """The time in a XenServer dump directory's name (20261125-061000-UTC)."""
    for name in names:
        match = DUMP_TIME_RE.search(name)
        if match and match["zone"] in (None, "UTC", "GMT"):
            try:
                return datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S").replace(
                    tzinfo=timezone.utc
                )
            except ValueError:
                continue
    return None


def _reference_time(path: Path, names: List[str]) -> datetime:
    """When the logs were last written, for syslog lines, which omit the year."""
    stamp = _dump_time(names)
    if stamp:
        return stamp
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except OSError:
        return datetime.now(timezone.utc)


# ---------------------------------------------------------------- the verdict


class Clock:
    """Turns line stamps into times: syslog omits the year, which `reference` gives."""

    def __init__(self, dump_time: Optional[datetime], reference: datetime):
        self.dump_time = dump_time
        self.reference = reference

    def time_of(self, event: Event, related: List[Event]) -> Optional[str]:
        """The wall-clock time of an event, else of the nearest line before it with one,
        else the dump directory's."""
        candidates = [event.text, *reversed(event.before)]
        candidates += [
            e.text for e in reversed(related) if e.source == event.source and e.line < event.line
        ]
        for text in candidates:
            stamp = rules.wall_time(text, self.reference.year, not_after=self.reference)
            if stamp:
                return stamp.isoformat()
        return self.dump_time.isoformat() if self.dump_time else None


def decide(logs: List[SourceLog], files: List[dict], dump_time, reference: datetime) -> dict:
    clock = Clock(dump_time, reference)
    terminal = [log.incident for log in logs if log.incident]
    o2cb = [i for i in terminal if i.terminal.kind in rules.O2CB_FENCES]
    if o2cb:
        return _o2cb_result(_prefer(o2cb, rules.O2CB_FENCE), files, clock)
    xhad = [i for i in terminal if i.terminal.kind in rules.XHAD_FENCES]
    if xhad:
        return _xhad_result(xhad, logs, files, clock)
    for log in logs:
        timeout = None if log.incident else _unfenced_timeout(log.last_epoch, clock)
        if timeout:
            return _o2cb_result(Incident(timeout, log.last_epoch, 0), files, clock)
    return _bug_result(logs, files, clock)


def _prefer(incidents: List[Incident], kind: str) -> Incident:
    """The incident whose terminal event is of `kind`, else the first."""
    return next((i for i in incidents if i.terminal.kind == kind), incidents[0])


def _unfenced_timeout(events: List[Event], clock: "Clock") -> Optional[Event]:
    """A heartbeat write timeout that nothing worse followed and the host did not outlive:
    the fence message was lost."""
    last = None
    for event in events:
        if event.kind == rules.O2HB_TIMEOUT:
            last = event
        elif last and rules.FAILURE_TIER.get(event.kind, 9) <= 1:
            last = None
    if last and _outlived(last, [e.text for e in events if e.line > last.line], clock):
        return None
    return last


def _outlived(timeout: Event, later: List[str], clock: "Clock") -> bool:
    """Whether the host went on after a heartbeat write timeout: it shut down in order, or
    logged for longer than a fence takes. With global heartbeat a timeout on fewer than
    half of the regions does not fence (heartbeat.c o2hb_write_timeout).

    Read from the lines after the timeout and the later events of its boot, up to the next
    boot. The kernel's clock (dmesg stamps) shows it ran on; a wall clock does only when no
    boot follows in the lines read: a host that fenced logs again minutes later, from its
    next boot, and syslog daemons log their own start before the kernel's first lines.
    """
    year, reference = clock.reference.year, clock.reference
    since_boot = rules.uptime(timeout.text)
    written = rules.wall_time(timeout.text, year, not_after=reference)
    wall_clock_ran_on = False
    for text in [*timeout.after, *later]:
        uptime = rules.uptime(text)
        kind = (rules.classify(text) or ("",))[0]
        if kind == rules.BOOT or (
            uptime is not None and since_boot is not None and uptime < since_boot
        ):
            return False  # the next boot: the host stopped right after the timeout
        if kind == rules.CLEAN_SHUTDOWN:
            return True
        if uptime is not None and since_boot is not None:
            if uptime - since_boot > RAN_ON_SECONDS:
                return True
            continue
        stamp = rules.wall_time(text, year, not_after=reference)
        if stamp and written and (stamp - written).total_seconds() > RAN_ON_SECONDS:
            wall_clock_ran_on = True
    return wall_clock_ran_on


def _all_events(events: Iterable[Event]) -> List[Event]:
    """The events and those found in their context lines, once each, in line order."""
    events = list(events)
    found: Dict[Tuple[str, int], Event] = {}
    for event in events:
        found.setdefault((event.source, event.line), event)
    for event in events:
        lines = [*event.before, event.text, *event.after]
        first = event.line - len(event.before)
        for index in range(len(lines)):
            if index != len(event.before):
                _add_context_event(found, event, lines, index, first)
    return sorted(found.values(), key=lambda e: (e.source, e.line))


def _add_context_event(found: dict, owner: Event, lines: List[str], index: int, first: int):
    """The event of `lines[index]`, line `first + index` of the owner's log, if new."""
    previous = lines[index - 1] if index else None
    following = lines[index + 1] if index + 1 < len(lines) else None
    classified = rules.classify_wrapped(lines[index], previous, following)
    if classified and classified[0] != rules.BOOT:
        kind, fields, from_previous, message = classified
        at = index - 1 if from_previous else index
        key = (owner.source, first + at)
        if key not in found:
            found[key] = Event(kind, owner.source, first + at, -1, lines[at], fields, message)


def _last(events: List[Event], *kinds: str) -> Optional[Event]:
    return next((e for e in reversed(events) if e.kind in kinds), None)


def _base(cause: str, explanation: str, evidence: List[Event], crash_time, details, files):
    seen, cited = set(), []
    for event in evidence:
        key = (event.source, event.line)
        if key not in seen:
            seen.add(key)
            cited.append(event.evidence())
    cited.sort(key=lambda item: (item["file"], item["line"]))
    return {
        "cause": cause,
        "explanation": explanation,
        "evidence": cited[:EVIDENCE_MAX],
        "crash_time": crash_time,
        "details": details,
        "signature": "",
        "files": files,
    }


def _with_uptime(details: dict, event: Event) -> None:
    seconds = rules.uptime(event.text)
    if seconds is not None:
        details["uptime_seconds"] = seconds


# ---------------------------------------------------------------- O2CB


def _o2cb_result(incident: Incident, files, clock: Clock) -> dict:
    events = _all_events([*incident.events, incident.terminal, *incident.after])
    fence = _last(events, rules.O2CB_FENCE)
    quorum = _last(events, rules.O2CB_QUORUM)
    timeout = _last(events, rules.O2HB_TIMEOUT)
    idle = [
        e for e in events if e.kind == rules.O2NET_IDLE and (not quorum or e.line < quorum.line)
    ]
    stop = _last(events, rules.O2CB_STOP)
    method = fence.fields["method"] if fence else None
    details: dict = {"fence_method": method}
    evidence = [e for e in (timeout, quorum, stop, fence) if e]
    mechanism = details["mechanism"] = _o2cb_mechanism(quorum, idle, timeout)
    if mechanism == "disk_heartbeat" and timeout:
        details["device"] = timeout.fields["device"]
        details["timeout_ms"] = timeout.fields["timeout_ms"]
        region = _region(events, timeout)
        if region:
            details["region"] = region
        evidence += [e for e in events if e.kind == rules.O2HB_HUNG]
    if mechanism == "network":
        peer = idle[-1]
        details.update(
            node=peer.fields["node"],
            node_number=peer.fields["node_number"],
            address=peer.fields["address"],
            idle_seconds=peer.fields["idle_seconds"],
        )
        peers = sorted({e.fields["node"] for e in idle})
        if len(peers) > 1:
            details["peers"] = peers
        evidence += idle
    if quorum:
        details["quorum"] = {
            key: quorum.fields[key]
            for key in ("connected", "needed", "heartbeating", "lowest_node")
            if key in quorum.fields
        }
    cluster = _last(events, rules.O2CB_CLUSTER)
    if cluster:
        details["cluster"] = cluster.fields["cluster"]
    last = fence or stop or quorum or timeout or incident.terminal
    _with_uptime(details, last)
    explanation = _o2cb_explanation(details, fence is not None or stop is not None)
    return _base(
        "o2cb",
        explanation,
        evidence or [incident.terminal],
        clock.time_of(last, events),
        details,
        files,
    )


def _o2cb_mechanism(quorum, idle, timeout) -> str:
    """What failed first: a quorum lost after an idle peer is the network's doing; a disk
    heartbeat timeout outweighs an idle peer without a quorum loss."""
    if quorum:
        return "network" if idle else "quorum"
    if timeout:
        return "disk_heartbeat"
    return "network" if idle else "unknown"


def _region(events: List[Event], timeout: Event) -> Optional[str]:
    device = timeout.fields["device"]
    for event in reversed(events):
        if event.kind in (rules.O2HB_REGION, rules.O2HB_HUNG) and event.fields.get("device") in (
            device,
            device.strip("()"),
        ):
            return event.fields["region"]
    match = O2HB_COMM_RE.search(timeout.text)
    return match["region"] if match else None


def _o2cb_explanation(details: dict, fenced: bool) -> str:
    how = {
        "panic": "panicked on purpose (fence method panic, which leaves a crash dump)",
        "reset": "restarted itself at once (fence method reset)",
    }.get(details["fence_method"], "fenced itself")
    explain = {
        "disk_heartbeat": _disk_heartbeat_text,
        "network": _network_text,
        "quorum": _quorum_text,
    }.get(details["mechanism"])
    if explain is None:
        return (
            f"O2CB fenced this host: it {how}. The log does not show whether its disk "
            "heartbeat or its cluster network failed first; check both the storage paths and "
            "the cluster network around the crash time."
        )
    return explain(details, how, fenced)


def _disk_heartbeat_text(details: dict, how: str, fenced: bool) -> str:
    seconds = details["timeout_ms"] / 1000
    text = (
        f"O2CB fenced this host: its heartbeat writes to {details['device']} did not "
        f"complete for {seconds:.1f} s ({details['timeout_ms']} ms), longer than the "
        f"heartbeat dead threshold, so the host {how}: its peers could then recover its "
        "locks and journals safely. The storage path failed, not the host: fix the path to "
        f"{details['device']} (multipath paths, HBA, cabling, switch ports, the array's "
        "controller logs at that time); if the array can stall this long during normal "
        "events such as a controller failover, raise O2CB_HEARTBEAT_THRESHOLD on every host."
    )
    if not fenced:
        text += (
            " The fence message itself is not in the log (a restart leaves no time to "
            "write it), but nothing else followed the timeout."
        )
    return text


def _network_text(details: dict, how: str, fenced: bool) -> str:
    quorum = details.get("quorum")
    numbers = (
        f" (connected to {quorum['connected']} node(s), {quorum['needed']} needed out of "
        f"{quorum['heartbeating']} heartbeating)"
        if quorum and "heartbeating" in quorum
        else ""
    )
    if quorum and "lowest_node" in quorum:
        numbers = (
            f" (it reached {quorum['connected']} of {quorum['heartbeating']} heartbeating "
            f"nodes, a half without the lowest node, {quorum['lowest_node']})"
        )
    return (
        f"O2CB fenced this host: its cluster network connection to node "
        f"{details['node']} (number {details['node_number']}, {details['address']}) "
        f"was idle for {details['idle_seconds']:g} s, so the host lost quorum{numbers} "
        f"and {how}. Fix the cluster network between the two hosts: bond slaves, "
        "cables, switch ports and VLANs of the interconnect; raise O2CB's idle timeout "
        "only if the network is known to pause that long."
    )


def _quorum_text(details: dict, how: str, fenced: bool) -> str:
    quorum = details["quorum"]
    if "lowest_node" in quorum:
        reason = (
            f"it could reach only half of the {quorum['heartbeating']} heartbeating "
            f"nodes ({quorum['connected']}), and not the half holding the lowest node "
            f"({quorum['lowest_node']})"
        )
    else:
        reason = (
            f"it was connected to only {quorum['connected']} node(s) while "
            f"{quorum['needed']} were needed for a quorum of {quorum['heartbeating']} "
            "heartbeating nodes"
        )
    return (
        f"O2CB fenced this host because it lost quorum: {reason}; it {how}. Check the "
        "cluster network shared by the hosts (bonds, switches): several peers became "
        "unreachable at once."
    )


# ---------------------------------------------------------------- XenServer HA


def _xhad_result(incidents: List[Incident], logs, files, clock: Clock) -> dict:
    events = _all_events(
        [e for i in incidents for e in (*i.events, i.terminal, *i.after)]
        + [e for log in logs for e in log.last_epoch if e.kind == rules.XHA_FENCE]
    )
    fired = _last(events, rules.XEN_WATCHDOG)
    hwdom = _last(events, rules.XEN_HWDOM_WATCHDOG)
    fences = [e for e in events if e.kind in (rules.XHA_FENCE, rules.XHA_WATCHDOG_EXPIRED)]
    details: dict = {}
    evidence = [e for e in (fired, hwdom) if e] + fences
    if fired or hwdom:
        details["watchdog"] = "xen_domain_watchdog"
        details["domain"] = (fired or hwdom).fields.get("domain", 0)
        if fired and "watchdog_id" in fired.fields:
            details["watchdog_id"] = fired.fields["watchdog_id"]
        details["hypervisor_action"] = "watchdog rebooting machine" if hwdom else None
    else:
        details["watchdog"] = "xha_self_fence"
    reasons = [e.fields["reason"] for e in fences if e.fields.get("reason")]
    if reasons:
        details["xha_reason"] = reasons[-1]
    expired = _last(events, rules.XHA_WATCHDOG_EXPIRED)
    if expired:
        details["xha_watchdog"] = expired.fields.get("label")
    # What dom0 logged before (a storage stall or a hang that kept xhad from running).
    troubles = [
        e
        for log in logs
        for e in (log.incident.events if log.incident else log.last_epoch)
        if e.kind in rules.FAILURES or e.kind in (rules.O2HB_TIMEOUT, rules.O2NET_IDLE)
    ]
    if troubles:
        details["dom0_before"] = troubles[0].text[:300]
        evidence.append(troubles[0])
    last = fired or hwdom or fences[-1]
    _with_uptime(details, last)
    if fired or hwdom:
        timer = f" (timer {details['watchdog_id']})" if "watchdog_id" in details else ""
        text = (
            f"XenServer HA fenced this host: Xen's watchdog for domain 0{timer} fired "
            "because HA's daemon (xhad) stopped resetting it, and Xen rebooted the machine. "
        )
    else:
        text = "XenServer HA's daemon (xhad) fenced this host itself. "
    if reasons:
        text += f"xhad's reason: {reasons[-1].rstrip('. ')}. "
    text += (
        "xhad fences when it loses the HA statefile (its storage path) or the HA network "
        "heartbeat to the other hosts, or when dom0 hangs and cannot run it. Check the "
        "storage path to the HA statefile SR and the management network; /var/log/xha.log "
        "on this host says which it lost."
    )
    if troubles:
        text += " Before the fence dom0 logged: " + trace.message(troubles[0].text)[:200]
    return _base("xhad", text, evidence, clock.time_of(last, events), details, files)


# ---------------------------------------------------------------- software bugs

DESCRIPTIONS = {
    rules.KERNEL_BUG: "the kernel hit a BUG() assertion at {location}",
    rules.XEN_BUG: "the hypervisor hit a BUG() assertion at {location}",
    rules.NULL_POINTER: "the kernel dereferenced a NULL pointer",
    rules.PAGING_FAULT: "the kernel accessed an address that is not mapped",
    rules.PROTECTION_FAULT: "the kernel took a general protection fault",
    rules.OOPS: "the kernel oopsed",
    rules.SOFT_LOCKUP: "CPU {cpu} was stuck in the kernel for {seconds} s (soft lockup)",
    rules.HARD_LOCKUP: "a CPU stopped taking interrupts (hard lockup, NMI watchdog)",
    rules.XEN_CPU_STUCK: "the hypervisor's NMI watchdog found CPU {cpu} stuck",
    rules.HUNG_TASK: "task {task} was blocked for more than {seconds} s (hung task)",
    rules.OTHER_BUG: "the kernel reported a bug: {what}",
    rules.KERNEL_PANIC: "the kernel panicked: {reason}",
    rules.XEN_PANIC: "the hypervisor panicked: {failure}",
    rules.XEN_DOM0_CRASHED: "dom0 crashed (the hypervisor's log says so; dom0's own log, "
    "which would hold the reason, was not found)",
}


def _root(events: List[Event]) -> Optional[Event]:
    """The failure that explains the others: the worst kind, the first of that kind."""
    failures = [e for e in events if e.kind in rules.FAILURES]
    if not failures:
        return None
    return min(failures, key=lambda e: (rules.FAILURE_TIER[e.kind], e.line))


def _bug_candidates(logs: List[SourceLog]):
    """(rank, terminal, events, root) for each log with a failure, best first."""
    ranked = []
    for order, log in enumerate(logs):
        if log.incident:
            terminal = log.incident.terminal
            events = [*log.incident.events, *log.incident.after]
            weak = terminal.kind == rules.XEN_DOM0_CRASHED
            root = _root(events)
            if root:
                rank = (1 if weak else 0, rules.FAILURE_TIER[root.kind], order)
                ranked.append((rank, terminal, events, root))
        else:
            root = _root(log.last_epoch)
            if root:
                rank = (2, rules.FAILURE_TIER[root.kind], order)
                ranked.append((rank, None, log.last_epoch, root))
    ranked.sort(key=lambda item: item[0])
    return ranked


def _bug_result(logs, files, clock: Clock) -> dict:
    candidates = _bug_candidates(logs)
    if not candidates:
        return _nothing_found(logs, files, clock)
    _rank, terminal, events, root = candidates[0]
    root = _failure_named_by_panic(root)
    failure_text = _failure_text(root)
    location = root.fields.get("location")
    faulting, rip = _faulting(root) or (None, None)
    frames = trace.call_trace(root.before, last=True) if root.kind in rules.TRACE_BEFORE else []
    frames = frames or trace.call_trace(root.after)
    top = trace.top_frames(faulting, frames)
    details: dict = {
        "kind": root.kind,
        "failure": failure_text,
        "where": "hypervisor" if root.kind.startswith("xen_") else "kernel",
    }
    if location:
        details["location"] = location + (
            f":{root.fields['source_line']}" if "source_line" in root.fields else ""
        )
    function, module = faulting or (None, None)
    if function is None and top:
        function = top[0]
        module = next((m for f, m in frames if f == function), None)
    if function:
        details["function"] = function
    if module:
        details["module"] = module
    details["frames"] = top
    if terminal and terminal is not root and terminal.kind == rules.KERNEL_PANIC:
        details["panic"] = terminal.fields.get("reason", "")
    for key in ("cpu", "seconds", "task"):
        if key in root.fields:
            details[key] = root.fields[key]
    _with_uptime(details, root)
    evidence = [root]
    if rip:
        evidence.append(rip)
    if terminal and terminal is not root:
        evidence.append(terminal)
    explanation = _bug_explanation(root, terminal, failure_text, details)
    result = _base(
        "bug",
        explanation,
        evidence,
        clock.time_of(terminal or root, events),
        details,
        files,
    )
    result["signature"] = trace.signature(root.kind, location, top, failure_text)
    return result


def _failure_named_by_panic(root: Event) -> Event:
    """A panic whose reason is a failure's own words, as that failure: 2.6.36 to 3.x panic
    with "Watchdog detected hard LOCKUP on cpu 9" and print no line of it before."""
    if root.kind != rules.KERNEL_PANIC:
        return root
    inner = rules.classify(root.fields.get("reason", ""))
    if inner is None or inner[0] not in rules.FAILURES or inner[0] == rules.KERNEL_PANIC:
        return root
    event = Event(inner[0], root.source, root.line, root.pos, root.text, inner[1], root.message)
    event.before, event.after = root.before, root.after
    return event


def _bug_explanation(root: Event, terminal, failure_text: str, details: dict) -> str:
    description = DESCRIPTIONS[root.kind].format_map(
        _Defaults({**root.fields, "failure": failure_text})
    )
    function, module = details.get("function"), details.get("module")
    where = f" in {function}" + (f" ({module})" if module else "") if function else ""
    if terminal is None:
        ending = (
            "The log ends after it with no panic or fence: the host probably hung and was "
            "reset from outside. "
        )
    else:
        ending = ""
    return (
        f"A software failure, not a fence, ended this host: {description}{where}. {ending}"
        "Send the bug report bundle (failure, stack and signature) to the vendor of "
        f"{'the hypervisor' if details['where'] == 'hypervisor' else 'the kernel or module'}; "
        "crashes with the same signature are the same bug."
    )


class _Defaults(dict):
    def __missing__(self, key):
        return "?"


def _failure_text(root: Event) -> str:
    if root.kind == rules.XEN_PANIC:
        # "Panic on CPU 0:" is followed by the reason: "FATAL TRAP: vector = 14 (page
        # fault)", "Xen BUG at ...", "Assertion '...' failed at ...".
        for text in root.after[:4]:
            body = trace.message(text).strip()
            if body and not body.startswith("*"):
                return body
    return trace.message(root.message).strip()


def _faulting(root: Event) -> Optional[Tuple[Tuple[str, Optional[str]], Event]]:
    """(function, module) the CPU was in, from the RIP/EIP/PC line after the failure (or
    before it, for failures that print their registers first), and that line as evidence."""
    before, after = root.before, root.after
    found = trace.faulting_function(after)
    if found:
        line = root.line + 1 + found[2]
        return found[:2], Event("rip", root.source, line, -1, after[found[2]])
    if root.kind in rules.TRACE_BEFORE:
        found = trace.faulting_function(list(reversed(before)))
        if found:
            index = len(before) - 1 - found[2]
            line = root.line - len(before) + index
            return found[:2], Event("rip", root.source, line, -1, before[index])
    return None


def _nothing_found(logs: List[SourceLog], files, clock: Clock) -> dict:
    """No crash signature: say so, and what evidence is missing, never that it was a bug."""
    events = [e for log in logs for e in log.last_epoch]
    idle = [e for e in events if e.kind == rules.O2NET_IDLE]
    outlived = [e for e in events if e.kind == rules.O2HB_TIMEOUT]
    names = [item["file"] for item in files if item.get("read")]
    details: dict = {"kind": "unknown"}
    missing = _missing_evidence(files, names)
    ends = [stamp for stamp in (_log_end(log, clock) for log in logs) if stamp]
    if ends:
        details["logs_end"] = max(ends).isoformat()
    elif names:
        missing.append(
            "a time: no line of the logs says when it was written, so nothing shows whether "
            "they reach the crash"
        )
    if ends and clock.dump_time:
        early = stopped_early(max(ends), clock.dump_time, "the time the dump is named after")
        if early:
            missing.append(early)
    if missing:
        details["missing"] = missing
    text = (
        f"No crash signature was found in the {len(names)} log(s) read "
        f"({', '.join(names) or 'none'}): no O2CB or HA fence and no kernel or hypervisor "
        "crash message, so nothing shows a software bug."
    )
    if missing:
        text += " Missing: " + "; ".join(missing) + "."
    if ends:
        text += f" The logs end at {max(ends):%Y-%m-%d %H:%M:%S} UTC with nothing about a crash."
    text += (
        " A hard reset or a power loss writes nothing: check the server's management "
        "controller (iLO, iDRAC, IPMI event log) and its serial console."
    )
    if idle:
        peers = sorted({e.fields["node"] for e in idle})
        details["peers_lost"] = peers
        text += (
            f" O2CB lost its connection to {', '.join(peers)} without fencing this host: "
            "that is a peer's failure seen from here, not this host's."
        )
    if outlived:
        devices = sorted({e.fields["device"] for e in outlived})
        details["heartbeat_timeouts"] = devices
        text += (
            f" O2CB logged a heartbeat write timeout on {', '.join(devices)}, but the host "
            "went on after it, so it did not fence (with global heartbeat, a timeout on "
            "fewer than half of the regions does not fence): check that storage path."
        )
    result = _base(
        "bug",
        text,
        outlived[-3:] + idle[-3:],
        clock.dump_time.isoformat() if clock.dump_time else None,
        details,
        files,
    )
    return result


def _missing_evidence(files: List[dict], names: List[str]) -> List[str]:
    """What a crash dump holds that the input lacks."""
    logs = {Path(name).name for name in names}
    memory_image = any(
        not item.get("read") and "binary" in item.get("reason", "") for item in files
    )
    if not memory_image and not logs & {"xen.log", "dom0.log"}:
        return [
            "a crash dump: only a log was given, and a host that crashes with its crash "
            "kernel set up leaves /var/crash/<time>/ with xen.log, dom0.log and a memory image"
        ]
    missing = []
    if "dom0.log" not in logs:
        missing.append("dom0.log, dom0's kernel log at the crash")
    if "xen.log" not in logs:
        missing.append("xen.log, the hypervisor's log at the crash")
    return missing


def _log_end(log: SourceLog, clock: Clock) -> Optional[datetime]:
    """When the log stops: the time of its last line that says when it was written."""
    for raw in reversed(log.end.split(b"\n")[-200:]):
        text = raw.decode("utf-8", errors="replace")
        stamp = rules.wall_time(text, clock.reference.year, not_after=clock.reference)
        if stamp:
            return stamp
    return None


def stopped_early(end: datetime, crash_time: datetime, what: str) -> Optional[str]:
    """What logs that end at `end` miss of a crash at `crash_time` (`what` names that time),
    or None when they reach it."""
    early = (crash_time - end).total_seconds()
    if early <= STOPPED_EARLY_SECONDS:
        return None
    return (
        f"the logs' last {_duration(early)}: they stop at {end:%H:%M:%S} UTC, before {what} "
        f"({crash_time:%H:%M:%S} UTC)"
    )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 2:
        return f"{round(seconds)} seconds"
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"
