"""How the console reaches host agents: one client, a method per call of the contract.

`agent(host).cluster_query("pool")` sends the request of agent/contract.py and returns
its typed answer. How the call travels is the client's transport, chosen by how the host
was added: CeleryTransport (a queue `host.<uuid>` per host) for a host with its own
agent, XapiPluginTransport (`host.call_plugin` of the o2cb-agent host plugin, through its
pool master's XenAPI) for a pool's host. Every answer is checked for
the contract version and decoded strictly: an agent of another contract is refused
with both versions named (AgentContractMismatch), an answer that does not fit is
AgentCallFailed with what is missing or unknown.
"""

from __future__ import annotations

import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

from celery import current_app
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.cache import cache

from agent import contract, signing
from core.errors import ConsoleError, TransientError
from core.progress import progress_note, progress_watched

from .models import Host

logger = logging.getLogger(__name__)


class HostUnreachable(TransientError):
    """The host's agent did not answer in time (transient: the step runner retries it)."""

    status_code = 503


class AgentCallFailed(ConsoleError):
    """The agent answered with an error (its message says why)."""

    status_code = 502


class AgentContractMismatch(AgentCallFailed):
    """The agent speaks another version of the agent contract than this console."""

    status_code = 409


class Transport(Protocol):
    """Carries one call to a host's agent and brings back its raw envelope."""

    def send(self, host: Host, call: str, kwargs: dict, timeout: float) -> Any:
        """The agent's answer envelope; HostUnreachable when it does not answer in time,
        any other exception for the agent's own error."""


class CeleryTransport:
    """A Celery task `agent.<call>` on the host's own queue `host.<uuid>`, sealed.

    Redis is no trust boundary: the request is sealed with the console's key for this call
    to this host, and the answer must come sealed by the host's accepted key for this very
    request (agent/signing.py); anything else is refused."""

    def send(self, host: Host, call: str, kwargs: dict, timeout: float) -> Any:
        sealed = signing.seal(
            console_key(),
            signer=contract.CONSOLE_SIGNER,
            purpose=contract.call_purpose(call, host.uuid),
            payload=kwargs,
            ttl=timeout,
        )
        result = current_app.send_task(
            f"agent.{call}",
            kwargs={"host_uuid": str(host.uuid), "sealed": sealed},
            queue=host.queue,
            # A call nobody picked up in time is dropped, so a host that comes back later
            # never replays stale orders.
            expires=timeout,
        )
        try:
            answer = result.get(timeout=timeout, disable_sync_subtasks=False, propagate=True)
        except CeleryTimeout:
            result.forget()
            raise HostUnreachable(
                f"{host.hostname} did not answer '{call}' within {timeout:g} s.",
                detail={"host": str(host.uuid), "call": call},
            ) from None
        return open_answer(host, call, sealed["nonce"], answer)


# Plugin errors that mean the host lacks the plugin, or has one from before this call.
_PLUGIN_MISSING = {"UNKNOWN_XENAPI_PLUGIN_FUNCTION", "XENAPI_MISSING_PLUGIN"}
# XAPI's word that the master cannot reach the host right now.
_HOST_DOWN = {"HOST_OFFLINE", "HOST_NOT_LIVE", "HOST_STILL_BOOTING"}


class XapiPluginTransport:
    """`host.call_plugin(host, "o2cb-agent", call, {"request": JSON})` through the pool
    master's XenAPI; the plugin answers with the contract's envelope as JSON.

    No seals: the call travels in XAPI's authenticated session (the pool's credentials,
    TLS to the master, the master's own channel to its hosts), which is the trust
    boundary here, as it is for every other XAPI call the console makes."""

    plugin = "o2cb-agent"

    def send(self, host: Host, call: str, kwargs: dict, timeout: float) -> Any:
        from .xapi import PoolUnreachable, XapiError, pool_session

        detail = {"host": str(host.uuid), "call": call}
        try:
            with pool_session(host.pool, timeout=timeout) as api:
                ref = host.xapi_ref or api.host.get_by_uuid(str(host.uuid))
                text = api.host.call_plugin(ref, self.plugin, call, {"request": json.dumps(kwargs)})
        except PoolUnreachable as exc:
            raise HostUnreachable(
                f"{host.hostname} did not answer '{call}' within {timeout:g} s: {exc.message}",
                detail=detail,
            ) from None
        except XapiError as exc:
            raise self._failure(host, call, exc.code, exc.details, detail) from None
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            raise AgentCallFailed(
                f"{host.hostname}: the o2cb-agent plugin answered '{call}' with no JSON: "
                f"{str(text)[:200]!r}.",
                detail=detail,
            ) from None

    def _failure(self, host: Host, call: str, code: str, details: list, detail: dict):
        if code == "XENAPI_PLUGIN_FAILURE":
            # [code, function, exception class, message], as XenAPIPlugin.dispatch sends it.
            kind = str(details[2]) if len(details) > 2 else ""
            message = str(details[3]) if len(details) > 3 else ", ".join(map(str, details))
            said = message if kind == "AgentError" else f"{kind}: {message}"
            return AgentCallFailed(f"{host.hostname}: {call} failed: {said}", detail=detail)
        if code in _PLUGIN_MISSING:
            return AgentCallFailed(
                f"{host.hostname} has no o2cb-agent host plugin that knows '{call}' "
                f"(XAPI: {code}): install or upgrade the o2cb-agent RPM on that host "
                "(yum install o2cb-agent) so it matches this console.",
                detail={**detail, "code": code},
            )
        if code in _HOST_DOWN:
            return HostUnreachable(
                f"{host.hostname} cannot be reached by its pool master ({code}).",
                detail={**detail, "code": code},
            )
        said = ", ".join(map(str, details))
        return AgentCallFailed(f"{host.hostname}: {call} failed in XAPI: {said}", detail=detail)


def open_answer(host: Host, call: str, nonce: str, answer: Any) -> Any:
    """The envelope inside `host`'s sealed answer to the request `nonce`."""
    detail = {"host": str(host.uuid), "call": call}
    if (
        isinstance(answer, dict)
        and "signature" not in answer
        and answer.get("contract") != contract.CONTRACT_VERSION
    ):
        return answer  # an agent of another contract (or none): the envelope says which
    if not host.public_key:
        raise AgentCallFailed(
            f"{host.hostname} has no key on record yet, so its answers cannot be trusted: "
            "wait for its agent's first report.",
            detail=detail,
        )
    try:
        return OPENER.open(
            answer,
            host.public_key,
            signer=str(host.uuid),
            purpose=contract.answer_purpose(nonce),
        )
    except signing.SealRefused as exc:
        refused = f"The answer to {call} was refused: {exc}."
        logger.warning("%s: %s", host.hostname, refused)
        raise AgentCallFailed(f"{host.hostname}: {refused}", detail=detail) from None


@functools.cache
def _console_key(path: str):
    return signing.load_or_create_key(Path(path))


def console_key():
    """The key the console seals its calls with (settings.CONSOLE_KEY_FILE), made on first use."""
    return _console_key(str(settings.CONSOLE_KEY_FILE))


def console_public_key() -> str:
    """What every agent must trust: `python -m agent trust-console` takes it."""
    return signing.public_text(console_key())


def _remember_nonce(nonce: str, seconds: float) -> bool:
    # In Redis, so a copy replayed to another worker process is known there too.
    return cache.add(f"sealed-nonce:{nonce}", 1, timeout=int(seconds) + 1)


OPENER = signing.Opener(remember=_remember_nonce)


def _older_agent(exc: Exception) -> bool:
    """An agent from before the contract (or before seals) rejects the arguments
    themselves."""
    return isinstance(exc, TypeError) and ("'contract'" in str(exc) or "'sealed'" in str(exc))


class AgentClient:
    """The agent of one host, a method per call of agent/contract.py."""

    def __init__(self, host: Host, *, timeout: float | None = None, transport=None):
        self.host = host
        self.timeout = settings.AGENT_CALL_TIMEOUT if timeout is None else timeout
        self.transport = transport or transport_for(host)

    def call(self, call: contract.Call, request: Any) -> Any:
        """Send one request and return its typed answer."""
        host, detail = self.host, {"host": str(self.host.uuid), "call": call.name}
        kwargs = {
            "host_uuid": str(host.uuid),
            "contract": contract.CONTRACT_VERSION,
            **contract.encode(request),
        }
        progress_note(f"Asking {host.hostname}'s agent ({call.name})", gives_up_after=self.timeout)
        try:
            envelope = self.transport.send(host, call.name, kwargs, self.timeout)
        except ConsoleError:
            raise
        except Exception as exc:  # the agent's error, rebuilt by the transport
            if _older_agent(exc):
                message = contract.mismatch_message(host.hostname, None, None)
                raise AgentContractMismatch(message, detail=detail) from exc
            raise AgentCallFailed(
                f"{host.hostname}: {call.name} failed: {exc}", detail=detail
            ) from exc
        try:
            answer = contract.open_envelope(host.hostname, envelope)
            return contract.decode(call.answer, answer, f"{host.hostname}'s {call.name} answer")
        except contract.ContractMismatch as exc:
            raise AgentContractMismatch(str(exc), detail=detail) from None
        except contract.ContractError as exc:
            raise AgentCallFailed(f"{host.hostname}: {exc}", detail=detail) from None

    def hello(self) -> contract.HostIdentity:
        return self.call(contract.HELLO, contract.NoArguments())

    def membership_create(
        self, cluster: str, hostname: str, uuid: str, id: int, addresses: list[str]
    ) -> contract.MembershipAdded:
        request = contract.MembershipCreate(cluster, hostname, uuid, id, list(addresses))
        return self.call(contract.MEMBERSHIP_CREATE, request)

    def membership_destroy(self, cluster: str, uuid: str) -> contract.MembershipRemoved:
        return self.call(contract.MEMBERSHIP_DESTROY, contract.MembershipDestroy(cluster, uuid))

    def cluster_query(self, cluster: str) -> contract.ClusterQuery:
        return self.call(contract.CLUSTER_QUERY, contract.OnCluster(cluster))

    def cluster_start(
        self, cluster: str, statefile_vdi: str | None = None
    ) -> contract.ClusterQuery:
        return self.call(contract.CLUSTER_START, contract.ClusterStart(cluster, statefile_vdi))

    def cluster_stop(self, cluster: str) -> contract.ClusterQuery:
        return self.call(contract.CLUSTER_STOP, contract.OnCluster(cluster))

    def io_probe(self) -> contract.IoProbe:
        return self.call(contract.IO_PROBE, contract.NoArguments())

    def sandbox_fault(self, fault: str, target: str | None = None) -> contract.FaultState:
        return self.call(contract.SANDBOX_FAULT, contract.SandboxFault(fault, target))

    def lun_list(self) -> list[contract.Lun]:
        return self.call(contract.LUN_LIST, contract.NoArguments()).luns

    def lun_format(self, scsi_id: str, cluster: str, label: str, slots: int) -> contract.Formatted:
        request = contract.LunFormat(scsi_id, cluster, label, slots)
        return self.call(contract.LUN_FORMAT, request)

    def sr_mount(self, scsi_id: str, sr_uuid: str, cluster: str) -> contract.Mounted:
        return self.call(contract.SR_MOUNT, contract.SrMount(scsi_id, sr_uuid, cluster))

    def sr_unmount(self, sr_uuid: str) -> contract.Unmounted:
        return self.call(contract.SR_UNMOUNT, contract.SrUnmount(sr_uuid))

    def heartbeat_region_add(self, cluster: str, region: str) -> contract.RegionAdded:
        request = contract.HeartbeatRegionAdd(cluster, region)
        return self.call(contract.HEARTBEAT_REGION_ADD, request)

    def crash_peer_logs(self, since: str, until: str) -> list[contract.PeerLogLine]:
        request = contract.CrashPeerLogs(since, until)
        return self.call(contract.CRASH_PEER_LOGS, request).lines

    def crash_dumps(self, received: list[str]) -> list[contract.CrashDump]:
        """The crash dumps not reported yet, once the host forgets `received`."""
        request = contract.CrashDumpsCollect(list(received))
        return self.call(contract.CRASH_DUMPS, request).dumps

    def sandbox_reboot(self) -> contract.HostIdentity:
        return self.call(contract.SANDBOX_REBOOT, contract.NoArguments())


# How calls travel unless a client is given another transport: to a host with its own
# agent, and to a pool's host.
TRANSPORT: Transport = CeleryTransport()
XAPI_TRANSPORT: Transport = XapiPluginTransport()


def transport_for(host: Host) -> Transport:
    """Through the pool master for a pool's host, else to the host's own agent."""
    return XAPI_TRANSPORT if host.pool_id else TRANSPORT


def agent(host: Host, *, timeout: float | None = None) -> AgentClient:
    """The client for `host`'s agent."""
    return AgentClient(host, timeout=timeout)


def decode_report(version: Any, report: Any) -> contract.HostIdentity:
    """An agent's unasked report of itself, refused when its contract differs."""
    host = report.get("hostname", "a host") if isinstance(report, dict) else "a host"
    try:
        contract.check_report(host, version)
        return contract.decode(contract.HostIdentity, report, f"{host}'s report")
    except contract.ContractMismatch as exc:
        raise AgentContractMismatch(str(exc)) from None
    except contract.ContractError as exc:
        raise AgentCallFailed(str(exc)) from None


def agent_call_many(hosts, work, *, max_workers: int = 64) -> dict[Host, Any]:
    """Run `work(host)` for every host at once; each value is the answer or the exception.

    Only agent calls run in the threads (no database access), so one slow host never
    holds up the others.
    """
    hosts = list(hosts)
    if not hosts:
        return {}
    for host in hosts:
        if host.pool_id:
            host.pool  # noqa: B018 - loaded here, so the threads need no database

    def guarded(host):
        try:
            return work(host)
        except Exception as exc:  # reported per host by the caller
            return exc

    waiting = {host.hostname for host in hosts}
    bound = settings.AGENT_CALL_TIMEOUT

    def waiting_for():
        if not progress_watched():
            return
        progress_note(
            f"{len(hosts) - len(waiting)} of {len(hosts)} hosts answered"
            + (f"; waiting for {', '.join(sorted(waiting))}" if waiting else ""),
            done=len(hosts) - len(waiting),
            total=len(hosts),
            gives_up_after=bound,
        )

    with ThreadPoolExecutor(max_workers=min(max_workers, len(hosts))) as pool:
        futures = {pool.submit(guarded, host): host for host in hosts}
        waiting_for()
        for future in as_completed(futures):
            waiting.discard(futures[future].hostname)
            waiting_for()
        return {host: future.result() for future, host in futures.items()}
