import pytest
from django.conf import settings

import core.services.tasks
from core.choices import StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Alert, AuditEvent
from core.services.alerts import alert_acknowledge, alert_clear, alert_raise, alert_sync
from core.services.tasks import (
    task_cancel,
    task_claim,
    task_create,
    task_finish,
    task_step_finish,
    task_step_start,
    tasks_fail_stalled,
    tasks_prune,
)


@pytest.fixture
def task(db, admin_user):
    return task_create(
        name="Demo",
        kind="test.demo",
        celery_task="test.never_sent",
        steps=["first", "second", "third", "fourth"],
        user=admin_user,
    )


def test_task_is_enqueued_only_after_commit(db, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(
        core.services.tasks.current_app,
        "send_task",
        lambda name, args, **options: sent.append((name, args[0], options["queue"])),
    )
    with django_capture_on_commit_callbacks(execute=True):
        task = task_create(name="x", kind="k", celery_task="c", steps=["a"])
        assert sent == []
    assert sent == [("c", task.pk, settings.CONSOLE_QUEUE)]


def test_progress_is_the_share_of_finished_steps(task):
    claimed = task_claim(task_id=task.pk)
    assert claimed.status == TaskStatus.RUNNING
    task_step_start(task=task, position=1)
    task_step_finish(task=task, position=1, status=StepStatus.SUCCEEDED, message="ok")
    task.refresh_from_db()
    assert task.progress == pytest.approx(0.25)
    task_step_finish(task=task, position=2, status=StepStatus.FAILED, message="boom")
    task.refresh_from_db()
    assert task.percent == 50


def test_a_task_is_claimed_once_whatever_the_deliveries(task):
    assert task_claim(task_id=task.pk) is not None
    assert task_claim(task_id=task.pk) is None


def test_finishing_skips_steps_never_reached(task):
    task_claim(task_id=task.pk)
    task_step_start(task=task, position=1)
    finished = task_finish(task=task, status=TaskStatus.FAILED, error="host gone")
    statuses = list(finished.steps.values_list("status", flat=True))
    assert statuses == ["failed", "skipped", "skipped", "skipped"]
    assert finished.error == "host gone" and finished.finished is not None


def test_a_running_task_cannot_be_cancelled(task, admin_user):
    task_claim(task_id=task.pk)
    task.refresh_from_db()
    with pytest.raises(ConsoleError, match="already running"):
        task_cancel(task=task, actor=admin_user)


def test_cancelling_a_pending_task_is_audited(task, admin_user):
    cancelled = task_cancel(task=task, actor=admin_user)
    assert cancelled.status == TaskStatus.CANCELLED
    event = AuditEvent.objects.get(action="task.cancel")
    assert event.actor_name == "pool-admin" and event.target_repr == str(cancelled)


def test_alert_is_raised_once_per_incident_and_updated(db, admin_user):
    first = alert_raise(name="HOST_SILENT", target=admin_user, priority=3, message="one")
    again = alert_raise(name="HOST_SILENT", target=admin_user, priority=2, message="worse")
    assert first.pk == again.pk and again.priority == 2 and again.message == "worse"
    assert alert_clear(name="HOST_SILENT", target=admin_user) == 1
    later = alert_raise(name="HOST_SILENT", target=admin_user, priority=3, message="again")
    assert later.pk != first.pk
    assert Alert.objects.count() == 2


def test_alert_priority_outside_1_to_5_is_refused(db):
    with pytest.raises(ConsoleError, match="1 to 5"):
        alert_raise(name="HOST_SILENT", target=None, priority=9, message="m")


def test_acknowledge_is_idempotent_and_audited(db, operator_user):
    alert = alert_raise(name="HOST_SILENT", target=None, priority=3, message="m")
    alert_acknowledge(alert=alert, actor=operator_user)
    alert_acknowledge(alert=alert, actor=operator_user)
    assert AuditEvent.objects.filter(action="alert.acknowledge").count() == 1
    assert not alert.is_open


def test_old_routine_runs_are_pruned_but_recent_and_failed_ones_kept(db):
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Task

    now = timezone.now()

    def run(status, age_days):
        task = task_create(name="monitor", kind="clusters.reconcile", celery_task="x", steps=[])
        Task.objects.filter(pk=task.pk).update(
            status=status, finished=now - timedelta(days=age_days)
        )
        return task.pk

    run("succeeded", 2)
    new_ok, old_failed = run("succeeded", 0), run("failed", 2)
    deleted = tasks_prune(
        kind="clusters.reconcile",
        succeeded_before=now - timedelta(days=1),
        failed_before=now - timedelta(days=14),
    )
    assert deleted == 1
    assert set(Task.objects.values_list("pk", flat=True)) == {new_ok, old_failed}


def test_a_running_task_that_stopped_moving_is_failed_with_how_far_it_got(task):
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Task

    task_claim(task_id=task.pk)
    task_step_start(task=task, position=1)
    task_step_finish(task=task, position=1, status=StepStatus.SUCCEEDED)
    assert tasks_fail_stalled(quiet_for=timedelta(minutes=30)) == []
    Task.objects.filter(pk=task.pk).update(last_activity=timezone.now() - timedelta(hours=1))
    [stalled] = tasks_fail_stalled(quiet_for=timedelta(minutes=30))
    assert stalled.status == TaskStatus.FAILED and "no worker holds it" in stalled.error
    assert list(stalled.steps.values_list("status", flat=True)) == [
        "succeeded",
        "skipped",
        "skipped",
        "skipped",
    ]
    assert AuditEvent.objects.filter(action="task.stalled").count() == 1


def test_alert_sync_raises_updates_and_clears_with_the_condition(db):
    first = alert_sync(name="HOST_SILENT", target=None, priority=3, message="bad")
    again = alert_sync(name="HOST_SILENT", target=None, priority=3, message="worse")
    assert first.pk == again.pk and again.message == "worse"
    assert alert_sync(name="HOST_SILENT", target=None, priority=3, message=None) is None
    again.refresh_from_db()
    assert again.cleared is not None


def test_an_alert_name_outside_the_catalogue_is_refused(db):
    # A misspelt name would raise an alert that the code clearing it never finds.
    with pytest.raises(ConsoleError, match="HOST_SILENCE"):
        alert_raise(name="HOST_SILENCE", target=None, message="m")
    assert not Alert.objects.exists()


def test_an_alert_takes_its_catalogue_priority_unless_judged(db):
    assert alert_raise(name="HOST_SILENT", target=None, message="m").priority == 2
    assert alert_raise(name="HOST_NAME_TAKEN", target=None, message="m", priority=1).priority == 1
