"""Writes for the console core: audit events, tasks and their steps, alerts, roles."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from .choices import TASK_FINISHED, AlertPriority, AuditOutcome, Role, StepStatus, TaskStatus
from .errors import ConsoleError
from .models import Alert, ApiToken, AuditEvent, Task, TaskStep

logger = logging.getLogger(__name__)

ROLE_PERMISSIONS = {
    Role.READ_ONLY: ["view_pool"],
    Role.POOL_OPERATOR: ["view_pool", "operate_pool"],
    Role.POOL_ADMIN: ["view_pool", "operate_pool", "administer_pool"],
}


def roles_ensure() -> None:
    """Create the three role groups with their permissions (idempotent)."""
    task_type = ContentType.objects.get_for_model(Task)
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        perms = [
            Permission.objects.get_or_create(
                content_type=task_type,
                codename=codename,
                defaults={"name": dict(Task._meta.permissions)[codename]},
            )[0]
            for codename in codenames
        ]
        group.permissions.set(perms)


def _target_fields(target: models.Model | None) -> dict:
    if target is None:
        return {"target_type": None, "target_id": "", "target_repr": ""}
    return {
        "target_type": ContentType.objects.get_for_model(target),
        "target_id": str(target.pk),
        "target_repr": str(target)[:200],
    }


def _user_or_none(actor):
    """A logged-in user, or None for the console itself (and an anonymous request)."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    message: str = "",
    task: Task | None = None,
) -> AuditEvent:
    """Write one audit event; `actor` None means the console itself (monitor, beat)."""
    user = _user_or_none(actor)
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "console",
        action=action,
        outcome=outcome,
        message=message,
        task=task,
        **_target_fields(target),
    )


# Tasks ---------------------------------------------------------------------------------


def task_create(
    *,
    name: str,
    kind: str,
    celery_task: str,
    steps: Sequence[str],
    user=None,
    target: models.Model | None = None,
    params: dict | None = None,
) -> Task:
    """Record a long operation and enqueue its Celery task once the row is committed.

    `user` is who asked: a logged-in user, or None (or anything else) for the console."""
    task = Task.objects.create(
        name=name,
        kind=kind,
        user=_user_or_none(user),
        params=params or {},
        **_target_fields(target),
    )
    TaskStep.objects.bulk_create(
        TaskStep(task=task, position=index, name=step) for index, step in enumerate(steps, 1)
    )
    transaction.on_commit(lambda: _enqueue(celery_task, task.pk))
    return task


def _enqueue(celery_task: str, task_id: int) -> None:
    from .celery import app

    # The Task row records the outcome; Celery keeps no result, and nobody waits for one.
    app.send_task(celery_task, args=[task_id], queue=settings.CONSOLE_QUEUE, ignore_result=True)


def task_claim(*, task_id: int) -> Task | None:
    """Move a pending task to running; None when another delivery already claimed it."""
    now = timezone.now()
    claimed = Task.objects.filter(pk=task_id, status=TaskStatus.PENDING).update(
        status=TaskStatus.RUNNING, started=now, last_activity=now
    )
    if claimed != 1:
        logger.info("task %s already claimed or gone; this delivery does nothing", task_id)
        return None
    return Task.objects.get(pk=task_id)


def task_steps_add(*, task: Task, names: Sequence[str]) -> list[TaskStep]:
    """Append steps discovered while running (e.g. one per member host), in one write."""
    last = task.steps.aggregate(last=models.Max("position"))["last"] or 0
    return TaskStep.objects.bulk_create(
        TaskStep(task=task, position=last + index, name=name) for index, name in enumerate(names, 1)
    )


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


# Alerts --------------------------------------------------------------------------------


def alert_raise(*, name: str, target: models.Model | None, priority: int, message: str) -> Alert:
    """Raise an alert once per incident: an open one with the same name and target is updated."""
    if priority not in AlertPriority.values:
        raise ConsoleError(f"Alert priority must be 1 to 5, not {priority}.")
    fields = _target_fields(target)
    alert = (
        Alert.objects.filter(
            name=name,
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            cleared__isnull=True,
        )
        .order_by("-created")
        .first()
    )
    if alert is None:
        return Alert.objects.create(name=name, priority=priority, message=message, **fields)
    if alert.message != message or alert.priority != priority:
        alert.message, alert.priority = message, priority
        alert.save(update_fields=["message", "priority", "updated"])
    return alert


def alert_clear(*, name: str, target: models.Model | None) -> int:
    """The condition behind an alert ended; returns how many alerts were cleared."""
    fields = _target_fields(target)
    return Alert.objects.filter(
        name=name,
        target_type=fields["target_type"],
        target_id=fields["target_id"],
        cleared__isnull=True,
    ).update(cleared=timezone.now())


def alert_sync(*, name: str, target: models.Model | None, priority: int, message: str | None):
    """Keep one alert in step with a condition checked again and again: `message` None
    means the condition is gone (clear it), otherwise raise or update it."""
    if message is None:
        alert_clear(name=name, target=target)
        return None
    return alert_raise(name=name, target=target, priority=priority, message=message)


def alert_was_open(*, name: str, target: models.Model | None, since, until) -> bool:
    """Whether an alert of this name on this target was open at some time in a past span."""
    fields = _target_fields(target)
    return (
        Alert.objects.filter(
            name=name,
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            created__lte=until,
        )
        .filter(Q(cleared__isnull=True) | Q(cleared__gte=since))
        .exists()
    )


def alert_acknowledge(*, alert: Alert, actor) -> Alert:
    if alert.acknowledged is not None:
        return alert
    alert.acknowledged = timezone.now()
    alert.acknowledged_by = actor
    alert.save(update_fields=["acknowledged", "acknowledged_by", "updated"])
    audit_record(actor=actor, action="alert.acknowledge", target=alert, message=alert.name)
    return alert


def tasks_fail_stalled(*, quiet_for) -> list[Task]:
    """Fail running tasks that have not moved for `quiet_for`: their worker was lost.

    Their steps say how far they got, so the admin knows the state they left.
    """
    cutoff = timezone.now() - quiet_for
    stalled = list(Task.objects.filter(status=TaskStatus.RUNNING, last_activity__lt=cutoff))
    for task in stalled:
        task_finish(
            task=task,
            status=TaskStatus.FAILED,
            error=(
                f"No progress since {task.last_activity:%Y-%m-%d %H:%M:%S} UTC: the worker "
                "running it was lost. The steps show how far it got."
            ),
        )
        audit_record(
            actor=None, action="task.stalled", target=task, task=task, outcome=AuditOutcome.FAILURE
        )
    return stalled


def tasks_prune(*, kind: str, succeeded_before, failed_before) -> int:
    """Drop old routine runs (e.g. the periodic monitor) so the task list stays readable."""
    old = Task.objects.filter(kind=kind).filter(
        models.Q(status=TaskStatus.SUCCEEDED, finished__lt=succeeded_before)
        | models.Q(status__in=[TaskStatus.FAILED, TaskStatus.CANCELLED], finished__lt=failed_before)
    )
    deleted, _ = old.delete()
    return deleted


# Log-in throttling ------------------------------------------------------------------------


def _login_keys(username: str, address: str) -> list[tuple[str, int]]:
    return [
        (f"login-failures:user:{username.lower()}", settings.LOGIN_FAILURES_PER_USER),
        (f"login-failures:address:{address}", settings.LOGIN_FAILURES_PER_ADDRESS),
    ]


def login_throttle_check(*, username: str, address: str) -> None:
    """Refuse a log-in attempt while the account or the address had too many failures."""
    from django.core.cache import cache

    for key, limit in _login_keys(username, address):
        if (cache.get(key) or 0) >= limit:
            minutes = int(settings.LOGIN_LOCKOUT.total_seconds() // 60)
            raise ConsoleError(
                f"Too many failed log-ins; try again in {minutes} minutes.", status_code=429
            )


def login_failure_record(*, username: str, address: str) -> None:
    from django.core.cache import cache

    timeout = int(settings.LOGIN_LOCKOUT.total_seconds())
    for key, _limit in _login_keys(username, address):
        cache.add(key, 0, timeout=timeout)
        cache.incr(key)
    audit_record(
        actor=None,
        action="login.failed",
        outcome=AuditOutcome.DENIED,
        message=f"Failed log-in for '{username}' from {address}.",
    )


def login_success_record(*, username: str) -> None:
    from django.core.cache import cache

    cache.delete(f"login-failures:user:{username.lower()}")


# API tokens --------------------------------------------------------------------------------


def _token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Make a named token; returns it with its key, which is never shown again."""
    name = name.strip()
    if not name:
        raise ConsoleError("Give the token a name, so you know later what uses it.")
    if user.api_tokens.filter(name=name, revoked=None).exists():
        raise ConsoleError(f"You already have an active token called '{name}'.")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:8], key_hash=_token_hash(key))
    audit_record(actor=user, action="token.create", target=token)
    return token, key


def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked is not None:
        return token
    token.revoked = timezone.now()
    token.save(update_fields=["revoked"])
    audit_record(
        actor=actor,
        action="token.revoke",
        target=token,
        message=f"Token '{token.name}' of {token.user.get_username()} revoked.",
    )
    return token


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The active token with this key, its use recorded; None for anything else."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(key), revoked=None)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Recording every request would write on every call; once a minute is enough to see use.
    if token.last_used is None or now - token.last_used > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token
