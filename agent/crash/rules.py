"""What the analyser recognises in one line of a log, and the needles that find such lines.

Every message below is matched anywhere in the line, so syslog prefixes (``Nov 25 10:00:00
host kernel:``), dmesg stamps (``[ 1234.567890]``), the hypervisor's ``(XEN) [ 12.345]``,
printk levels (``<3>``) and O2CB's mlog prefixes (``(o2hb-6C0D2A4E50,2001,1):func:295
ERROR:``, or ``(2001,1):func:295 ERROR:`` before 2.6.25) do not matter.
"""

import re
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Match, Optional, Pattern, Tuple

# Kinds of event. O2CB's own (fs/ocfs2/cluster/):
O2CB_FENCE = "o2cb_fence"  # quorum.c o2quo_fence_self
O2CB_QUORUM = "o2cb_quorum"  # quorum.c o2quo_make_decision
O2CB_STOP = "o2cb_stop_heartbeat"  # heartbeat.c o2hb_stop_all_regions, called by the fence
O2HB_TIMEOUT = "o2hb_write_timeout"  # heartbeat.c o2hb_write_timeout
O2HB_HUNG = "o2hb_write_hung"  # heartbeat.c o2hb_nego_timeout
O2HB_REGION = "o2hb_region"  # heartbeat.c: a region and its device
O2NET_IDLE = "o2net_idle"  # tcp.c o2net_idle_timer
O2CB_CLUSTER = "o2cb_cluster"  # the o2cb init script: "Starting O2CB cluster NAME: OK"
# The hypervisor's (xen/common/sched/core.c, xen/common/shutdown.c) and XenServer HA's:
XEN_WATCHDOG = "xen_watchdog"  # domain_watchdog_timeout
XEN_HWDOM_WATCHDOG = "xen_hwdom_watchdog"  # hwdom_shutdown(SHUTDOWN_watchdog)
XEN_DOM0_CRASHED = "xen_dom0_crashed"  # hwdom_shutdown(SHUTDOWN_crash)
XHA_FENCE = "xha_self_fence"  # xha's self_fence()/watchdog_selffence(), xapi's fence
XHA_WATCHDOG_EXPIRED = "xha_watchdog_expired"  # xha watchdog.c check_watchdog_timeout
# Software failures, Linux and Xen:
KERNEL_PANIC = "kernel_panic"
XEN_PANIC = "xen_panic"
KERNEL_BUG = "kernel_bug"
XEN_BUG = "xen_bug"
NULL_POINTER = "null_pointer"
PAGING_FAULT = "paging_fault"
PROTECTION_FAULT = "general_protection_fault"
OOPS = "oops"
SOFT_LOCKUP = "soft_lockup"
HARD_LOCKUP = "hard_lockup"
XEN_CPU_STUCK = "xen_cpu_stuck"
HUNG_TASK = "hung_task"
OTHER_BUG = "other_bug"
BOOT = "boot"
CLEAN_SHUTDOWN = "clean_shutdown"  # an orderly reboot or power-off, which no fence prints

O2CB_FENCES = {O2CB_FENCE, O2CB_QUORUM, O2CB_STOP}
XHAD_FENCES = {XEN_WATCHDOG, XEN_HWDOM_WATCHDOG, XHA_FENCE, XHA_WATCHDOG_EXPIRED}
FAILURES = {
    KERNEL_PANIC,
    XEN_PANIC,
    XEN_DOM0_CRASHED,
    KERNEL_BUG,
    XEN_BUG,
    NULL_POINTER,
    PAGING_FAULT,
    PROTECTION_FAULT,
    OOPS,
    SOFT_LOCKUP,
    HARD_LOCKUP,
    XEN_CPU_STUCK,
    HUNG_TASK,
    OTHER_BUG,
}
# Which failure explains a crash best, when one incident holds several (a BUG, then the
# oops it raises, then the panic): the faults first, then lockups, then the rest.
FAILURE_TIER = {
    KERNEL_BUG: 0,
    XEN_BUG: 0,
    NULL_POINTER: 0,
    PAGING_FAULT: 0,
    PROTECTION_FAULT: 0,
    OOPS: 1,
    HARD_LOCKUP: 2,
    SOFT_LOCKUP: 2,
    XEN_CPU_STUCK: 2,
    HUNG_TASK: 3,
    OTHER_BUG: 3,
    XEN_PANIC: 4,
    KERNEL_PANIC: 4,
    XEN_DOM0_CRASHED: 5,
}
# Failures whose stack trace is printed before their own line rather than after it.
TRACE_BEFORE = {XEN_PANIC, XEN_DOM0_CRASHED}

# The prefilter: a line is classified only if it holds one of these byte strings. Each
# terminal message above holds one; the other lines of a multi-line report (registers,
# traces, the precursors just before a fence) are read as its context. Few and long
# needles keep the scan fast: each costs one pass of bytes.find over the log.
NEEDLES: Tuple[bytes, ...] = (
    b"fencing",  # "sorry to be fencing this system", "fencing this node because"
    b"eartbeat",  # "Heartbeat write timeout", "stopping heartbeat on all active regions"
    b"idle for",  # "has been idle for 30.0 secs"
    b"atchdog",  # every watchdog: Xen's domain watchdog, xha's, NMI and soft-lockup ones
    b"anic",  # "Kernel panic - not syncing", Xen's "Panic on CPU 0"
    b"0 crashed",  # "Hardware Dom0 crashed", "Domain 0 crashed"
    b"BUG",  # "BUG: soft lockup", "BUG: unable to handle", "kernel BUG at", "Xen BUG at"
    b"Oops",
    # Faults worded without "BUG: " (x86_64 to 2.6.24, arm): "Unable to handle kernel
    # paging request at ffff810200000000 RIP:", "... NULL pointer dereference at ...".
    b"nable to handle kernel",
    b"protection fault",
    b"blocked for more",  # hung tasks
    # An orderly shutdown: "reboot: Restarting system", "Reached target Shutdown.",
    # "shutting down for system reboot".
    b"Restarting system",
    b"Reached target",
    b"shutting down for",
    b"Linux version",  # a boot, where the kernel's clock cannot tell (no dmesg stamps)
)
# Needles that must start a word and be followed by one of these ("DEBUG: " is no BUG).
NEEDLE_FOLLOWERS: Dict[bytes, Tuple[bytes, ...]] = {b"BUG": (b": ", b" at ")}


class Rule:
    """A kind of event, a literal every matching line holds, and the pattern itself.

    The pattern is compiled when a line first holds the literal: most rules never meet
    one, and compiling them all would cost more than a typical analysis.
    """

    __slots__ = ("kind", "literal", "source", "_pattern")

    def __init__(self, kind: str, literal: str, source: str):
        self.kind = kind
        self.literal = literal
        self.source = source
        self._pattern: Optional[Pattern[str]] = None

    @property
    def pattern(self) -> Pattern[str]:
        if self._pattern is None:
            self._pattern = re.compile(self.source)
        return self._pattern


# First match wins: O2CB's panic message is also a "Kernel panic", and a soft lockup is
# also a "BUG:".
RULES: Tuple[Rule, ...] = (
    # "*** ocfs2 is very sorry to be fencing this system by restarting ***" (printk) and,
    # with fence_method panic, "Kernel panic - not syncing: *** ocfs2 is very sorry to be
    # fencing this system by panicing ***" ("panicking" since 6.13; no stars before 2.6.28).
    Rule(
        O2CB_FENCE,
        "very sorry",
        r"ocfs2 is very sorry to be fencing this system by (?P<method>\w+)",
    ),
    Rule(
        O2CB_QUORUM,
        "fencing this node",
        r"fencing this node because it is only connected to (?P<connected>\d+) nodes? and "
        r"(?P<needed>\d+) is needed to make a quorum out of (?P<heartbeating>\d+) heartbeating",
    ),
    Rule(
        O2CB_QUORUM,
        "fencing this node",
        r"fencing this node because it is connected to a half-quorum of (?P<connected>\d+) "
        r"out of (?P<heartbeating>\d+) nodes which doesn't include the lowest active node "
        r"(?P<lowest_node>\d+)",
    ),
    Rule(O2CB_STOP, "stopping heartbeat", r"stopping heartbeat on all active regions"),
    # %s hr_dev_name ("sdb", "dm-3") until 6.0, then %pg ("dm-3", "sdb1").
    Rule(
        O2HB_TIMEOUT,
        "write timeout",
        r"Heartbeat write timeout to device (?P<device>\S+) after (?P<timeout_ms>\d+) "
        r"milliseconds",
    ),
    Rule(
        O2HB_HUNG,
        "hb write hung",
        r"o2hb: node (?P<node_number>\d+) hb write hung for (?P<seconds>\d+)s on region "
        r"(?P<region>\S+) \((?P<device>.+?)\)\.?\s*$",
    ),
    Rule(
        O2HB_HUNG,
        "hb write hung",
        r"o2hb: all nodes hb write hung, maybe region (?P<region>\S+) \((?P<device>.+?)\) is down",
    ),
    Rule(
        O2HB_REGION,
        "o2hb: ",
        r"o2hb: (?:Region|Heartbeat (?:started|stopped) on region) (?P<region>[0-9A-Fa-f]+) "
        r"\((?P<device>.+?)\)(?=[\s.]|$)",
    ),
    # 2.6.16: "connection to node N (num 1) at IP:port has been idle for 10 seconds, shutting
    # it down."; 2.6.18-3.x: "o2net: connection to ... idle for 30.0 seconds, shutting it
    # down."; since 3.2: "o2net: Connection to ... has been idle for 30.0 secs." Both print
    # msecs / 1000 "." msecs % 1000 with %u, the milliseconds unpadded: "30.7" is 30007 ms.
    Rule(
        O2NET_IDLE,
        "idle for",
        r"[Cc]onnection to node (?P<node>\S+) \(num (?P<node_number>\d+)\) at "
        r"(?P<address>[0-9A-Fa-f.:]+:\d+) has been idle for (?P<idle_seconds>\d+)"
        r"(?:\.(?P<idle_ms>\d{1,3}))? (?:secs|seconds)",
    ),
    Rule(O2CB_CLUSTER, "O2CB cluster", r"Starting O2CB cluster (?P<cluster>[\w.-]+)"),
    # "Watchdog timer fired for domain 0"; since Xen 4.21 "Watchdog timer 1 fired for d0".
    Rule(
        XEN_WATCHDOG,
        "Watchdog timer",
        r"Watchdog timer (?:(?P<watchdog_id>\d+) )?fired for (?:domain (?P<domain>\d+)|"
        r"d(?P<domain_d>\d+))",
    ),
    # "Hardware Dom0 shutdown: watchdog rebooting machine"; before 4.5 "Domain 0 shutdown:".
    Rule(
        XEN_HWDOM_WATCHDOG,
        "watchdog rebooting",
        r"(?:Hardware Dom|Domain )(?P<domain>\d+) shutdown: watchdog rebooting machine",
    ),
    Rule(XEN_DOM0_CRASHED, " crashed", r"(?:Hardware Dom|Domain )(?P<domain>\d+) crashed"),
    # xha: self_fence() logs its reason ending "- Self-Fence" (or "- Self Fence"), then
    # watchdog_selffence() logs "watchdog_selffence."; xapi: "Host will self-fence via its
    # own watchdog for safety". xapi's warnings that a host *will* self-fence if something
    # else fails are not fences.
    Rule(XHA_FENCE, "Fence", r"(?P<reason>\S.*?)\s*-\s*Self[- ]Fence\b"),
    Rule(XHA_FENCE, "watchdog_selffence", r"\bwatchdog_selffence\b"),
    Rule(XHA_FENCE, "self-fence via", r"Host will self-fence via its own watchdog"),
    Rule(
        XHA_WATCHDOG_EXPIRED,
        "should have expired",
        r"Watchdog should have expired id=(?P<watchdog_id>\d+) label=(?P<label>\S+?)\.?$",
    ),
    Rule(XEN_CPU_STUCK, "is stuck", r"Watchdog timer detects that CPU ?(?P<cpu>\d+) is stuck"),
    Rule(XEN_PANIC, "Panic on CPU", r"Panic on CPU ?(?P<cpu>\d+)"),
    Rule(KERNEL_PANIC, "Kernel panic", r"Kernel panic - not syncing:? ?(?P<reason>.*?)\s*$"),
    # "BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1:1234]", also after
    # "watchdog: " (4.14+) or "NMI watchdog: " (3.x).
    Rule(
        SOFT_LOCKUP,
        "soft lockup",
        r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<seconds>\d+)s!"
        r"(?: \[(?P<task>.+):(?P<pid>\d+)\])?",
    ),
    Rule(
        HARD_LOCKUP,
        "LOCKUP",
        r"(?:Watchdog detected hard LOCKUP on cpu ?(?P<cpu>\d+)|"
        r"NMI Watchdog detected LOCKUP on CPU ?(?P<cpu_old>\d+))",
    ),
    Rule(
        HUNG_TASK,
        "blocked for more",
        r"INFO: task (?P<task>.+?):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds",
    ),
    Rule(
        KERNEL_BUG,
        "kernel BUG at",
        r"kernel BUG at (?P<location>[^\s:!]+)(?::(?P<source_line>\d+))?",
    ),
    # x86_64 until 2.6.19 (RHEL 5's 2.6.18): "Kernel BUG at fs/ocfs2/dlmglue.c:2987", after
    # "----------- [cut here ] --------- [please bite here ] ---------".
    Rule(
        KERNEL_BUG,
        "Kernel BUG at",
        r"Kernel BUG at (?P<location>[^\s:!]+)(?::(?P<source_line>\d+))?",
    ),
    Rule(XEN_BUG, "Xen BUG at", r"Xen BUG at (?P<location>[^\s:!]+)(?::(?P<source_line>\d+))?"),
    # "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008" (to 4.x),
    # "BUG: kernel NULL pointer dereference, address: 0000000000000008" (5.x+), and arm's
    # "Unable to handle kernel NULL pointer dereference at virtual address 00000008".
    Rule(
        NULL_POINTER,
        "NULL pointer",
        r"(?:BUG: unable to handle kernel|BUG: kernel|Unable to handle kernel) NULL pointer "
        r"dereference(?:,? (?:at |address: )(?:virtual address )?(?P<address>[0-9a-fx]+))?",
    ),
    Rule(
        PAGING_FAULT,
        "nable to handle",
        r"(?:BUG: unable to handle (?:kernel paging request|page fault for address)|"
        r"Unable to handle kernel paging request)(?: at)?(?: virtual address)?:?\s*"
        r"(?P<address>[0-9a-fx]+)?",
    ),
    # "general protection fault: 0000 [#1] SMP"; since 5.8 "general protection fault,
    # probably for non-canonical address 0x...: 0000 [#1]"; 6.x prefixes "Oops: ".
    Rule(PROTECTION_FAULT, "protection fault", r"general protection fault"),
    # x86_64 until 2.6.19 counts without "#": "Oops: 0000 [1] SMP".
    Rule(
        OOPS,
        "Oops",
        r"(?:Internal error: )?\bOops\b(?:: (?P<code>[0-9a-fA-F]+))?"
        r"(?:.*\[#\d+\]|(?<=[0-9a-fA-F]) \[\d+\])",
    ),
    Rule(OTHER_BUG, "BUG: ", r"(?<![\w])BUG: (?P<what>.+?)\s*$"),
    # "Linux version 4.19.0+1 (mockbuild@builder) (gcc ...) #1 SMP ...": the kernel's first
    # line, its builder in brackets (not a daemon quoting /proc/version's start).
    Rule(BOOT, "Linux version", r"^(?:.*\] |.*kernel: )?Linux version \d\S* \("),
    # An orderly end, which a fence never prints (it restarts at once, or panics): the
    # kernel's last words when reboot(2) is called ("reboot: Restarting system" since 3.11,
    # "Restarting system." before), systemd's shutdown target ("Reached target Shutdown.",
    # since 246 "System Shutdown", since 250 after the unit's name), systemd-shutdown's
    # and sysvinit shutdown's.
    Rule(
        CLEAN_SHUTDOWN,
        "Restarting system",
        r"(?:^|\] |kernel: )(?:reboot: )?Restarting system(?: with command '[^']*')?\.?\s*$",
    ),
    Rule(CLEAN_SHUTDOWN, "reboot: ", r"(?:^|\] |kernel: )reboot: (?:System halted|Power down)\s*$"),
    Rule(
        CLEAN_SHUTDOWN,
        "Reached target",
        r"systemd\[1\]: Reached target (?:\S+\.target - )?(?:System )?"
        r"(?:Shutdown|Reboot|Power[- ]Off|Halt)\.",
    ),
    Rule(
        CLEAN_SHUTDOWN, "systemd-shutdown", r"systemd-shutdown\[\d+\]: (?:Rebooting|Powering off)"
    ),
    Rule(CLEAN_SHUTDOWN, "shutting down for", r"\bshutting down for system (?:reboot|halt)\b"),
)


class Event:
    """One recognised line of one source, with the lines around it when they matter."""

    __slots__ = ("kind", "source", "line", "pos", "text", "fields", "before", "after", "message")

    def __init__(
        self, kind: str, source: str, line: int, pos: int, text: str, fields=None, message=None
    ):
        self.kind = kind
        self.source = source
        self.line = line
        self.pos = pos  # file offset of the line; -1 for lines read from another's context
        self.text = text  # the line
        self.message = message or text  # the line and its continuation, if wrapped
        self.fields: dict = fields or {}
        self.before: List[str] = []
        self.after: List[str] = []

    @property
    def terminal(self) -> bool:
        """Whether this event ends the system (rather than warns of trouble)."""
        if self.kind == XEN_WATCHDOG:
            # A guest's watchdog reboots that guest only; xhad's is domain 0's.
            return self.fields.get("domain") == 0
        return (
            self.kind in O2CB_FENCES
            or self.kind in XHAD_FENCES
            or self.kind
            in {
                KERNEL_PANIC,
                XEN_PANIC,
                XEN_DOM0_CRASHED,
            }
        )

    def evidence(self) -> dict:
        return {"file": self.source, "line": self.line, "text": self.text[:1000]}


def classify(text: str) -> Optional[Tuple[str, dict]]:
    """The kind of event a line reports and its fields, or None for anything else."""
    found = _match(text)
    return (found[0].kind, _fields(found[0].kind, found[1])) if found else None


def _match(text: str) -> Optional[Tuple[Rule, Match[str]]]:
    if "---[ end " in text:
        # Linux repeats the panic message in its end marker; the first line is the event.
        return None
    for rule in RULES:
        if rule.literal not in text:
            continue
        match = rule.pattern.search(text)
        if match:
            return rule, match
    return None


def classify_wrapped(
    text: str, previous: Optional[str], following: Optional[str]
) -> Optional[Tuple[str, dict, bool, str]]:
    """`classify` for a line a console may have wrapped at its width, with the lines around
    it: (kind, fields, whether the message starts on the previous line, the message whole),
    or None.

    In a log whose lines carry a stamp, a line without one continues the line before, cut
    mid-word or at a space. A message is read across the cut when it needs the next line
    (it does not match, or its match reaches the end of this one); when this line is the
    continuation, from the line before. Unstamped logs are read line by line: nothing
    there tells a continuation from the next message.
    """
    if previous is not None and not stamped(text) and stamped(previous):
        joined = _match_across(previous, text)
        if joined:
            return joined[0], joined[1], True, joined[2]
    found = _match(text)
    if following is not None and stamped(text) and not stamped(following):
        if found is None or found[1].end() >= len(text.rstrip()):
            joined = _match_across(text, following)
            if joined:
                return joined[0], joined[1], False, joined[2]
    if found is None:
        return None
    return found[0].kind, _fields(found[0].kind, found[1]), False, text


def _match_across(first: str, second: str) -> Optional[Tuple[str, dict, str]]:
    """A message that starts on `first` and goes on into `second`: kind, fields, text."""
    for glue in ("", " "):
        text = first + glue + second
        found = _match(text)
        if found and found[1].start() < len(first) < found[1].end() - len(glue):
            return found[0].kind, _fields(found[0].kind, found[1]), text
    return None


LINE_STAMP_RE = re.compile(r"^(?:<\d+>)?\s*(?:\[\s*\d+\.\d+\]|\(XEN\))")


def stamped(text: str) -> bool:
    """Whether a line starts with a time or a dmesg or Xen stamp."""
    return bool(
        LINE_STAMP_RE.match(text)
        or SYSLOG_TIME_RE.match(text)
        or ISO_TIME_RE.match(text)
        or CTIME_RE.match(text)
    )


INT_FIELDS = {
    "connected",
    "needed",
    "heartbeating",
    "lowest_node",
    "timeout_ms",
    "node_number",
    "seconds",
    "domain",
    "watchdog_id",
    "cpu",
    "pid",
    "source_line",
}
RENAMED_FIELDS = {"domain_d": "domain", "cpu_old": "cpu"}
XHA_LEVEL_RE = re.compile(r"\[(?:debug|info|notice|warn|warning|err|error|crit|alert|emerg)\]\s*")


def _fields(kind: str, match: Match[str]) -> dict:
    fields: dict = {}
    for name, value in match.groupdict().items():
        if value is None:
            continue
        name = RENAMED_FIELDS.get(name, name)
        if name == "idle_ms":
            continue
        if name == "idle_seconds":
            fields[name] = int(value) + int(match["idle_ms"] or 0) / 1000
        elif name in INT_FIELDS:
            fields[name] = int(value)
        else:
            fields[name] = value
    if kind == O2CB_FENCE:
        fields["method"] = "panic" if fields["method"].startswith("panic") else "reset"
    if kind == XHA_FENCE and "reason" in fields:
        # xha.log lines read "Nov 25 10:00:00 UTC 2026 [err] FH: ...": keep the message.
        level = XHA_LEVEL_RE.search(fields["reason"])
        if level:
            fields["reason"] = fields["reason"][level.end() :]
    if kind == O2CB_QUORUM and "needed" not in fields:
        # A half-quorum: connected to exactly half, which is what quorum needs when the
        # lowest node is among them.
        fields["needed"] = fields["connected"]
    return fields


# Where a line says when it was written.
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
SYSLOG_TIME_RE = re.compile(
    r"^(?:<\d+>\d?\s*)?(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+"
    r"(?P<day>\d{1,2})\s+(?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)?"
    # xha.log writes the zone and year after the time: "Nov 25 10:00:00 UTC 2026 [err]".
    r"(?:\s+[A-Z]{2,5}\s+(?P<year>\d{4})\b)?"
)
# `dmesg --time-format=iso` writes its fraction after a comma: "2026-11-25T10:00:00,123456+01:00".
ISO_TIME_RE = re.compile(
    r"^(?:<\d+>\d?\s*)?(?P<date>\d{4}-\d\d-\d\d)[T ](?P<hms>\d\d:\d\d:\d\d)"
    r"(?P<fraction>[.,]\d+)?(?P<zone>Z|[+-]\d\d:?\d\d)?"
)
# `dmesg -T` (--ctime): "[Wed Nov 25 10:00:00 2026] ", the reading machine's local time as
# ctime(3) writes it, after "kern  :err   : " with -x (--decode).
CTIME_RE = re.compile(
    r"^(?:<\d+>)?(?:[a-z]+ *:[a-z]+ *: )?\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d) (?P<year>\d{4})\]"
)
ISO_TIME_ONLY_RE = re.compile(ISO_TIME_RE.pattern + r"$")
UPTIME_RE = re.compile(r"\[\s*(?P<uptime>\d+\.\d+)\]")


def parse_iso_time(text: str) -> datetime:
    """An ISO 8601 time (UTC unless it says), as `datetime.fromisoformat` would read it in
    Python 3.7 and later: dom0's python3 is 3.6 (agent/plugin.py). ValueError otherwise."""
    match = ISO_TIME_ONLY_RE.match(text.strip())
    if match is None:
        raise ValueError(f"Invalid isoformat string: {text!r}")
    return _iso_match_time(match)


def _iso_match_time(match) -> datetime:
    zone = match["zone"] or "Z"
    offset = timedelta(0)
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    year, month, day = (int(x) for x in match["date"].split("-"))
    hour, minute, second = (int(x) for x in match["hms"].split(":"))
    micro = int(((match["fraction"] or ".")[1:7]).ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))


def wall_time(text: str, year: int, not_after: Optional[datetime] = None) -> Optional[datetime]:
    """The wall-clock time a line starts with (syslog, ISO 8601 or `dmesg -T`; UTC unless
    it says).

    Syslog omits the year: `year` is used, or the year before when that would put the line
    more than a day after `not_after` (a log from December read in January).
    """
    match = ISO_TIME_RE.match(text)
    if match:
        try:
            return _iso_match_time(match)
        except ValueError:
            return None
    match = SYSLOG_TIME_RE.match(text) or CTIME_RE.match(text)
    if match:
        hour, minute, second = (int(x) for x in match["hms"].split(":"))
        month, day = MONTHS[match["month"]], int(match["day"])
        try:
            stamp = datetime(
                int(match["year"] or year), month, day, hour, minute, second, tzinfo=timezone.utc
            )
            if not match["year"] and not_after and stamp > not_after + timedelta(days=1):
                stamp = stamp.replace(year=stamp.year - 1)
        except ValueError:
            return None
        return stamp
    return None


def uptime(text: str) -> Optional[float]:
    """Seconds since boot from a dmesg or Xen console stamp near the start of the line."""
    match = UPTIME_RE.search(text, 0, 120)
    return float(match["uptime"]) if match else None
