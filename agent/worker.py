"""The agent's Celery side: one queue `host.<uuid>` per host it serves.

A real host serves itself; in sandbox mode one process serves every sandbox
host under a directory. Tasks take the host's UUID and the
request of agent/contract.py, do host-local work only, and answer in the contract's
envelope. Errors travel back as AgentError with one clear message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from socket import gethostname

from celery import Celery, signals
from celery.exceptions import Ignore, SecurityWarning

from . import calls, contract, signing
from .crashdumps import dump_report, mark_reported, new_dumps
from .errors import AgentError
from .host import console_public_key, hello, host_key
from .hostroot import HostRoot
from .progress import Progress
from .realkernel import real_root
from .sandbox.host import iter_sandbox_hosts

logger = logging.getLogger(__name__)

# No Django fixup, even when DJANGO_SETTINGS_MODULE is set: the agent never loads Django.
# Not the process's current app either: a console process that imports this module keeps
# sending through its own app.
app = Celery("agent", fixups=[], set_as_current=False)
app.conf.update(
    broker_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    result_backend=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=6 * 3600,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

# host uuid -> the root this process serves it from
SERVED: dict[str, HostRoot] = {}
# One call at a time per host: each one reads, changes and replaces that host's files.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
# Reports go to the console's rounds queue (console/settings.py ROUNDS_QUEUE), which no
# workflow can hold up: a healthy host is never shown silent behind a long maintenance.
REPORTS_QUEUE = os.environ.get("CONSOLE_QUEUE", "console") + ".rounds"
# Calls from the console are opened once each (a copy replayed from Redis is refused).
OPENER = signing.Opener()
# host uuid -> the calls it refused since its last report, which tells the console.
REFUSED: dict[str, list[dict]] = {}
REFUSED_KEPT = 20


def host_lock(host_uuid: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(host_uuid).lower(), threading.Lock())


def root_for(host_uuid: str) -> HostRoot:
    root = SERVED.get(str(host_uuid).lower())
    if root is None:
        raise AgentError(f"This agent does not serve host {host_uuid}.")
    if root.kernel.powered_off():  # the sandbox's dark host: no answer at all
        raise Ignore()
    delay = root.kernel.answer_delay()  # the sandbox's slow host
    if delay > 0:
        time.sleep(delay)
    return root


def agent_task(registered: calls.Registered):
    """The Celery task `agent.<name>` of one registered call (agent/calls.py).

    The task opens the console's sealed request (anything else is refused, logged and
    told to the console in the next report), then `calls.run` checks the console's
    contract version (a console of another one gets a refusal naming both), decodes the
    request strictly and runs the work, under the host's lock when the call needs it; the
    envelope goes back sealed with the host's key.
    """
    call = registered.call

    @app.task(name=f"agent.{call.name}")
    def task(host_uuid: str, sealed=None, **unsealed):
        if sealed is None and "contract" in unsealed:  # a console from before seals
            served = SERVED.get(str(host_uuid).lower())
            name = served.hostname if served else str(host_uuid)
            if served is not None:
                _refused(served, call.name, "the message is not sealed")
            message = contract.console_mismatch_message(name, unsealed["contract"])
            return contract.refusal_envelope(message)
        root = root_for(host_uuid)
        fields = open_call(root, call.name, sealed)
        with host_lock(host_uuid) if calls.needs_lock(registered, root) else nullcontext():
            envelope = calls.run(registered, root, fields)
        if call is contract.SANDBOX_REBOOT and "answer" in envelope:
            report(root)  # the console hears of the new boot at once
        return _sealed_answer(root, sealed, envelope)

    task.work = registered.work
    return task


# One Celery task per call of the contract, each running the registered work.
TASKS = {name: agent_task(registered) for name, registered in calls.REGISTRY.items()}


def open_call(root: HostRoot, call: str, sealed) -> dict:
    """The request inside a call the console sealed for this host; AgentError otherwise."""
    try:
        fields = OPENER.open(
            sealed,
            console_public_key(root),
            signer=contract.CONSOLE_SIGNER,
            purpose=contract.call_purpose(call, root.uuid),
        )
        if not isinstance(fields, dict):
            raise signing.SealRefused("the sealed request is not a set of fields")
        return fields
    except signing.SealRefused as exc:
        _refused(root, call, str(exc))
        raise AgentError(f"{root.hostname} refused agent.{call}: {exc}.") from None


def _refused(root: HostRoot, call: str, reason: str) -> None:
    """Log a call this host would not run, and keep it for the next report."""
    logger.warning("%s refused agent.%s: %s", root.hostname, call, reason)
    refused = REFUSED.setdefault(root.uuid, [])
    refused.append({"at": time.time(), "call": call, "reason": reason})
    del refused[:-REFUSED_KEPT]


def _sealed_answer(root: HostRoot, request: dict, envelope: dict) -> dict:
    return signing.seal(
        host_key(root),
        signer=root.uuid,
        purpose=contract.answer_purpose(request["nonce"]),
        payload=envelope,
    )


def report(root: HostRoot) -> None:
    """Tell the console this host is alive (registers a new host), and what it refused."""
    identity = contract.decode(contract.HostIdentity, hello(root), "agent report")
    payload = {
        "contract": contract.CONTRACT_VERSION,
        "report": contract.encode(identity),
        "refused": REFUSED.pop(root.uuid, []),
    }
    app.send_task(
        contract.AGENT_REPORT,
        kwargs={"sealed": _sealed_report(root, contract.REPORT_PURPOSE, payload, ttl=60)},
        queue=REPORTS_QUEUE,
        # Fire and forget: no result to wait for, so nothing piles up in this process.
        ignore_result=True,
        # A report nobody read within a minute is stale; the next one says the same, fresher.
        expires=60,
    )


def _sealed_report(root: HostRoot, purpose: str, payload: dict, ttl: float) -> dict:
    return signing.seal(host_key(root), signer=root.uuid, purpose=purpose, payload=payload, ttl=ttl)


def report_crash_dumps(root: HostRoot) -> None:
    """Analyse each crash dump the console has not had yet, here on the host, and send it."""
    for path in new_dumps(root):
        dump = dump_report(path)
        dump = contract.encode(contract.decode(contract.CrashDump, dump, "crash report"))
        payload = {"contract": contract.CONTRACT_VERSION, "dump": dump}
        app.send_task(
            contract.CRASH_REPORT,
            # A dump waits in the broker for as long as the console takes to come back.
            kwargs={"sealed": _sealed_report(root, contract.CRASH_REPORT_PURPOSE, payload, 86400)},
            queue=REPORTS_QUEUE,
            ignore_result=True,
        )
        mark_reported(root, path.name)


def serve_hosts(roots: list[HostRoot]) -> list[str]:
    for root in roots:
        host_key(root)  # made before the first call, so `hello` names it from the start
    SERVED.clear()
    SERVED.update({root.uuid: root for root in roots})
    return [f"host.{uuid}" for uuid in SERVED]


def _report_loop(interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        for root in list(SERVED.values()):
            if root.kernel.powered_off():
                continue
            try:
                report(root)
                report_crash_dumps(root)
            except Exception:  # the broker may be away; the next round tries again
                logger.warning("could not report %s to the console", root.hostname, exc_info=True)
        stop.wait(interval)


def serve(sandbox: Path | None, report_interval: float, concurrency: int = 4) -> None:
    progress = Progress()
    progress.phase("agent: finding the hosts to serve")
    roots = iter_sandbox_hosts(sandbox) if sandbox else [real_root()]
    if not roots:
        raise AgentError(f"No sandbox hosts under {sandbox}.")
    queues = serve_hosts(roots)
    names = ", ".join(root.hostname for root in roots)
    progress.done(f"{len(roots)} host(s), their keys ready: {names}")
    stop = threading.Event()
    threading.Thread(target=_report_loop, args=(report_interval, stop), daemon=True).start()
    # Each call would be logged, its success with its answer: a health probe every few seconds
    # would fill dom0's small log partition. Failures are still logged.
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logger.info("agent serving %s", names)
    broker = app.conf.broker_url.rpartition("@")[2]  # never its password
    progress.phase(f"agent: connecting to the broker {broker}, {len(queues)} queue(s)")

    def say_ready(**_):
        progress.ready(f"agent serving {names} on {len(queues)} queue(s)")

    signals.worker_ready.connect(say_ready, weak=False)
    # The agent runs as root by design (O2CB's configfs, mounts); it takes JSON only, so
    # Celery's warning about root is noise in the host's journal.
    warnings.filterwarnings("ignore", category=SecurityWarning)
    try:
        app.Worker(
            quiet=True,  # no banner: the ready line above says what it serves
            queues=queues,
            pool="threads",
            concurrency=concurrency,
            hostname=f"agent@{roots[0].hostname}"
            if not sandbox
            else f"agent-sandbox@{gethostname()}",
            loglevel="INFO",
        ).start()
    finally:
        stop.set()
