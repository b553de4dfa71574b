"""Shared plumbing for Celery tasks that run a console Task row."""

import logging
from collections.abc import Callable

from celery import shared_task
from django.conf import settings

from core.choices import TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.tasks import task_claim, task_finish, tasks_fail_stalled

logger = logging.getLogger(__name__)


def run_claimed(task_id: int, run: Callable[[Task], object]) -> None:
    """Claim the Task (once, whatever the deliveries) and run it; record any failure."""
    task = task_claim(task_id=task_id)
    if task is None:
        return
    try:
        run(task)
    except ConsoleError as exc:
        task_finish(task=task, status=TaskStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("task %s (%s) failed", task.pk, task.kind)
        task_finish(task=task, status=TaskStatus.FAILED, error=f"Internal error: {exc}")
        raise


@shared_task(name="core.fail_stalled_tasks")
def fail_stalled_tasks() -> None:
    tasks_fail_stalled(quiet_for=settings.TASK_STALLED_AFTER)
