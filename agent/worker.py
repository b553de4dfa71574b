"""The agent's Celery side: one queue `host.<uuid>` per host it serves.

A real host serves itself; in sandbox mode one process serves every sandbox
host under a directory. Tasks take the host's UUID, do host-local work only,
and return plain data. Errors travel back as AgentError with one clear message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from socket import gethostname

from celery import Celery

from . import storage
from .crashdumps import describe_dump, mark_reported, new_dumps, peer_log_lines
from .errors import AgentError
from .host import hello
from .hostroot import HostRoot
from .io_probe import probe_io
from .o2cb import O2CBPlugin
from .realkernel import real_root
from .sandbox.host import iter_sandbox_hosts
from .sandbox.io import inject_fault

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


def host_lock(host_uuid: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(host_uuid).lower(), threading.Lock())


def plugin(host_uuid: str, cluster: str) -> O2CBPlugin:
    return O2CBPlugin(root_for(host_uuid), cluster)


def root_for(host_uuid: str) -> HostRoot:
    root = SERVED.get(str(host_uuid).lower())
    if root is None:
        raise AgentError(f"This agent does not serve host {host_uuid}.")
    delay = root.kernel.answer_delay()  # the sandbox's slow host
    if delay > 0:
        time.sleep(delay)
    return root


@app.task(name="agent.hello")
def hello_task(host_uuid: str) -> dict:
    return hello(root_for(host_uuid))


@app.task(name="agent.membership_create")
def membership_create(
    host_uuid: str, cluster: str, hostname: str, uuid: str, id: int, addresses: list[str]
) -> dict:
    with host_lock(host_uuid):
        return plugin(host_uuid, cluster).membership_create(hostname, uuid, id, addresses)


@app.task(name="agent.membership_destroy")
def membership_destroy(host_uuid: str, cluster: str, uuid: str) -> dict:
    with host_lock(host_uuid):
        return plugin(host_uuid, cluster).membership_destroy(uuid)


@app.task(name="agent.cluster_query")
def cluster_query(host_uuid: str, cluster: str) -> dict:
    with host_lock(host_uuid):
        return plugin(host_uuid, cluster).cluster_query()


@app.task(name="agent.cluster_start")
def cluster_start(host_uuid: str, cluster: str, statefile_vdi: str | None = None) -> dict:
    with host_lock(host_uuid):
        return plugin(host_uuid, cluster).cluster_start(statefile_vdi)


@app.task(name="agent.cluster_stop")
def cluster_stop(host_uuid: str, cluster: str) -> dict:
    with host_lock(host_uuid):
        return plugin(host_uuid, cluster).cluster_stop()


@app.task(name="agent.io_probe")
def io_probe(host_uuid: str) -> dict:
    # Read-only on a real host: no host lock, so a long membership change never delays
    # health collection. A sandbox host's probe moves its emulation on (and may fence it),
    # which must not interleave with a fault being injected.
    root = root_for(host_uuid)
    with host_lock(host_uuid) if root.sandbox else nullcontext():
        return probe_io(root)


@app.task(name="agent.sandbox_fault")
def sandbox_fault(host_uuid: str, fault: str, target: str | None = None) -> dict:
    root = root_for(host_uuid)
    with host_lock(host_uuid):
        return inject_fault(root, fault, target)


@app.task(name="agent.lun_list")
def lun_list(host_uuid: str) -> list[dict]:
    return storage.list_luns(root_for(host_uuid))


@app.task(name="agent.lun_format")
def lun_format(host_uuid: str, scsi_id: str, cluster: str, label: str, slots: int) -> dict:
    with host_lock(host_uuid):
        return storage.format_lun(root_for(host_uuid), scsi_id, cluster, label, slots)


@app.task(name="agent.sr_mount")
def sr_mount(host_uuid: str, scsi_id: str, sr_uuid: str, cluster: str) -> dict:
    with host_lock(host_uuid):
        return storage.sr_mount(root_for(host_uuid), scsi_id, sr_uuid, cluster)


@app.task(name="agent.sr_unmount")
def sr_unmount(host_uuid: str, sr_uuid: str) -> dict:
    with host_lock(host_uuid):
        return storage.sr_unmount(root_for(host_uuid), sr_uuid)


@app.task(name="agent.heartbeat_region_add")
def heartbeat_region_add(host_uuid: str, cluster: str, region: str) -> dict:
    with host_lock(host_uuid):
        return plugin(host_uuid, cluster).heartbeat_region_add(region)


@app.task(name="agent.crash_peer_logs")
def crash_peer_logs(host_uuid: str, since: str, until: str) -> list[dict]:
    """What this host logged of O2CB, DLM and OCFS2 between two ISO times (a peer's death)."""
    return peer_log_lines(
        root_for(host_uuid), datetime.fromisoformat(since), datetime.fromisoformat(until)
    )


@app.task(name="agent.sandbox_reboot")
def sandbox_reboot(host_uuid: str) -> dict:
    root = root_for(host_uuid)
    with host_lock(host_uuid):
        root.kernel.reboot()
    report(root)
    return hello(root)


def report(root: HostRoot) -> None:
    """Tell the console this host is alive (registers a new host)."""
    app.send_task(
        "console.agent_report",
        kwargs={"report": hello(root)},
        queue=os.environ.get("CONSOLE_QUEUE", "console"),
        # Fire and forget: no result to wait for, so nothing piles up in this process.
        ignore_result=True,
        # A report nobody read within a minute is stale; the next one says the same, fresher.
        expires=60,
    )


def report_crash_dumps(root: HostRoot) -> None:
    """Analyse each crash dump the console has not had yet, here on the host, and send it."""
    for path in new_dumps(root):
        try:
            dump = describe_dump(path)
        except Exception as exc:  # an unreadable dump is still news: send what is known
            logger.warning("could not analyse crash dump %s", path, exc_info=True)
            dump = {
                "name": path.name,
                "files": [],
                "size": 0,
                "logs": {},
                "analysis": None,
                "error": str(exc),
            }
        app.send_task(
            "console.crash_report",
            kwargs={"host_uuid": root.uuid, "dump": dump},
            queue=os.environ.get("CONSOLE_QUEUE", "console"),
            ignore_result=True,
        )
        mark_reported(root, path.name)


def serve_hosts(roots: list[HostRoot]) -> list[str]:
    SERVED.clear()
    SERVED.update({root.uuid: root for root in roots})
    return [f"host.{uuid}" for uuid in SERVED]


def _report_loop(interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        for root in list(SERVED.values()):
            try:
                report(root)
                report_crash_dumps(root)
            except Exception:  # the broker may be away; the next round tries again
                logger.warning("could not report %s to the console", root.hostname, exc_info=True)
        stop.wait(interval)


def serve(sandbox: Path | None, report_interval: float, concurrency: int = 4) -> None:
    roots = iter_sandbox_hosts(sandbox) if sandbox else [real_root()]
    if not roots:
        raise AgentError(f"No sandbox hosts under {sandbox}.")
    queues = serve_hosts(roots)
    stop = threading.Event()
    threading.Thread(target=_report_loop, args=(report_interval, stop), daemon=True).start()
    # Each call would be logged, its success with its answer: a health probe every few seconds
    # would fill dom0's small log partition. Failures are still logged.
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    names = ", ".join(root.hostname for root in roots)
    logger.info("agent serving %s", names)
    try:
        app.Worker(
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
