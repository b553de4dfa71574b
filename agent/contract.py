"""The agent contract: every call the console makes, every answer and report, typed once.

Both sides import this module: the agent (agent/calls.py) to read requests and build
answers, the console (clusters/agents.py) to send requests and read answers. Each
call is a `Call`: its name, its request record and its answer record (CALLS). Records
are typing.NamedTuples, not dataclasses: the XAPI plugin runs this on dom0's python 3.6.

On the wire a request is the request's fields plus `host_uuid` and `contract`; an
answer is an envelope::

    {"contract": CONTRACT_VERSION, "agent_version": "0.1.0", "answer": {...}}

or, when the agent refused a console of another contract, the same envelope with
"refused" instead of "answer". Either side that meets another contract version says
so with both versions and what to upgrade (ContractMismatch), never a KeyError.
Decoding is strict: a field missing (without a default) or unknown is a ContractError.

Change CONTRACT_VERSION whenever a call, a field or its meaning changes: consoles and
agents of different versions then refuse each other clearly instead of misreading.
Nested parts the console only stores or shows (multipath maps, bonds, heartbeat
regions, crash analyses) stay plain dicts, described where the probe builds them.
"""

import functools
import typing
from typing import Any, List, NamedTuple, Optional, Tuple

from . import __version__
from .errors import AgentError

CONTRACT_VERSION = 3


class ContractError(AgentError):
    """A request, answer or report that does not fit the contract."""


class ContractMismatch(ContractError):
    """The other side speaks another version of the contract."""


def mismatch_message(host: str, agent_contract: Any, agent_version: Any) -> str:
    """Who speaks which contract, and which side to upgrade."""
    ours = CONTRACT_VERSION
    if not isinstance(agent_contract, int):
        return (
            f"The agent on {host} (version {agent_version or 'unknown'}) speaks no agent "
            f"contract (it is older than contract 1); this console speaks contract {ours}: "
            f"upgrade the agent on {host}."
        )
    newer = "agent" if agent_contract < ours else "console"
    return (
        f"The agent on {host} (version {agent_version or 'unknown'}) speaks agent contract "
        f"{agent_contract}; this console speaks contract {ours}: upgrade the "
        f"{'agent on ' + host if newer == 'agent' else 'console'} so both speak one contract."
    )


def console_mismatch_message(host: str, console_contract: Any) -> str:
    """The agent's refusal of a console of another contract (sent back in the envelope)."""
    if not isinstance(console_contract, int):
        said = "no contract version (it is older than contract 1)"
    else:
        said = f"agent contract {console_contract}"
    older = not isinstance(console_contract, int) or console_contract < CONTRACT_VERSION
    return (
        f"The console sent {said}; the agent on {host} (version {__version__}) speaks "
        f"contract {CONTRACT_VERSION}: upgrade the {'console' if older else 'agent on ' + host}."
    )


# Encoding and strict decoding --------------------------------------------------------------


def is_record(cls: Any) -> bool:
    """Whether `cls` is one of the contract's records (a typing.NamedTuple: dom0's python
    3.6 has no dataclasses)."""
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def encode(value: Any) -> Any:
    """A contract value as plain JSON-able data."""
    if is_record(type(value)):
        return {name: encode(getattr(value, name)) for name in value._fields}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


@functools.lru_cache(maxsize=None)
def _shape(cls: type) -> Tuple[dict, Tuple[str, ...], dict]:
    # Evaluating the annotations is most of a decode's cost: once per class is enough.
    return typing.get_type_hints(cls), cls._fields, cls._field_defaults


def decode(cls: type, data: Any, where: str = "") -> Any:
    """`data` as an instance of record `cls`; ContractError names what does not fit."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise ContractError(f"{where} should be an object, not {type(data).__name__}.")
    hints, fields, defaults = _shape(cls)
    unknown = sorted(set(data) - set(fields))
    missing = sorted(name for name in fields if name not in data and name not in defaults)
    if unknown or missing:
        parts = [f"lacks {', '.join(missing)}" if missing else ""]
        parts.append(f"has unknown {', '.join(unknown)}" if unknown else "")
        raise ContractError(
            f"{where} does not fit agent contract {CONTRACT_VERSION}: "
            + " and ".join(p for p in parts if p)
            + "."
        )
    values = {
        name: _decode_value(hints[name], data[name], f"{where}.{name}")
        for name in fields
        if name in data
    }
    return cls(**values)


def _origin(hint: Any) -> Any:
    """list for List[...], dict for Dict[...], typing.Union for Optional[...] (what
    typing.get_origin says from Python 3.8 on; 3.6 names typing.List, typing.Dict)."""
    origin = getattr(hint, "__origin__", None)
    return {typing.List: list, typing.Dict: dict}.get(origin, origin)


def _decode_value(hint: Any, value: Any, where: str) -> Any:
    origin = _origin(hint)
    if origin is typing.Union:
        options = hint.__args__
        if value is None and type(None) in options:
            return None
        hint = next(option for option in options if option is not type(None))
        origin = _origin(hint)
    if is_record(hint):
        return decode(hint, value, where)
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise ContractError(f"{where} should be a list, not {type(value).__name__}.")
        (item,) = getattr(hint, "__args__", None) or (Any,)
        return [_decode_value(item, entry, f"{where}[{i}]") for i, entry in enumerate(value)]
    expected = {str: str, int: int, bool: bool, float: (int, float), dict: dict}.get(origin or hint)
    if expected is not None and (
        not isinstance(value, expected) or (hint is int and isinstance(value, bool))
    ):
        raise ContractError(f"{where} should be {hint.__name__}, not {type(value).__name__}.")
    return value


def answer_envelope(answer: Any) -> dict:
    return {"contract": CONTRACT_VERSION, "agent_version": __version__, "answer": encode(answer)}


def refusal_envelope(message: str) -> dict:
    return {"contract": CONTRACT_VERSION, "agent_version": __version__, "refused": message}


def open_envelope(host: str, envelope: Any) -> Any:
    """The answer inside an agent's envelope, or ContractMismatch naming both versions."""
    if not isinstance(envelope, dict) or "contract" not in envelope:
        raise ContractMismatch(mismatch_message(host, None, None))
    if envelope["contract"] != CONTRACT_VERSION:
        raise ContractMismatch(
            mismatch_message(host, envelope["contract"], envelope.get("agent_version"))
        )
    if "refused" in envelope:
        raise ContractMismatch(str(envelope["refused"]))
    if "answer" not in envelope:
        raise ContractError(f"The agent on {host} answered an envelope without an answer.")
    return envelope["answer"]


# Answers ----------------------------------------------------------------------------------


class HostIdentity(NamedTuple):
    """Who a host is, when it booted and which agent answers (`hello`, reports)."""

    uuid: str
    hostname: str
    boot_time: str  # ISO 8601
    agent_version: str
    sandbox: bool
    addresses: List[str]
    public_key: str  # the key it seals answers and reports with (agent/signing.py)


class Timeouts(NamedTuple):
    """The O2CB timeouts a host uses (the running cluster's, else what it would boot with)."""

    dead_threshold: Optional[int]
    idle_timeout_ms: Optional[int]
    keepalive_delay_ms: Optional[int]
    reconnect_delay_ms: Optional[int]


class ClusterNode(NamedTuple):
    """One node of cluster.conf or the running cluster, as one host sees it."""

    uuid: Optional[str]
    hostname: str
    number: int
    address: str  # ip:port
    state: str  # alive, dead or excluded
    configured: bool
    live: bool


class ClusterQuery(NamedTuple):
    """A cluster's state on one host (the design's Cluster.query)."""

    cluster: str
    configured: bool
    running: bool
    enabled: bool
    heartbeat_mode: Optional[str]
    needs_restart: bool
    restart_reasons: List[str]
    local_node: Optional[int]
    timeouts: Timeouts
    hosts: List[ClusterNode]


class NodeEntry(NamedTuple):
    name: str
    number: int
    ip_address: str
    ip_port: int


class MembershipAdded(NamedTuple):
    changed: bool
    node: NodeEntry
    query: ClusterQuery


class MemberRef(NamedTuple):
    name: str
    number: int


class MembershipRemoved(NamedTuple):
    changed: bool
    node: Optional[MemberRef]  # None: the host was not a member here
    query: ClusterQuery


class RegionAdded(NamedTuple):
    changed: bool
    region: str


class IoProbe(NamedTuple):
    """Every I/O path a host's cluster storage depends on (agent/io_probe.py)."""

    time: str
    multipath: dict  # available, maps, queueing, error
    bonds: List[dict]
    heartbeat: dict  # clusters (each with connected_nodes), summary
    ha: Optional[dict]


class FaultState(NamedTuple):
    """What is broken on a sandbox host after a fault was injected or mended."""

    failed_paths: List[str]
    down_slaves: List[str]
    link_failures: dict
    heartbeat: str
    heartbeat_since: Optional[float]
    lun_down_since: dict


class Lun(NamedTuple):
    scsi_id: str
    size: Optional[int]
    vendor: str
    model: str
    device: str
    dm: Optional[str]
    paths: int
    paths_up: int
    filesystem: Optional[str]
    label: Optional[str]
    fs_uuid: Optional[str]
    region: Optional[str]


class LunList(NamedTuple):
    luns: List[Lun]


class Formatted(NamedTuple):
    scsi_id: str
    region: str
    label: str
    slots: int


class Mounted(NamedTuple):
    mounted: str
    changed: bool


class Unmounted(NamedTuple):
    unmounted: str
    changed: bool


class PeerLogLine(NamedTuple):
    file: str
    line: int
    time: str  # ISO 8601
    text: str


class PeerLogs(NamedTuple):
    lines: List[PeerLogLine]


class CrashDump(NamedTuple):
    """One crash dump, analysed on the host (agent/crashdumps.py describe_dump)."""

    name: str
    files: List[dict]
    size: int
    logs: dict
    analysis: Optional[dict]
    error: Optional[str] = None


class CrashDumps(NamedTuple):
    """Crash dumps the host has not reported yet (a few at a time: ask again for more)."""

    dumps: List[CrashDump]


# Requests ---------------------------------------------------------------------------------


class NoArguments(NamedTuple):
    pass


class OnCluster(NamedTuple):
    cluster: str


class MembershipCreate(NamedTuple):
    cluster: str
    hostname: str
    uuid: str
    id: int
    addresses: List[str]


class MembershipDestroy(NamedTuple):
    cluster: str
    uuid: str


class ClusterStart(NamedTuple):
    cluster: str
    statefile_vdi: Optional[str] = None


class SandboxFault(NamedTuple):
    fault: str
    target: Optional[str] = None


class LunFormat(NamedTuple):
    scsi_id: str
    cluster: str
    label: str
    slots: int


class SrMount(NamedTuple):
    scsi_id: str
    sr_uuid: str
    cluster: str


class SrUnmount(NamedTuple):
    sr_uuid: str


class HeartbeatRegionAdd(NamedTuple):
    cluster: str
    region: str


class CrashDumpsCollect(NamedTuple):
    """The dumps the console recorded from its last `crash_dumps` answer: the host forgets
    them (only then, so an answer lost on the way loses no dump)."""

    received: List[str]


class CrashPeerLogs(NamedTuple):
    since: str  # ISO 8601
    until: str


# The calls --------------------------------------------------------------------------------


class Call(NamedTuple):
    name: str  # the Celery task is agent.<name>
    request: type
    answer: type


HELLO = Call("hello", NoArguments, HostIdentity)
MEMBERSHIP_CREATE = Call("membership_create", MembershipCreate, MembershipAdded)
MEMBERSHIP_DESTROY = Call("membership_destroy", MembershipDestroy, MembershipRemoved)
CLUSTER_QUERY = Call("cluster_query", OnCluster, ClusterQuery)
CLUSTER_START = Call("cluster_start", ClusterStart, ClusterQuery)
CLUSTER_STOP = Call("cluster_stop", OnCluster, ClusterQuery)
IO_PROBE = Call("io_probe", NoArguments, IoProbe)
SANDBOX_FAULT = Call("sandbox_fault", SandboxFault, FaultState)
LUN_LIST = Call("lun_list", NoArguments, LunList)
LUN_FORMAT = Call("lun_format", LunFormat, Formatted)
SR_MOUNT = Call("sr_mount", SrMount, Mounted)
SR_UNMOUNT = Call("sr_unmount", SrUnmount, Unmounted)
HEARTBEAT_REGION_ADD = Call("heartbeat_region_add", HeartbeatRegionAdd, RegionAdded)
CRASH_PEER_LOGS = Call("crash_peer_logs", CrashPeerLogs, PeerLogs)
CRASH_DUMPS = Call("crash_dumps", CrashDumpsCollect, CrashDumps)
SANDBOX_REBOOT = Call("sandbox_reboot", NoArguments, HostIdentity)

CALLS = {
    call.name: call
    for call in (
        HELLO,
        MEMBERSHIP_CREATE,
        MEMBERSHIP_DESTROY,
        CLUSTER_QUERY,
        CLUSTER_START,
        CLUSTER_STOP,
        IO_PROBE,
        SANDBOX_FAULT,
        LUN_LIST,
        LUN_FORMAT,
        SR_MOUNT,
        SR_UNMOUNT,
        HEARTBEAT_REGION_ADD,
        CRASH_PEER_LOGS,
        CRASH_DUMPS,
        SANDBOX_REBOOT,
    )
}


# Reports: sent by the agent to the console, unasked -----------------------------------------

AGENT_REPORT = "console.agent_report"  # sealed: contract, report (a HostIdentity), refused
CRASH_REPORT = "console.crash_report"  # sealed: contract, dump (a CrashDump)


# Seals (agent/signing.py): what each sealed message is for. A call names its host, and an
# answer the request it answers, so neither can be replayed to another host or request;
# reports are sealed by the host they are about.
CONSOLE_SIGNER = "console"
REPORT_PURPOSE = "report"
CRASH_REPORT_PURPOSE = "crash report"


def call_purpose(call: str, host_uuid: str) -> str:
    return f"call {call} to {str(host_uuid).lower()}"


def answer_purpose(request_nonce: str) -> str:
    return f"answer to {request_nonce}"


def check_report(host: str, contract: Any) -> None:
    """Refuse a report from an agent of another contract, naming both versions."""
    if contract != CONTRACT_VERSION:
        raise ContractMismatch(mismatch_message(host, contract, None))
