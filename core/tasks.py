"""Shared plumbing for Celery tasks that run a console Task row."""

import logging
from collections.abc import Callable

from celery import current_app, current_task, shared_task
from django.conf import settings
from django.utils import timezone

from core.choices import TaskStatus
from core.errors import ConsoleError, NotYet, Reschedule
from core.models import Task
from core.services.tasks import (
    task_claim,
    task_finish,
    tasks_fail_lost,
    tasks_fail_orphaned,
    tasks_fail_stalled,
)

logger = logging.getLogger(__name__)


def run_claimed(task_id: int, run: Callable[[Task], object], *, attempt: int = 0) -> float | None:
    """Claim the Task (once per attempt, whatever the deliveries) and run it; record any
    failure. Returns a countdown when the run asked to continue later (core.steps)."""
    task = task_claim(task_id=task_id, attempt=attempt, worker=_this_worker())
    if task is None:
        return None
    try:
        run(task)
    except Reschedule as again:
        return _later(task, again.countdown)
    except NotYet as wait:  # the workflow waits before its steps: bounded from its start
        if (timezone.now() - task.started).total_seconds() > wait.give_up_after:
            task_finish(task=task, status=TaskStatus.FAILED, error=wait.failure)
            return None
        return _later(task, wait.again_in)
    except ConsoleError as exc:
        task_finish(task=task, status=TaskStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("task %s (%s) failed", task.pk, task.kind)
        task_finish(task=task, status=TaskStatus.FAILED, error=f"Internal error: {exc}")
        raise
    return None


def _this_worker() -> str:
    """The name of the Celery worker running this (what its ping answers with)."""
    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", None) or "")


def _later(task: Task, countdown: float) -> float:
    # It is still moving, and waits in the queue now: no worker holds it meanwhile.
    Task.objects.filter(pk=task.pk).update(last_activity=timezone.now(), worker="")
    return countdown


@shared_task(name="core.fail_stalled_tasks")
def fail_stalled_tasks() -> None:
    """Runs every minute on the rounds worker: fail what lost its worker or its message."""
    tasks_fail_stalled(quiet_for=settings.TASK_STALLED_AFTER)
    tasks_fail_lost(waited_for=settings.TASK_LOST_AFTER)
    try:
        replies = current_app.control.ping(timeout=2.0)
    except Exception:  # the broker is away: no way to tell a dead worker from a quiet one
        logger.warning("could not ping the workers; orphaned tasks are looked for next time")
        return
    alive = {name for reply in replies for name in reply}
    tasks_fail_orphaned(alive_workers=alive, quiet_for=settings.TASK_ORPHANED_AFTER)
