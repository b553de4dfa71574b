"""The agent's work, one function per call of the contract, whatever carries the call.

Each registered call is `Registered(call, work, locked)`: `work(root, request)` does the
host-local work for the decoded request and returns the answer (a contract record, or a
dict the carrier checks against the call's answer). Two carriers run the same functions:
the Celery worker (agent/worker.py, sealed messages through Redis) and the XAPI host
plugin (agent/plugin.py, `host.call_plugin`). Neither Celery nor the seals are imported
here, so dom0's own python3 runs this module (scripts/dom0_python.py checks it).

`locked` says whether the call runs under the host's lock (each call reads, changes and
replaces the host's files): True, False for read-only calls, or IN_SANDBOX for a call
that is read-only on a real host but moves a sandbox host's emulation on. The carrier
owns the lock (a thread lock in the worker, a lock file in the plugin's process).
"""

from typing import Any, Callable, NamedTuple, Union

from . import contract, storage
from .crash.rules import parse_iso_time
from .crashdumps import dump_report, mark_reported, new_dumps, peer_log_lines
from .errors import AgentError
from .hostroot import HostRoot
from .identity import hello
from .io_probe import probe_io
from .o2cb import O2CBPlugin

# `locked` for a call that changes nothing on a real host, but a sandbox host's state.
IN_SANDBOX = "in sandbox"


class Registered(NamedTuple):
    call: contract.Call
    work: Callable[[HostRoot, Any], Any]
    locked: Union[bool, str]


def needs_lock(registered: Registered, root: HostRoot) -> bool:
    if registered.locked == IN_SANDBOX:
        return root.sandbox
    return bool(registered.locked)


def _hello(root: HostRoot, request: contract.NoArguments) -> dict:
    return hello(root)


def _membership_create(root: HostRoot, request: contract.MembershipCreate) -> dict:
    plugin = O2CBPlugin(root, request.cluster)
    return plugin.membership_create(request.hostname, request.uuid, request.id, request.addresses)


def _membership_destroy(root: HostRoot, request: contract.MembershipDestroy) -> dict:
    return O2CBPlugin(root, request.cluster).membership_destroy(request.uuid)


def _cluster_query(root: HostRoot, request: contract.OnCluster) -> dict:
    return O2CBPlugin(root, request.cluster).cluster_query()


def _cluster_start(root: HostRoot, request: contract.ClusterStart) -> dict:
    return O2CBPlugin(root, request.cluster).cluster_start(request.statefile_vdi)


def _cluster_stop(root: HostRoot, request: contract.OnCluster) -> dict:
    return O2CBPlugin(root, request.cluster).cluster_stop()


def _io_probe(root: HostRoot, request: contract.NoArguments) -> dict:
    return probe_io(root)


def _sandbox_fault(root: HostRoot, request: contract.SandboxFault) -> dict:
    if not root.sandbox:  # and the sandbox's code is not even installed on a real host
        raise AgentError("Faults can only be injected into sandbox hosts.")
    from .sandbox.io import inject_fault

    return inject_fault(root, request.fault, request.target)


def _lun_list(root: HostRoot, request: contract.NoArguments) -> contract.LunList:
    return contract.decode(contract.LunList, {"luns": storage.list_luns(root)}, "lun_list answer")


def _lun_format(root: HostRoot, request: contract.LunFormat) -> dict:
    return storage.format_lun(root, request.scsi_id, request.cluster, request.label, request.slots)


def _sr_mount(root: HostRoot, request: contract.SrMount) -> dict:
    return storage.sr_mount(root, request.scsi_id, request.sr_uuid, request.cluster)


def _sr_unmount(root: HostRoot, request: contract.SrUnmount) -> dict:
    return storage.sr_unmount(root, request.sr_uuid)


def _heartbeat_region_add(root: HostRoot, request: contract.HeartbeatRegionAdd) -> dict:
    return O2CBPlugin(root, request.cluster).heartbeat_region_add(request.region)


def _crash_peer_logs(root: HostRoot, request: contract.CrashPeerLogs) -> contract.PeerLogs:
    """What this host logged of O2CB, DLM and OCFS2 between two ISO times (a peer's death)."""
    since, until = parse_iso_time(request.since), parse_iso_time(request.until)
    lines = peer_log_lines(root, since, until)
    return contract.decode(contract.PeerLogs, {"lines": lines}, "crash_peer_logs answer")


# Dumps in one answer: each carries the tails of its logs, so a host with many asks again.
CRASH_DUMPS_PER_ANSWER = 4


def _crash_dumps(root: HostRoot, request: contract.CrashDumpsCollect) -> contract.CrashDumps:
    for name in request.received:
        mark_reported(root, name)
    dumps = [dump_report(path) for path in new_dumps(root)[:CRASH_DUMPS_PER_ANSWER]]
    return contract.decode(contract.CrashDumps, {"dumps": dumps}, "crash_dumps answer")


def _sandbox_reboot(root: HostRoot, request: contract.NoArguments) -> dict:
    root.kernel.reboot()
    return hello(root)


REGISTRY = {
    registered.call.name: registered
    for registered in (
        Registered(contract.HELLO, _hello, False),
        Registered(contract.MEMBERSHIP_CREATE, _membership_create, True),
        Registered(contract.MEMBERSHIP_DESTROY, _membership_destroy, True),
        Registered(contract.CLUSTER_QUERY, _cluster_query, True),
        Registered(contract.CLUSTER_START, _cluster_start, True),
        Registered(contract.CLUSTER_STOP, _cluster_stop, True),
        # Read-only on a real host: no host lock, so a long membership change never delays
        # health collection. A sandbox host's probe moves its emulation on (and may fence
        # it), which must not interleave with a fault being injected.
        Registered(contract.IO_PROBE, _io_probe, IN_SANDBOX),
        Registered(contract.SANDBOX_FAULT, _sandbox_fault, True),
        Registered(contract.LUN_LIST, _lun_list, False),
        Registered(contract.LUN_FORMAT, _lun_format, True),
        Registered(contract.SR_MOUNT, _sr_mount, True),
        Registered(contract.SR_UNMOUNT, _sr_unmount, True),
        Registered(contract.HEARTBEAT_REGION_ADD, _heartbeat_region_add, True),
        Registered(contract.CRASH_PEER_LOGS, _crash_peer_logs, False),
        # Locked: it writes which dumps the console has.
        Registered(contract.CRASH_DUMPS, _crash_dumps, True),
        Registered(contract.SANDBOX_REBOOT, _sandbox_reboot, True),
    )
}


def run(registered: Registered, root: HostRoot, fields: dict) -> dict:
    """The envelope answering `fields` (the console's request, contract and all) once the
    carrier holds the lock `needs_lock` asks for: a refusal of another contract version,
    else the work's answer, checked against the contract."""
    call = registered.call
    fields = dict(fields)
    fields.pop("host_uuid", None)  # the carrier has found the host by it already
    sent = fields.pop("contract", None)  # the console's contract version
    if sent != contract.CONTRACT_VERSION:
        return contract.refusal_envelope(contract.console_mismatch_message(root.hostname, sent))
    request = contract.decode(call.request, fields, f"{call.name} request")
    answer = registered.work(root, request)
    if not isinstance(answer, call.answer):
        answer = contract.decode(call.answer, answer, f"{call.name} answer")
    return contract.answer_envelope(answer)
