"""Who fences if this breaks: O2CB's own rules as pure functions.

Dataclasses in, dataclasses out, no Django, no database: `inputs.py` builds a `Layout`
from what the console knows, and a lab scenario can write one by hand.

The rules, each from the kernel function that applies it (fs/ocfs2/cluster/):

- Dead time (`O2HB_MAX_WRITE_TIMEOUT_MS` in heartbeat.c): (O2CB_HEARTBEAT_THRESHOLD - 1)
  x 2 s after its last good heartbeat write, a node's write timer fires
  (`o2hb_write_timeout`). Peers declare a node dead after `dead_threshold` missed 2 s
  samples (`o2hb_check_slot`), so a stalled node fences itself just before they do.
- Quorum regions (`o2hb_set_quorum_device`): a global heartbeat region counts once every
  live node heartbeats on it. `o2hb_write_timeout` fences only when the failed quorum
  regions are at least half of them: one region, any stall fences; two, either; three,
  one may fail. In local heartbeat any write timeout fences (`o2quo_disk_timeout`).
- Negotiation (`o2hb_arm_timeout`, `o2hb_nego_timeout`): at half the dead time a node
  whose writes hang tells the lowest live node; when every live node reports the same
  region hung (the whole array paused), the lowest approves and every timer restarts
  instead of fencing. A node whose last heartbeat ended in an I/O error does not
  negotiate, so an I/O error fences where a pause does not.
- Network quorum (`o2quo_make_decision` in quorum.c): once a connection has been idle for
  the idle timeout (`o2net_idle_timer`) and a quorum delay of (threshold + 2) x 2 s
  has passed (`O2NET_QUORUM_DELAY_MS`, `o2net_still_up`), a node still heartbeating
  decides: with an odd number of heartbeating nodes it needs a majority of them
  connected (itself included); with an even number, half, and with exactly half its
  group must hold the lowest numbered heartbeating node. A peer seen dead first
  releases its hold (`o2quo_hb_down`) and no decision is made for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property

REGION_TIMEOUT_S = 2  # O2HB_REGION_TIMEOUT_MS: one heartbeat write every 2 s
TIMEOUT_RACE_MARGIN_S = 10  # HA and O2CB closer than this race (as iohealth judges)
IMPLICIT_SEGMENT = "cluster network"


class FailureKind(StrEnum):
    HOST = "host"
    LUN = "lun"
    PATH_SET = "path_set"
    SEGMENT = "segment"  # a switch or a link every NIC on it goes through
    NIC = "nic"
    BOND = "bond"
    ARRAY_PAUSE = "array_pause"
    ARRAY_ERROR = "array_error"


STORAGE_FAILURES = {
    FailureKind.LUN,
    FailureKind.PATH_SET,
    FailureKind.ARRAY_PAUSE,
    FailureKind.ARRAY_ERROR,
}


class Fate(StrEnum):
    FAILED = "failed"  # the host that broke
    FENCED = "fenced"
    SURVIVES = "survives"
    IDLE = "idle"  # a member not heartbeating: nothing to fence


class Rule(StrEnum):
    """What decided a host's fate, named after the kernel function that decides it."""

    HOST_FAILED = "host failed"
    WRITE_TIMEOUT = "o2hb_write_timeout"
    NEGOTIATION = "o2hb_nego_timeout"
    QUORUM = "o2quo_make_decision"
    UNAFFECTED = "unaffected"
    NOT_HEARTBEATING = "not heartbeating"


@dataclass(frozen=True)
class Timeouts:
    """O2CB's timeouts (/etc/default/o2cb); they must be the same on every node."""

    dead_threshold: int = 31
    idle_timeout_ms: int = 30000
    keepalive_delay_ms: int = 2000
    reconnect_delay_ms: int = 2000

    @property
    def dead_s(self) -> float:
        """O2HB_MAX_WRITE_TIMEOUT_MS: a node's write timer fires this long after its last write."""
        return max(self.dead_threshold - 1, 0) * REGION_TIMEOUT_S

    @property
    def negotiation_s(self) -> float:
        """O2HB_NEGO_TIMEOUT_MS: half the dead time, the first warning of a stall."""
        return self.dead_s / 2

    @property
    def peer_dead_s(self) -> float:
        """`o2hb_check_slot`: peers call a node dead after this many seconds without a beat."""
        return self.dead_threshold * REGION_TIMEOUT_S

    @property
    def network_decision_s(self) -> float:
        """Idle timeout, then O2NET_QUORUM_DELAY_MS: when a node decides on lost links."""
        return self.idle_timeout_ms / 1000 + (self.dead_threshold + 2) * REGION_TIMEOUT_S


@dataclass(frozen=True)
class Nic:
    """A network port carrying o2net: `segment` is the switch (or link) it plugs into."""

    name: str
    segment: str = IMPLICIT_SEGMENT
    bond: str | None = None


@dataclass(frozen=True)
class Link:
    """A link between two switches (a trunk, an inter-switch link)."""

    name: str
    a: str
    b: str


@dataclass(frozen=True)
class LunPaths:
    """How a node reaches a LUN: its path sets (HBAs, fabrics) and how long multipath
    queues I/O once no path is left (`queue_s`: 0 fails at once, None queues forever)."""

    lun: str
    path_sets: tuple[str, ...] = ()
    queue_s: float | None = 0


@dataclass(frozen=True)
class Node:
    host: str
    number: int
    heartbeating: bool = True
    nics: tuple[Nic, ...] = ()
    luns: tuple[LunPaths, ...] = ()
    srs: tuple[str, ...] = ()  # SRs plugged on it
    timeouts: Timeouts | None = None  # what it runs with, when known (else the layout's)
    ha_timeout_s: float | None = None

    @cached_property
    def _luns(self) -> dict[str, LunPaths]:
        return {p.lun: p for p in self.luns}

    def lun(self, lun: str) -> LunPaths:
        return self._luns.get(lun) or LunPaths(lun)


@dataclass(frozen=True)
class Region:
    """A heartbeat region, on a LUN of an array; `writers` None: every heartbeating node."""

    name: str
    lun: str
    array: str = "array"
    writers: frozenset[str] | None = None


@dataclass(frozen=True)
class Layout:
    """The cluster as the console knows it (or as a lab scenario describes it)."""

    cluster: str
    nodes: tuple[Node, ...]
    regions: tuple[Region, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    links: tuple[Link, ...] = ()
    global_heartbeat: bool = True
    negotiation: bool = True  # o2hb_nego_timeout exists (Linux 4.6 and later)

    @cached_property
    def _by_host(self) -> dict[str, Node]:
        return {n.host: n for n in self.nodes}

    def node(self, host: str) -> Node:
        return self._by_host[host]

    @cached_property
    def live(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.heartbeating)

    @cached_property
    def _live_hosts(self) -> frozenset[str]:
        return frozenset(n.host for n in self.live)

    def writers(self, region: Region) -> set[str]:
        live = self._live_hosts
        return set(live) if region.writers is None else set(live & region.writers)

    def quorum_regions(self) -> list[Region]:
        """`o2hb_set_quorum_device`: the regions every live node heartbeats on."""
        live = {n.host for n in self.live}
        return [r for r in self.regions if self.writers(r) >= live]

    @property
    def arrays(self) -> list[str]:
        return sorted({r.array for r in self.regions})


@dataclass(frozen=True)
class Failure:
    """What breaks at t = 0. `host` names whose path set, NIC or bond (None on a path
    set: that path set on every node, a fabric); `seconds` is an array pause's length."""

    kind: FailureKind
    target: str
    host: str | None = None
    seconds: float | None = None

    def describe(self) -> str:
        owner = f"{self.host}'s " if self.host else ""
        match self.kind:
            case FailureKind.HOST:
                return f"host {self.target} fails"
            case FailureKind.LUN:
                return f"LUN {self.target} fails"
            case FailureKind.PATH_SET:
                return (
                    f"{owner}path set {self.target} fails"
                    if self.host
                    else (f"path set {self.target} fails on every host")
                )
            case FailureKind.SEGMENT:
                return f"switch or link {self.target} fails"
            case FailureKind.NIC:
                return f"{owner}NIC {self.target} loses its link"
            case FailureKind.BOND:
                return f"{owner}bond {self.target} goes down"
            case FailureKind.ARRAY_PAUSE:
                return f"array {self.target} pauses for {self.seconds:g} s"
            case FailureKind.ARRAY_ERROR:
                return f"array {self.target} answers every I/O with an error"
        return str(self.kind)


@dataclass(frozen=True)
class Event:
    at_s: float
    what: str
    rule: Rule


@dataclass(frozen=True)
class HostOutcome:
    host: str
    number: int
    fate: Fate
    at_s: float | None  # when it fences (or fails)
    rule: Rule
    why: str
    events: tuple[Event, ...] = ()
    srs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    failure: Failure
    description: str
    dead_s: float
    negotiation_s: float
    network_decision_s: float
    hosts: tuple[HostOutcome, ...]

    @property
    def fenced(self) -> list[str]:
        return [h.host for h in self.hosts if h.fate == Fate.FENCED]

    @property
    def survivors(self) -> list[str]:
        return [h.host for h in self.hosts if h.fate == Fate.SURVIVES]

    @property
    def sr_holders(self) -> list[str]:
        return [h.host for h in self.hosts if h.fate == Fate.SURVIVES and h.srs]


class LayoutError(ValueError):
    """A layout or failure the model cannot judge, said so that it can be corrected."""


@dataclass(frozen=True)
class _Trouble:
    """One node's writes to one region after t = 0: hung, failing from `error_at`, and
    good again from `ends_at` (None: never)."""

    error_at: float | None
    ends_at: float | None = None

    def active(self, t: float) -> bool:
        return self.ends_at is None or self.ends_at > t

    def hung(self, t: float) -> bool:
        return self.active(t) and (self.error_at is None or self.error_at > t)


def validate(layout: Layout, failure: Failure) -> None:
    """Refuse, with the reason, what the model cannot judge."""
    numbers = [n.number for n in layout.nodes]
    if len(set(numbers)) != len(numbers):
        raise LayoutError("Two nodes share a node number.")
    hosts = {n.host for n in layout.nodes}
    if len(hosts) != len(layout.nodes):
        raise LayoutError("Two nodes share a host name.")
    if failure.host is not None and failure.host not in hosts:
        raise LayoutError(f"{failure.host} is not a member of {layout.cluster}.")
    if failure.seconds is not None and failure.seconds < 0:
        raise LayoutError("A pause lasts zero seconds or more.")
    known = {
        FailureKind.HOST: hosts,
        FailureKind.LUN: {r.lun for r in layout.regions},
        FailureKind.ARRAY_PAUSE: set(layout.arrays),
        FailureKind.ARRAY_ERROR: set(layout.arrays),
        FailureKind.SEGMENT: _segments(_wired(layout)),
    }
    if failure.kind in known and failure.target not in known[failure.kind]:
        raise LayoutError(
            f"{layout.cluster} has no {failure.kind.replace('_', ' ')} {failure.target}."
        )
    if failure.kind in (FailureKind.NIC, FailureKind.BOND):
        if failure.host is None:
            raise LayoutError(f"A {failure.kind} failure names its host.")
        node = _wired(layout).node(failure.host)
        names = {nic.name if failure.kind == FailureKind.NIC else nic.bond for nic in node.nics}
        if failure.target not in names:
            raise LayoutError(f"{failure.host} has no {failure.kind} {failure.target}.")
    if failure.kind == FailureKind.PATH_SET:
        nodes = [layout.node(failure.host)] if failure.host else layout.nodes
        if not any(failure.target in lun.path_sets for n in nodes for lun in n.luns):
            raise LayoutError(f"No heartbeat LUN is reached through path set {failure.target}.")
    if failure.kind == FailureKind.ARRAY_PAUSE and failure.seconds is None:
        raise LayoutError("An array pause says how many seconds it lasts.")


def _segments(layout: Layout) -> set[str]:
    """Every switch a NIC plugs into, and every link between switches."""
    switches = {nic.segment for n in layout.nodes for nic in n.nics}
    return switches | {link.name for link in layout.links}


def _wired(layout: Layout) -> Layout:
    """A node of no known NIC reaches the others through one implicit network."""
    return replace(
        layout,
        nodes=tuple(
            n if n.nics else replace(n, nics=(Nic("o2net", IMPLICIT_SEGMENT),))
            for n in layout.nodes
        ),
    )


def _troubles(layout: Layout, failure: Failure) -> dict[tuple[str, str], _Trouble]:
    """(host, region name) -> how its heartbeat writes go wrong."""
    troubles = {}
    if failure.kind not in STORAGE_FAILURES:
        return troubles
    for region in layout.regions:
        for host in layout.writers(region):
            node = layout.node(host)
            paths = node.lun(region.lun)
            trouble = None
            match failure.kind:
                case FailureKind.LUN if region.lun == failure.target:
                    trouble = _Trouble(paths.queue_s)
                case FailureKind.PATH_SET if failure.host in (None, host) and paths.path_sets:
                    if set(paths.path_sets) <= {failure.target}:
                        trouble = _Trouble(paths.queue_s)
                case FailureKind.ARRAY_PAUSE if region.array == failure.target:
                    trouble = _Trouble(None, failure.seconds)
                case FailureKind.ARRAY_ERROR if region.array == failure.target:
                    trouble = _Trouble(0)
            if trouble is not None:
                troubles[(host, region.name)] = trouble
    return troubles


def _region_timeline(
    layout: Layout, region: Region, troubles: dict[tuple[str, str], _Trouble], live: set[str]
) -> tuple[float | None, list[float], bool]:
    """When the write timers of the region's troubled writers fire (None: never), the
    negotiation points at which the lowest live node approved a restart, and whether
    approvals go on for as long as the stall does."""
    dead, half = layout.timeouts.dead_s, layout.timeouts.negotiation_s
    mine = {h: t for (h, name), t in troubles.items() if name == region.name}
    if not mine:
        return None, [], False
    changes = [v for t in mine.values() for v in (t.error_at, t.ends_at) if v is not None]
    horizon = max(changes, default=0) + dead
    armed, approvals = 0.0, []
    while True:
        point = armed + half
        if not any(t.active(point) for t in mine.values()):
            return None, approvals, False  # every write went through again
        approved = (
            layout.negotiation
            and half > 0
            and live <= set(mine)
            and all(mine[h].hung(point) for h in live)
        )
        if not approved:
            fire = armed + dead
            return (fire if any(t.active(fire) for t in mine.values()) else None), approvals, False
        approvals.append(point)
        armed = point
        if armed > horizon:
            return None, approvals, True


def _network(layout: Layout, failure: Failure) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Who each node reaches over o2net (itself included) before and after the failure.
    A node on one part of the network shares that part's set with the others on it, so
    a pool of 255 stays linear; after is always a subset of before."""
    nodes = layout.nodes

    def up(node: Node, nic: Nic, broken: bool) -> bool:
        if not broken:
            return True
        match failure.kind:
            case FailureKind.SEGMENT:
                return nic.segment != failure.target
            case FailureKind.NIC:
                return not (node.host == failure.host and nic.name == failure.target)
            case FailureKind.BOND:
                return not (node.host == failure.host and nic.bond == failure.target)
            case FailureKind.HOST:
                return node.host != failure.target
        return True

    def reach(broken: bool) -> dict[str, set[str]]:
        cut = failure.target if broken and failure.kind == FailureKind.SEGMENT else None
        parent = {sw: sw for sw in _segments(layout)}

        def find(sw: str) -> str:
            while parent[sw] != sw:
                sw = parent[sw]
            return sw

        for link in layout.links:
            if cut not in (link.name, link.a, link.b):
                parent[find(link.a)] = find(link.b)
        parts = {
            n.host: {
                find(nic.segment) for nic in n.nics if up(n, nic, broken) and nic.segment != cut
            }
            for n in nodes
        }
        members: dict[str, set[str]] = {}
        for host, roots in parts.items():
            for root in roots:
                members.setdefault(root, set()).add(host)
        return {
            host: members[next(iter(roots))]
            if len(roots) == 1
            else {host}.union(*(members[root] for root in roots))
            for host, roots in parts.items()
        }

    return reach(False), reach(True)


def _quorum(number: int, connected: int, heartbeating: dict[str, int], lowest_reached: bool):
    """`o2quo_make_decision`: (fences, why)."""
    total = len(heartbeating)
    lowest = min(heartbeating.values())
    if total == 1:
        return False, "it is the only heartbeating node left, which never fences on the network"
    if total % 2:
        need = (total + 1) // 2
        if connected < need:
            return True, (
                f"it reaches {connected} of {total} heartbeating nodes (itself included); "
                f"an odd count needs a majority, {need}"
            )
        return False, f"it reaches {connected} of {total} heartbeating nodes, a majority"
    need = total // 2
    if connected < need:
        return True, (
            f"it reaches {connected} of {total} heartbeating nodes (itself included); "
            f"an even count needs half, {need}"
        )
    if connected == need and not lowest_reached:
        return True, (
            f"it reaches exactly half ({connected} of {total}) and its side lacks node "
            f"{lowest}, the lowest numbered heartbeating node"
        )
    if connected == need:
        return False, (
            f"it reaches exactly half ({connected} of {total}) and its side holds node "
            f"{lowest}, the lowest numbered heartbeating node"
        )
    return False, f"it reaches {connected} of {total} heartbeating nodes, more than half"


def simulate(layout: Layout, failure: Failure) -> Outcome:
    """Which hosts fence after `failure`, when, by which rule, and who keeps the SRs: the
    kernel's timeline, storage first (write timers, negotiation, quorum regions), then the
    network (lost connections, the quorum decision of every node still up)."""
    validate(layout, failure)
    layout = _wired(layout)
    t = layout.timeouts
    live = {n.host for n in layout.live} - (
        {failure.target} if failure.kind == FailureKind.HOST else set()
    )
    events: dict[str, list[Event]] = {n.host: [] for n in layout.nodes}
    fenced: dict[str, tuple[float, Rule, str]] = {}
    seen_dead: dict[str, float] = {}
    if failure.kind == FailureKind.HOST:
        seen_dead[failure.target] = t.peer_dead_s
    _storage_timeline(layout, failure, live, events, fenced, seen_dead)
    _network_timeline(layout, failure, live, events, fenced, seen_dead)
    outcomes = [
        _host_outcome(node, failure, t, events[node.host], fenced.get(node.host))
        for node in sorted(layout.nodes, key=lambda n: n.number)
    ]
    return Outcome(
        failure,
        failure.describe(),
        t.dead_s,
        t.negotiation_s,
        t.network_decision_s,
        tuple(outcomes),
    )


def _negotiation_events(
    t: Timeouts, region: Region, trouble: _Trouble, me: int, lowest, approvals, forever
) -> list[Event]:
    """What one node hung on `region` goes through at the negotiation points."""
    said: list[Event] = []
    if trouble.error_at is not None and trouble.error_at < t.negotiation_s:
        said.append(
            Event(
                trouble.error_at,
                f"writes to region {region.name} fail with an I/O error: no "
                "negotiation, the write timer runs out",
                Rule.NEGOTIATION,
            )
        )
    elif trouble.active(t.negotiation_s):
        said.append(
            Event(
                t.negotiation_s,
                f"first warning: heartbeat writes to {region.name} hung for "
                f"{t.negotiation_s:g} s (the negotiation point, half the dead time); "
                + (
                    "as the lowest live node it waits for every live node to report"
                    if me == lowest
                    else f"it tells node {lowest}, the lowest live node"
                ),
                Rule.NEGOTIATION,
            )
        )
    if trouble.error_at is not None and trouble.error_at >= t.negotiation_s:
        said.append(
            Event(
                trouble.error_at,
                f"multipath gives up: writes to {region.name} fail with an I/O error, "
                "so the next negotiation is skipped",
                Rule.NEGOTIATION,
            )
        )
    for point in approvals:
        said.append(
            Event(
                point,
                f"every live node's writes to {region.name} hang: node {lowest} "
                "approves, the timers restart instead of fencing",
                Rule.NEGOTIATION,
            )
        )
    if forever:
        said.append(
            Event(
                approvals[-1],
                f"approved again every {t.negotiation_s:g} s while the stall lasts",
                Rule.NEGOTIATION,
            )
        )
    return said


# Long: per region, each hung node's negotiation and write timer, then the quorum-region count
def _storage_timeline(layout: Layout, failure: Failure, live, events, fenced, seen_dead) -> None:
    """o2hb: the negotiation at half the dead time and each write timeout, as events; a node
    whose failed quorum regions are half or more is fenced (`fenced`, `seen_dead`)."""
    t = layout.timeouts
    troubles = _troubles(layout, failure)
    quorum = {r.name for r in layout.quorum_regions()}
    fires: dict[str, list[tuple[float, Region]]] = {h: [] for h in live}
    lowest = min((layout.node(h).number for h in live), default=None)
    written = {host: set() for host in live}
    for region in layout.regions:
        for host in layout.writers(region) & live:
            written[host].add(region.name)
    for region in layout.regions:
        fire, approvals, forever = _region_timeline(layout, region, troubles, live)
        stalled = sorted(h for (h, name) in troubles if name == region.name and h in live)
        for host in stalled:
            trouble = troubles[(host, region.name)]
            me = layout.node(host).number
            events[host] += _negotiation_events(t, region, trouble, me, lowest, approvals, forever)
            if fire is not None and trouble.active(fire):
                fires[host].append((fire, region))
            elif trouble.ends_at is not None:
                events[host].append(
                    Event(
                        trouble.ends_at,
                        f"writes to {region.name} go through again: timers re-armed",
                        Rule.WRITE_TIMEOUT,
                    )
                )
    for host, timers in fires.items():
        for at, region in sorted(timers, key=lambda item: (item[0], item[1].name)):
            failed = {
                r.name
                for when, r in timers
                if when <= at and troubles[(host, r.name)].active(at) and r.name in quorum
            }
            if not layout.global_heartbeat:
                fences, why = True, f"its write to {region.name} timed out (local heartbeat)"
            elif 2 * len(failed) < len(quorum):
                fences, why = (
                    False,
                    (f"{len(failed)} of {len(quorum)} quorum regions failed, fewer than half"),
                )
            else:
                fences, why = (
                    True,
                    (f"{len(failed)} of {len(quorum)} quorum region(s) failed, at least half"),
                )
            events[host].append(
                Event(
                    at,
                    f"write timeout on {region.name} after {t.dead_s:g} s: {why}"
                    + ("; it fences" if fences else "; it carries on"),
                    Rule.WRITE_TIMEOUT,
                )
            )
            if fences:
                fenced[host] = (at, Rule.WRITE_TIMEOUT, why)
                healthy = any((host, name) not in troubles for name in written[host])
                seen_dead[host] = (at if healthy else 0) + t.peer_dead_s
                break


def _network_timeline(layout: Layout, failure: Failure, live, events, fenced, seen_dead) -> None:
    """o2net and o2quo: each lost connection, then the quorum decision of every node still
    up when it is taken."""
    t = layout.timeouts
    before, after = _network(layout, failure)
    decide_at = t.network_decision_s
    still = {h for h in live if h not in fenced or fenced[h][0] > decide_at}
    beating = {
        h: layout.node(h).number
        for h in (live | {failure.target} if failure.kind == FailureKind.HOST else live)
        if seen_dead.get(h, float("inf")) > decide_at
    }
    members_live = set(layout._live_hosts)
    for host in sorted(still):
        if len(before[host]) == len(after[host]):
            continue  # after is a subset of before: nothing lost
        lost = (before[host] - after[host]) & members_live
        if not lost:
            continue
        lost_names = ", ".join(sorted(lost))
        events[host].append(
            Event(
                t.idle_timeout_ms / 1000,
                f"o2net: the connection to {lost_names} has been idle for "
                f"{t.idle_timeout_ms / 1000:g} s",
                Rule.QUORUM,
            )
        )
        if not lost & set(beating):
            events[host].append(
                Event(
                    min(seen_dead.get(h, decide_at) for h in lost),
                    f"{lost_names} stopped heartbeating: no quorum decision is needed",
                    Rule.QUORUM,
                )
            )
            continue
        connected = 1 + len((after[host] - {host}) & set(beating))
        lowest = min(beating, key=beating.get)
        reached = lowest in after[host]
        fences, why = _quorum(layout.node(host).number, connected, beating, reached)
        events[host].append(
            Event(
                decide_at,
                f"quorum decision: {why}" + ("; it fences" if fences else ""),
                Rule.QUORUM,
            )
        )
        if fences:
            fenced[host] = (decide_at, Rule.QUORUM, why)


def _host_outcome(node: Node, failure: Failure, t: Timeouts, events, fenced) -> HostOutcome:
    mine = tuple(sorted(events, key=lambda e: e.at_s))
    if failure.kind == FailureKind.HOST and node.host == failure.target:
        return HostOutcome(
            node.host,
            node.number,
            Fate.FAILED,
            0,
            Rule.HOST_FAILED,
            f"it is the host that fails; its peers call it dead after {t.peer_dead_s:g} s "
            "and recover its locks",
            (
                Event(0, "the host fails", Rule.HOST_FAILED),
                Event(t.peer_dead_s, "its peers stop seeing its heartbeat: dead", Rule.HOST_FAILED),
            ),
        )
    if not node.heartbeating:
        return HostOutcome(
            node.host,
            node.number,
            Fate.IDLE,
            None,
            Rule.NOT_HEARTBEATING,
            "it does not run the cluster, so O2CB has nothing to fence",
        )
    if fenced is not None:
        at, rule, why = fenced
        return HostOutcome(
            node.host,
            node.number,
            Fate.FENCED,
            at,
            rule,
            why,
            tuple(e for e in mine if e.at_s <= at),
        )
    rule = next((e.rule for e in reversed(mine)), Rule.UNAFFECTED)
    why = mine[-1].what if mine else "nothing it depends on broke"
    return HostOutcome(node.host, node.number, Fate.SURVIVES, None, rule, why, mine, node.srs)


def single_failures(layout: Layout, without_hosts: Iterable[str] = ()) -> list[Failure]:
    """Every single failure the layout names: each host, LUN, path set, switch, NIC, bond,
    and an I/O error of each array (`without_hosts`: members out of the cluster, e.g. in
    maintenance, whose own parts are left out)."""
    out = set(without_hosts)
    layout = _wired(layout)
    nodes = [n for n in layout.live if n.host not in out]
    failures = [Failure(FailureKind.HOST, n.host) for n in nodes]
    failures += [Failure(FailureKind.LUN, lun) for lun in sorted({r.lun for r in layout.regions})]
    failures += [Failure(FailureKind.ARRAY_ERROR, a) for a in layout.arrays]
    for node in nodes:
        for path_set in sorted({p for lun in node.luns for p in lun.path_sets}):
            failures.append(Failure(FailureKind.PATH_SET, path_set, host=node.host))
        # A bond of one NIC fails as a whole; a bond of two loses one NIC at a time.
        for bond in sorted({nic.bond for nic in node.nics if nic.bond}):
            if sum(nic.bond == bond for nic in node.nics) == 1:
                failures.append(Failure(FailureKind.BOND, bond, host=node.host))
        for nic in node.nics:
            if nic.bond is None or sum(n.bond == nic.bond for n in node.nics) > 1:
                failures.append(Failure(FailureKind.NIC, nic.name, host=node.host))
    # The implicit network is no part anyone named: the console knows no switch.
    segments = sorted(_segments(layout) - {IMPLICIT_SEGMENT})
    failures += [Failure(FailureKind.SEGMENT, s) for s in segments]
    return failures


def without(layout: Layout, hosts: Iterable[str]) -> Layout:
    """The layout while `hosts` are out (maintenance, removal, restart): not heartbeating."""
    out = set(hosts)
    return replace(
        layout,
        nodes=tuple(replace(n, heartbeating=False) if n.host in out else n for n in layout.nodes),
    )


def fencing_failures(layout: Layout, without_hosts: Iterable[str] = ()) -> list[Outcome]:
    """The single failures that fence a host which would otherwise live (the failed host
    itself never counts; a host's own bond or NIC does count, it would live without it)."""
    out = list(without_hosts)
    current = without(layout, out)
    outcomes = [simulate(current, f) for f in single_failures(current, out)]
    return [o for o in outcomes if o.fenced]


class Advice(StrEnum):
    FEW_REGIONS = "few_regions"
    ONE_ARRAY = "one_array"
    ONE_PATH_SET = "one_path_set"
    NETWORK = "network"
    QUEUEING = "queueing"
    HA_RACE = "ha_race"
    TIMEOUTS_DIFFER = "timeouts_differ"


@dataclass(frozen=True)
class Recommendation:
    kind: Advice
    message: str
    fix: str
    failures: tuple[str, ...] = ()


def _fenced_text(outcome: Outcome) -> str:
    return f"{outcome.description} fences {', '.join(outcome.fenced)}"


# Long: one recommendation per kind of bad layout, each with the text an admin reads
def recommendations(layout: Layout) -> list[Recommendation]:
    """What makes a single failure fence a host, each with its fix."""
    advice = []
    outcomes = fencing_failures(layout)
    by_kind: dict[FailureKind, list[Outcome]] = {}
    for outcome in outcomes:
        by_kind.setdefault(outcome.failure.kind, []).append(outcome)
    quorum = layout.quorum_regions()
    dead = layout.timeouts.dead_s
    luns = by_kind.get(FailureKind.LUN, [])
    if luns and (len(quorum) < 3 or not layout.global_heartbeat):
        advice.append(
            Recommendation(
                Advice.FEW_REGIONS,
                f"{layout.cluster} heartbeats on {len(quorum)} quorum region(s): "
                + "; ".join(_fenced_text(o) for o in luns)
                + ". O2CB fences a node once the failed regions are at least half of them.",
                "Add heartbeat regions until there are three, each on its own LUN "
                "(better on different arrays and paths): with three, one can fail.",
                tuple(o.description for o in luns),
            )
        )
    arrays = by_kind.get(FailureKind.ARRAY_ERROR, [])
    if arrays:
        advice.append(
            Recommendation(
                Advice.ONE_ARRAY,
                "; ".join(_fenced_text(o) for o in arrays)
                + ": the heartbeat regions it carries are at least half of them.",
                "Spread the heartbeat regions over arrays so that no array holds half of "
                "them or more (one region on each of three arrays).",
                tuple(o.description for o in arrays),
            )
        )
    paths = by_kind.get(FailureKind.PATH_SET, [])
    if paths:
        advice.append(
            Recommendation(
                Advice.ONE_PATH_SET,
                "; ".join(_fenced_text(o) for o in paths)
                + ": the heartbeat LUNs reach that host through this one path set.",
                "Give every heartbeat LUN paths through two HBAs and fabrics (multipath), "
                "so one path set failing leaves the other.",
                tuple(o.description for o in paths),
            )
        )
    network = [
        o
        for kind in (FailureKind.SEGMENT, FailureKind.BOND, FailureKind.NIC)
        for o in by_kind.get(kind, [])
    ]
    if network:
        live = layout.live
        lowest = min(live, key=lambda n: n.number) if live else None
        even = len(live) % 2 == 0
        advice.append(
            Recommendation(
                Advice.NETWORK,
                "; ".join(_fenced_text(o) for o in network)
                + ". "
                + (
                    f"With {len(live)} heartbeating nodes, a split into halves keeps the side of "
                    f"node {lowest.number} ({lowest.host}), the lowest numbered."
                    if even and lowest
                    else "A node that reaches fewer than a majority fences."
                ),
                "Carry o2net over a bond of two NICs on two switches on every host"
                + (
                    f"; with an even member count add a member (an odd count has a majority) "
                    f"or keep node {lowest.number} on the side that stays connected."
                    if even and lowest
                    else "."
                ),
                tuple(o.description for o in network),
            )
        )
    heartbeat_luns = {r.lun for r in layout.regions}
    for node in layout.live:
        for paths_ in node.luns:
            if paths_.lun not in heartbeat_luns:
                continue
            if paths_.queue_s is None or paths_.queue_s > dead:
                how_long = (
                    "without limit" if paths_.queue_s is None else f"for {paths_.queue_s:g} s"
                )
                advice.append(
                    Recommendation(
                        Advice.QUEUEING,
                        f"On {node.host}, multipath queues I/O to heartbeat LUN {paths_.lun} "
                        f"{how_long} once its paths are gone, past O2CB's dead time of {dead:g} s: "
                        "the write hangs and the host fences before multipath gives up.",
                        "Set no_path_retry so that no_path_retry x polling_interval stays below "
                        f"{dead:g} s, or raise O2CB_HEARTBEAT_THRESHOLD on every host.",
                    )
                )
        if node.ha_timeout_s is not None and abs(node.ha_timeout_s - dead) < TIMEOUT_RACE_MARGIN_S:
            advice.append(
                Recommendation(
                    Advice.HA_RACE,
                    f"On {node.host}, HA's timeout ({node.ha_timeout_s:g} s) races O2CB's dead "
                    f"time ({dead:g} s): either may fence first.",
                    f"Set HA's timeout at least {TIMEOUT_RACE_MARGIN_S} s away from {dead:g} s.",
                )
            )
    differing = sorted(
        n.host for n in layout.live if n.timeouts is not None and n.timeouts != layout.timeouts
    )
    if differing:
        advice.append(
            Recommendation(
                Advice.TIMEOUTS_DIFFER,
                f"{', '.join(differing)} run O2CB timeouts other than the cluster's "
                f"(dead threshold {layout.timeouts.dead_threshold}, idle "
                f"{layout.timeouts.idle_timeout_ms} ms): O2CB refuses to connect such nodes.",
                "Set the same values in the o2cb settings file (/etc/sysconfig/o2cb on "
                "XenServer and XCP-ng, /etc/default/o2cb on Debian) on every host, then "
                "restart the cluster host by host.",
            )
        )
    return advice
