"""Tasks and their steps: long operations that talk to hosts."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from core.choices import TASK_FINISHED, AuditOutcome, StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Task, TaskStep
from core.services.audit import audit_record, target_fields, user_or_none

logger = logging.getLogger(__name__)


def task_create(
    *,
    name: str,
    kind: str,
    celery_task: str,
    steps: Sequence,
    user=None,
    target: models.Model | None = None,
    params: dict | None = None,
) -> Task:
    """Record a long operation and enqueue its Celery task once the row is committed.

    `user` is who asked: a logged-in user, or None (or anything else) for the console."""
    task = Task.objects.create(
        name=name,
        kind=kind,
        user=user_or_none(user),
        params=params or {},
        **target_fields(target),
    )
    TaskStep.objects.bulk_create(_step_rows(task, steps, first=1))
    enqueue_on_commit(celery_task, args=[task.pk])
    return task


def enqueue_on_commit(celery_task: str, *, args: list, countdown: float | None = None) -> None:
    """Send a console task (by name) to the console queue once the current transaction
    commits, so the worker never reads rows that are not there yet.

    Nobody waits for its result: what it does is recorded in the database."""
    transaction.on_commit(
        lambda: current_app.send_task(
            celery_task,
            args=args,
            queue=settings.CONSOLE_QUEUE,
            countdown=countdown,
            ignore_result=True,
        )
    )


def _step_rows(task: Task, steps: Sequence, *, first: int) -> list[TaskStep]:
    """Rows for steps given as names, or as the step runner's steps (key, name, why)."""
    return [
        TaskStep(task=task, position=position, name=step)
        if isinstance(step, str)
        else TaskStep(task=task, position=position, key=step.key, name=step.name, why=step.why)
        for position, step in enumerate(steps, first)
    ]


def task_claim(*, task_id: int, attempt: int = 0, worker: str = "") -> Task | None:
    """Move a pending task to running; None when another delivery already claimed it.

    A rescheduled run (attempt 1, 2, ...) claims the running task from the attempt
    before it, so a delivery that arrives twice still runs once."""
    now = timezone.now()
    if attempt == 0:
        claimed = Task.objects.filter(pk=task_id, status=TaskStatus.PENDING).update(
            status=TaskStatus.RUNNING, started=now, last_activity=now, worker=worker
        )
    else:
        claimed = Task.objects.filter(
            pk=task_id, status=TaskStatus.RUNNING, attempt=attempt - 1
        ).update(attempt=attempt, last_activity=now, worker=worker)
    if claimed != 1:
        logger.info("task %s already claimed or gone; this delivery does nothing", task_id)
        return None
    return Task.objects.get(pk=task_id)


def task_steps_add(*, task: Task, names: Sequence) -> list[TaskStep]:
    """Append steps discovered while running (e.g. one per member host), in one write.

    `names` are step names, or the step runner's steps (key, name, why)."""
    last = task.steps.aggregate(last=models.Max("position"))["last"] or 0
    return TaskStep.objects.bulk_create(_step_rows(task, names, first=last + 1))


def task_step_start(*, task: Task, position: int | Sequence[int], message: str = "") -> None:
    """Mark one step (or several that run at once) as running."""
    positions = [position] if isinstance(position, int) else list(position)
    now = timezone.now()
    TaskStep.objects.filter(task=task, position__in=positions).update(
        status=StepStatus.RUNNING, message=message, started=now
    )
    Task.objects.filter(pk=task.pk).update(last_activity=now)


def task_step_finish(*, task: Task, position: int, status: str, message: str = "") -> None:
    """End one step and move the task's progress to the share of steps that ended."""
    now = timezone.now()
    TaskStep.objects.filter(task=task, position=position).update(
        status=status, message=message, finished=now
    )
    counts = task.steps.aggregate(
        total=models.Count("id"),
        done=models.Count(
            "id", filter=~models.Q(status__in=[StepStatus.PENDING, StepStatus.RUNNING])
        ),
    )
    progress = counts["done"] / counts["total"] if counts["total"] else 1.0
    Task.objects.filter(pk=task.pk).update(progress=progress, last_activity=now)


def task_finish(*, task: Task, status: str, result=None, error: str = "") -> Task:
    if status not in TASK_FINISHED:
        raise ConsoleError(f"'{status}' is not a final task status.")
    now = timezone.now()
    # Steps never reached are skipped, so the page never shows them as still waiting.
    TaskStep.objects.filter(task=task, status=StepStatus.PENDING).update(
        status=StepStatus.SKIPPED, finished=now
    )
    TaskStep.objects.filter(task=task, status=StepStatus.RUNNING).update(
        status=StepStatus.FAILED if status == TaskStatus.FAILED else StepStatus.SKIPPED,
        finished=now,
    )
    Task.objects.filter(pk=task.pk).update(
        status=status,
        result=result,
        error=error,
        finished=now,
        progress=1.0 if status == TaskStatus.SUCCEEDED else models.F("progress"),
    )
    task.refresh_from_db()
    return task


def task_cancel(*, task: Task, actor) -> Task:
    """Cancel a task that has not started yet; a finished one is left as it is."""
    if task.is_finished:
        return task
    cancelled = Task.objects.filter(pk=task.pk, status=TaskStatus.PENDING).update(
        status=TaskStatus.CANCELLED, finished=timezone.now()
    )
    if cancelled != 1:
        raise ConsoleError("The task is already running; it cannot be cancelled now.")
    TaskStep.objects.filter(task=task).update(status=StepStatus.SKIPPED)
    task.refresh_from_db()
    audit_record(actor=actor, action="task.cancel", target=task, task=task)
    return task


def tasks_fail_stalled(*, quiet_for) -> list[Task]:
    """Fail running tasks that no worker holds and that have not moved for `quiet_for`:
    the message that would have carried them on was lost.

    Their steps say how far they got, so the admin knows the state they left.
    """
    cutoff = timezone.now() - quiet_for
    stalled = Task.objects.filter(status=TaskStatus.RUNNING, worker="", last_activity__lt=cutoff)
    return _fail_all(
        stalled,
        "task.stalled",
        lambda task: f"No progress since {task.last_activity:%Y-%m-%d %H:%M:%S} UTC and no "
        "worker holds it: the message that would carry it on was lost. The steps show how "
        "far it got.",
    )


def tasks_fail_orphaned(*, alive_workers: set[str], quiet_for) -> list[Task]:
    """Fail running tasks whose worker no longer answers (killed, or its machine gone) and
    that have not moved for `quiet_for`; a Retry resumes where their steps stopped."""
    cutoff = timezone.now() - quiet_for
    orphans = (
        Task.objects.filter(status=TaskStatus.RUNNING, last_activity__lt=cutoff)
        .exclude(worker="")
        .exclude(worker__in=alive_workers)
    )
    return _fail_all(
        orphans,
        "task.orphaned",
        lambda task: f"The worker running it, {task.worker}, stopped (it no longer answers); "
        "nothing carries the task on. The steps show how far it got; Retry resumes there.",
    )


def tasks_fail_lost(*, waited_for) -> list[Task]:
    """Fail pending tasks that nothing picked up in `waited_for`: their message was lost."""
    cutoff = timezone.now() - waited_for
    lost = Task.objects.filter(status=TaskStatus.PENDING, created__lt=cutoff)
    return _fail_all(
        lost,
        "task.lost",
        lambda task: f"No worker picked it up in {waited_for.total_seconds() / 60:g} minutes: "
        "its queue message was lost (Redis restarted without saving?) or no console worker "
        "serves its queue. Nothing was done; start it again.",
    )


def _fail_all(tasks, action: str, reason) -> list[Task]:
    failed = []
    for task in list(tasks):
        if task.status == TaskStatus.PENDING:
            # Claimed meanwhile by a worker after all: leave it to that worker.
            if (
                Task.objects.filter(pk=task.pk, status=TaskStatus.PENDING).update(
                    status=TaskStatus.RUNNING
                )
                != 1
            ):
                continue
        task_finish(task=task, status=TaskStatus.FAILED, error=reason(task))
        audit_record(
            actor=None, action=action, target=task, task=task, outcome=AuditOutcome.FAILURE
        )
        failed.append(task)
    return failed


@transaction.atomic
def task_fold_quiet(*, task: Task) -> Task:
    """A routine run that succeeded and changed nothing takes the place of the previous
    such run of the same kind and target, counting them: the task list shows one row
    ("N quiet runs since ...") however often the check runs, and a run that did change
    something, or failed, keeps a row of its own."""
    if task.status != TaskStatus.SUCCEEDED:
        raise ConsoleError(f"Only a succeeded task is folded, not a {task.status} one.")
    previous = (
        Task.objects.select_for_update()
        .filter(
            kind=task.kind,
            target_type=task.target_type,
            target_id=task.target_id,
            status=TaskStatus.SUCCEEDED,
            result__quiet=True,
        )
        .exclude(pk=task.pk)
        .order_by("-finished", "-pk")
    )
    runs, since = 1, task.started or task.created
    for earlier in previous:
        runs += earlier.quiet_runs or 1
        since = min(since, earlier.quiet_since or earlier.started or earlier.created)
    previous.delete()
    task.result = {
        **(task.result or {}),
        "quiet": True,
        "quiet_runs": runs,
        "quiet_since": since.isoformat(),
    }
    Task.objects.filter(pk=task.pk).update(result=task.result)
    return task


def tasks_prune(*, kind: str, succeeded_before, failed_before) -> int:
    """Drop old routine runs (e.g. the periodic monitor) so the task list stays readable."""
    old = Task.objects.filter(kind=kind).filter(
        models.Q(status=TaskStatus.SUCCEEDED, finished__lt=succeeded_before)
        | models.Q(status__in=[TaskStatus.FAILED, TaskStatus.CANCELLED], finished__lt=failed_before)
    )
    deleted, _ = old.delete()
    return deleted
