"""The step runner: a workflow is a list of steps, and this runs them.

A `Step` is a key, a name, a why and a function. `run_steps` gives the task a row per
step (keyed, so any later delivery knows each one), skips what this task already
finished and what an earlier run did (`done`), and records each outcome:

- the function returns a message: the step succeeded with it;
- it raises `SkipStep`: the step is skipped, with the reason;
- it raises `TransientError` (a host that did not answer in time): the step is tried
  again in a new delivery of the Celery task, with exponential backoff, up to a limit
  (`STEP_RETRIES`); past it the step fails with the error;
- it raises `NotYet` ("not done yet, check again in N s"): the same, without using up
  retries, until `give_up_after` seconds have passed since the wait began; then the
  step fails with the `failure` message;
- it raises any other `ConsoleError`: the step fails at once with its message.

No worker thread ever sleeps: a step that must wait is rescheduled with
`self.retry(countdown=...)` and the thread serves other work meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.utils import timezone

from core.choices import StepStatus
from core.errors import ConsoleError, NotYet, Reschedule, TransientError
from core.models import Task, TaskStep
from core.services.tasks import task_step_finish, task_step_start, task_steps_add
from core.tasks import run_claimed

EARLIER_RUN = "Done by an earlier run."

__all__ = ["EARLIER_RUN", "NotYet", "Reschedule", "SkipStep", "Step", "run_each", "run_steps"]


@dataclass(frozen=True)
class Step:
    """One step of a workflow. `function(context, step)` does it and returns a message.

    `stops`: a failure ends the workflow (later steps are skipped); with False the
    other steps still run and the failures are listed at the end (one step per host).
    `retries` and `backoff` override the settings' transient-error policy; 0 retries
    for a step that must not be repeated blindly (formatting a LUN)."""

    key: str
    name: str
    why: str = ""
    function: Callable[[Any, Step], str | None] | None = None
    subject: Any = field(default=None, compare=False)
    stops: bool = True
    retries: int | None = None
    backoff: float | None = None


class SkipStep(Exception):
    """Raised by a step's function: nothing to do (the message says why)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StepFailed(ConsoleError):
    """A step failed; `message` is the step's own, `step` which one."""

    def __init__(self, step: Step, message: str):
        super().__init__(message)
        self.step = step


@dataclass
class Outcome:
    """What `run_steps` found: the steps that failed without stopping the workflow."""

    failed: list[Step] = field(default_factory=list)


# Rows -----------------------------------------------------------------------------------


def step_rows(task: Task, steps: Sequence[Step]) -> dict[str, TaskStep]:
    """The task's row of each step, by key; steps discovered while running are appended."""
    rows = {row.key: row for row in task.steps.all()}
    missing = [step for step in steps if step.key not in rows]
    # Rows written without keys (before keys existed) are adopted by name.
    unkeyed = {row.name: row for key, row in rows.items() if not key}
    for step in list(missing):
        row = unkeyed.pop(step.name, None)
        if row is not None:
            TaskStep.objects.filter(pk=row.pk).update(key=step.key, why=step.why)
            row.key, row.why = step.key, step.why
            rows[step.key] = row
            missing.remove(step)
    for row in task_steps_add(task=task, names=missing):
        rows[row.key] = row
    return rows


def step_note(task: Task, key: str, **data) -> None:
    """Keep what a step found for the steps after it (it survives a reschedule)."""
    row = task.steps.get(key=key)
    row.output = {**(row.output or {}), **data}
    row.save(update_fields=["output"])


def step_noted(task: Task, key: str) -> dict:
    return task.steps.get(key=key).output or {}


# Running --------------------------------------------------------------------------------


def run_steps(
    task: Task,
    steps: Sequence[Step],
    context: Any = None,
    *,
    done: Callable[[Any, Step], bool] | None = None,
    failure: Callable[[Step, str], str] | None = None,
) -> Outcome:
    """Run the steps in order. A stopping step that fails raises ConsoleError with
    `failure(step, message)` as the task's error (by default "<step> failed: <message>")."""
    rows = step_rows(task, steps)
    outcome, later = Outcome(), []
    for step in steps:
        row = rows[step.key]
        if row.status == StepStatus.FAILED:  # failed in an earlier delivery of this task
            outcome.failed.append(step)
            continue
        try:
            _run_one(task, step, row, context, done)
        except Reschedule as again:
            if step.stops:
                raise
            later.append(again.countdown)
        except StepFailed as failed:
            if step.stops:
                error = failure(step, failed.message) if failure else None
                raise ConsoleError(error or f"{step.name} failed: {failed.message}") from None
            outcome.failed.append(step)
    if later:
        raise Reschedule(min(later))
    return outcome


def _run_one(task: Task, step: Step, row: TaskStep, context, done) -> None:
    if row.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
        return  # an earlier delivery of this task ended it
    if done is not None and done(context, step):
        _finish(task, row, StepStatus.SUCCEEDED, EARLIER_RUN)
        return
    if row.status == StepStatus.PENDING:
        task_step_start(task=task, position=row.position)
        row.status = StepStatus.RUNNING
    try:
        message = step.function(context, step)
    except Exception as exc:  # noqa: BLE001 - each kind is handled by _settle
        _settle(task, step, row, exc)
    else:
        _succeed(task, row, message or "")


def _settle(task: Task, step: Step, row: TaskStep, exc: Exception) -> None:
    """A step's function raised: skip, wait, retry or fail it (anything else propagates)."""
    if isinstance(exc, SkipStep):
        _finish(task, row, StepStatus.SKIPPED, exc.message)
    elif isinstance(exc, NotYet):
        _wait(task, step, row, exc)
    elif isinstance(exc, TransientError):
        _retry(task, step, row, exc)
    elif isinstance(exc, ConsoleError):
        _fail(task, step, row, exc.message)
    else:
        raise exc


def _succeed(task: Task, row: TaskStep, message: str) -> None:
    if row.retries:
        tries = f"{row.retries} {'retry' if row.retries == 1 else 'retries'}"
        message = f"{message} (succeeded after {tries})".lstrip()
    _finish(task, row, StepStatus.SUCCEEDED, message)


def _finish(task: Task, row: TaskStep, status: str, message: str) -> None:
    task_step_finish(task=task, position=row.position, status=status, message=message)
    row.status = status


def _fail(task: Task, step: Step, row: TaskStep, message: str) -> None:
    _finish(task, row, StepStatus.FAILED, message)
    raise StepFailed(step, message)


def _retry(task: Task, step: Step, row: TaskStep, exc: TransientError) -> None:
    limit = _limit(step)
    if row.retries >= limit:
        tries = f"{row.retries} {'retry' if row.retries == 1 else 'retries'}"
        gave_up = f" (gave up after {tries})" if row.retries else ""
        _fail(task, step, row, exc.message + gave_up)
    countdown = get_exponential_backoff_interval(
        factor=settings.STEP_RETRY_BACKOFF if step.backoff is None else step.backoff,
        retries=row.retries,
        maximum=settings.STEP_RETRY_BACKOFF_MAX,
    )
    row.retries += 1
    row.message = f"{exc.message} Trying again in {countdown:g} s (retry {row.retries} of {limit})."
    row.save(update_fields=["retries", "message"])
    raise Reschedule(countdown)


def _wait(task: Task, step: Step, row: TaskStep, wait: NotYet) -> None:
    now = timezone.now()
    row.waiting_since = row.waiting_since or now
    if (now - row.waiting_since).total_seconds() > wait.give_up_after:
        _fail(task, step, row, wait.failure)
    row.message = f"{wait.message} Checking again in {wait.again_in:g} s."
    row.save(update_fields=["waiting_since", "message"])
    raise Reschedule(wait.again_in)


def run_each(
    task: Task,
    steps: Sequence[Step],
    fetch: Callable[[Step], Any],
    record: Callable[[Step, Any], str],
) -> Outcome:
    """Run non-stopping steps at once: `fetch(step)` in a thread each (agent calls only,
    no database), then `record(step, answer or exception)` here, which returns the
    step's message or raises ConsoleError to fail it. Transient errors are retried as
    in `run_steps`; `record` sees only final outcomes."""
    rows = step_rows(task, steps)
    todo = [s for s in steps if rows[s.key].status in (StepStatus.PENDING, StepStatus.RUNNING)]
    task_step_start(
        task=task, position=[rows[s.key].position for s in todo if rows[s.key].status == "pending"]
    )
    for step in todo:
        rows[step.key].status = StepStatus.RUNNING
    answers = {step.key: answer for step, answer in _in_threads(todo, fetch).items()}

    def settled(context, step):
        answer = answers[step.key]
        if isinstance(answer, TransientError) and rows[step.key].retries < _limit(step):
            raise answer  # run_steps schedules the retry
        return record(step, answer)

    return run_steps(task, [replace(step, function=settled, stops=False) for step in steps])


def _limit(step: Step) -> int:
    return settings.STEP_RETRIES if step.retries is None else step.retries


def _in_threads(steps: Sequence[Step], fetch) -> dict[Step, Any]:
    if not steps:
        return {}

    def guarded(step):
        try:
            return fetch(step)
        except Exception as exc:  # noqa: BLE001 - reported per step by the caller
            return exc

    with ThreadPoolExecutor(max_workers=min(64, len(steps))) as pool:
        return dict(zip(steps, pool.map(guarded, steps), strict=True))


# Celery -----------------------------------------------------------------------------------


def workflow_task(name: str, run: Callable[[Task], object]):
    """The Celery task of a workflow: claims the Task row once per delivery, runs
    `run(task)`, and when the run asks to continue later, re-sends itself with a
    countdown (Celery's own retry: the worker thread is free meanwhile)."""

    @shared_task(name=name, bind=True, max_retries=None, ignore_result=True)
    def celery_task(self, task_id: int, attempt: int = 0) -> None:
        countdown = run_claimed(task_id, run, attempt=attempt)
        if countdown is not None:
            raise self.retry(
                args=[task_id],
                kwargs={"attempt": attempt + 1},
                countdown=countdown,
                queue=settings.CONSOLE_QUEUE,
            )

    return celery_task
