import uuid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_datetime

from .choices import TASK_FINISHED, AlertPriority, AuditOutcome, StepStatus, TaskStatus
from .validators import validate_plain_name


class TargetMixin(models.Model):
    """The object a row is about, kept readable even after that object is deleted."""

    target_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True

    @property
    def target_kind(self) -> str:
        return self.target_type.model if self.target_type_id else ""


class Task(TargetMixin):
    """A long operation that talks to hosts: the design's Task.id."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=100, help_text="What runs it, e.g. clusters.reconcile")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING, db_index=True
    )
    progress = models.FloatField(default=0.0)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Moves whenever a step starts or ends: a running task whose worker died stops moving.
    last_activity = models.DateTimeField(null=True, blank=True)
    # Which delivery runs it: a rescheduled run (retry, or "check again later") carries
    # the next number, so each delivery is claimed once however often it arrives.
    attempt = models.PositiveIntegerField(default=0)
    # The Celery worker holding it now; empty while it waits in the queue (rescheduled).
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        permissions = [
            ("view_pool", "Can see the pool (read-only role)"),
            ("operate_pool", "Can run maintenance and crash triage (pool-operator role)"),
            ("administer_pool", "Can change clusters, storage and hosts (pool-admin role)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0) & models.Q(progress__lte=1),
                name="task_progress_0_to_1",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TASK_FINISHED

    @property
    def percent(self) -> int:
        return round(self.progress * 100)

    @property
    def quiet_runs(self) -> int:
        """How many routine runs that changed nothing this row stands for (0: not folded;
        core.services.tasks.task_fold_quiet)."""
        return self.result.get("quiet_runs", 0) if isinstance(self.result, dict) else 0

    @property
    def quiet_since(self):
        """When the first of the quiet runs this row stands for started."""
        since = self.result.get("quiet_since") if isinstance(self.result, dict) else None
        return parse_datetime(since) if since else None


class TaskStep(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    # The workflow's name for the step: how a rerun knows what an earlier one finished.
    key = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=200)
    why = models.TextField(blank=True, help_text="What the step is for, in a sentence")
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    message = models.TextField(blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Times it was tried again after a transient host error (the step runner's retries).
    retries = models.PositiveSmallIntegerField(default=0)
    # Since when it waits for something ("not yet, check again"): its wait is bounded.
    waiting_since = models.DateTimeField(null=True, blank=True)
    # What the step found that a later step needs (kept across reschedules).
    output = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="task_step_position_unique"),
            models.UniqueConstraint(
                fields=["task", "key"], condition=~models.Q(key=""), name="task_step_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} ({self.status})"


class AuditEvent(TargetMixin):
    """Who did what to which object, when, and how it ended."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="Kept when the user is deleted")
    action = models.CharField(max_length=100, db_index=True)
    outcome = models.CharField(max_length=16, choices=AuditOutcome.choices)
    message = models.TextField(blank=True)
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target_repr}: {self.outcome}"


class Alert(TargetMixin):
    """A message for the admin, like XAPI's messages; one row per incident."""

    name = models.CharField(max_length=100, db_index=True)
    priority = models.PositiveSmallIntegerField(choices=AlertPriority.choices)
    message = models.TextField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)
    cleared = models.DateTimeField(null=True, blank=True, help_text="When the condition ended")
    acknowledged = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_until = models.DateTimeField(
        null=True, blank=True, help_text="No messages about it until then (fences excepted)"
    )
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["priority", "-created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(priority__gte=1) & models.Q(priority__lte=5),
                name="alert_priority_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"[{self.priority}] {self.name}: {self.target_repr}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged is None and self.cleared is None


class ApiToken(models.Model):
    """A named API token of one user. Only a hash of the key is stored; the key is
    shown once, when the token is made."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, db_index=True, help_text="Start of the key, shown")
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked=None),
                name="api_token_name_unique_while_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self):
        try:
            validate_plain_name(self.name)
        except ValidationError as exc:
            raise ValidationError({"name": exc}) from exc

    @property
    def is_active(self) -> bool:
        return self.revoked is None
