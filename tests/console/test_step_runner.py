"""The step runner as an admin sees it, on the real worker and Redis: a small workflow
whose steps succeed, fail for good, fail for a while, or wait, as each test scripts it."""

import time
from collections import Counter

import pytest

from core.choices import TaskStatus
from core.errors import ConsoleError, TransientError
from core.models import Task
from core.services.tasks import task_create, task_finish
from core.steps import EARLIER_RUN, NotYet, Step, run_steps, workflow_task
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# How often each step's function ran, by (task, step): the worker runs in this process.
CALLS: Counter = Counter()


def _act(task: Task, step: Step) -> str:
    CALLS[task.pk, step.key] += 1
    kind, *args = task.params["script"][step.key]
    if kind == "transient" and CALLS[task.pk, step.key] <= args[0]:
        raise TransientError(f"host-{step.key} did not answer within 1 s.")
    if kind == "permanent":
        raise ConsoleError(f"host-{step.key}: the disk is read-only.")
    if kind == "wait":
        raise NotYet(
            "Waiting for the host to come back.",
            again_in=0.2,
            give_up_after=args[0],
            failure=f"The host did not come back within {args[0]:g} s.",
        )
    return f"{step.key} done."


def _steps(task: Task) -> list[Step]:
    return [Step(key, f"Step {key}", f"Why {key}", _act) for key in task.params["script"]]


def _run(task: Task) -> None:
    run_steps(task, _steps(task), task, done=lambda task, step: step.key in task.params["before"])
    task_finish(task=task, status=TaskStatus.SUCCEEDED)


workflow_task("tests.step_runner", _run)


def start(script: dict, before=()) -> Task:
    params = {"script": script, "before": list(before)}
    steps = [Step(key, f"Step {key}", f"Why {key}") for key in script]
    return task_create(
        name="Scripted",
        kind="tests.steps",
        celery_task="tests.step_runner",
        steps=steps,
        params=params,
    )


@pytest.fixture
def fast_retries(settings, console_worker):
    settings.STEP_RETRIES = 3
    settings.STEP_RETRY_BACKOFF = 0.2


def steps_of(task: Task) -> dict:
    return {s.key: s for s in task.steps.all()}


def test_a_transient_host_error_is_retried_until_it_passes(fast_retries):
    task = finished(start({"a": ["ok"], "b": ["transient", 2], "c": ["ok"]}))
    assert task.status == "succeeded", task.error
    steps = steps_of(task)
    assert steps["b"].retries == 2
    assert steps["b"].message == "b done. (succeeded after 2 retries)"
    assert steps["b"].why == "Why b"
    assert CALLS[task.pk, "a"] == 1, "a retry runs only the step that failed, not those before"
    assert steps["c"].message == "c done." and steps["c"].retries == 0


def test_a_permanent_error_fails_the_step_at_once(fast_retries):
    began = time.monotonic()
    task = finished(start({"a": ["ok"], "b": ["permanent"], "c": ["ok"]}))
    assert task.status == "failed"
    assert task.error == "Step b failed: host-b: the disk is read-only."
    steps = steps_of(task)
    assert steps["b"].status == "failed" and steps["b"].retries == 0
    assert steps["b"].message == "host-b: the disk is read-only."
    assert CALLS[task.pk, "b"] == 1, "never retried"
    assert steps["c"].status == "skipped" and CALLS[task.pk, "c"] == 0
    assert time.monotonic() - began < 10


def test_retries_stop_at_the_limit_with_the_error(fast_retries):
    task = finished(start({"a": ["transient", 99]}))
    assert task.status == "failed"
    assert CALLS[task.pk, "a"] == 4, "the first try and 3 retries"
    step = steps_of(task)["a"]
    assert step.retries == 3
    assert step.message == "host-a did not answer within 1 s. (gave up after 3 retries)"
    assert task.error == f"Step a failed: {step.message}"


def test_a_wait_that_passes_its_bound_fails_with_a_clear_message(fast_retries):
    began = time.monotonic()
    task = finished(start({"a": ["ok"], "b": ["wait", 1.5]}), timeout=30)
    assert task.status == "failed"
    assert task.error == "Step b failed: The host did not come back within 1.5 s."
    assert 1.5 <= time.monotonic() - began < 20
    assert CALLS[task.pk, "b"] > 2, "it looked again several times before giving up"
    assert steps_of(task)["a"].message == "a done."


def test_waiting_runs_do_not_hold_the_workers(fast_retries):
    """Each wait frees its worker thread: more waiting runs than threads (4), and a run
    started after them still finishes at once."""
    waiting = [start({"w": ["wait", 10.0]}) for _ in range(6)]

    def all_waiting():
        return all("Checking again in 0.2 s" in steps_of(t)["w"].message for t in waiting)

    wait_for(all_waiting, 10, message="every run took a thread once and is now waiting")
    quick = finished(start({"q": ["ok"]}), timeout=8)
    assert quick.status == "succeeded"
    assert all(Task.objects.get(pk=t.pk).status == "running" for t in waiting), "still waiting"
    for task in waiting:
        task = finished(task, timeout=40)
        assert task.status == "failed"
        assert task.error == "Step w failed: The host did not come back within 10 s."


def test_a_resumed_run_skips_what_an_earlier_run_did(fast_retries):
    task = finished(start({"a": ["ok"], "b": ["ok"], "c": ["ok"]}, before=["a", "b"]))
    assert task.status == "succeeded"
    steps = steps_of(task)
    assert steps["a"].message == EARLIER_RUN == "Done by an earlier run."
    assert steps["b"].message == EARLIER_RUN
    assert steps["c"].message == "c done."
    assert CALLS[task.pk, "a"] == CALLS[task.pk, "b"] == 0
