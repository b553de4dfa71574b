"""Calls from the console to host agents, over Celery queues `host.<uuid>`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import current_app
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings

from core.errors import ConsoleError, TransientError

from .models import Host


class HostUnreachable(TransientError):
    """The host's agent did not answer in time (transient: the step runner retries it)."""

    status_code = 503


class AgentCallFailed(ConsoleError):
    """The agent answered with an error (its message says why)."""

    status_code = 502


def agent_call(host: Host, call: str, *, timeout: float | None = None, **kwargs: Any) -> dict:
    """Run one agent call on `host` and wait for its plain-data answer."""
    timeout = settings.AGENT_CALL_TIMEOUT if timeout is None else timeout
    result = current_app.send_task(
        f"agent.{call}",
        kwargs={"host_uuid": str(host.uuid), **kwargs},
        queue=host.queue,
        # A call nobody picked up in time is dropped, so a host that comes back later
        # never replays stale orders.
        expires=timeout,
    )
    try:
        return result.get(timeout=timeout, disable_sync_subtasks=False, propagate=True)
    except CeleryTimeout:
        result.forget()
        raise HostUnreachable(
            f"{host.hostname} did not answer '{call}' within {timeout:g} s.",
            detail={"host": str(host.uuid), "call": call},
        ) from None
    except ConsoleError:
        raise
    except Exception as exc:  # the agent's error, rebuilt by Celery from the result
        raise AgentCallFailed(
            f"{host.hostname}: {call} failed: {exc}", detail={"host": str(host.uuid), "call": call}
        ) from exc


def agent_call_many(hosts, work, *, max_workers: int = 64) -> dict[Host, Any]:
    """Run `work(host)` for every host at once; each value is the answer or the exception.

    Only agent calls run in the threads (no database access), so one slow host never
    holds up the others.
    """
    hosts = list(hosts)
    if not hosts:
        return {}

    def guarded(host):
        try:
            return work(host)
        except Exception as exc:  # reported per host by the caller
            return exc

    with ThreadPoolExecutor(max_workers=min(max_workers, len(hosts))) as pool:
        return dict(zip(hosts, pool.map(guarded, hosts), strict=True))
