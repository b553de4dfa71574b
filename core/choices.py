from django.db import models


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TASK_FINISHED = {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED}


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"
    ACCEPTED = "accepted", "Accepted (runs as a task)"


class AlertPriority(models.IntegerChoices):
    # XAPI's message priorities: 1 is the most urgent.
    CRITICAL = 1, "Critical"
    MAJOR = 2, "Major"
    WARNING = 3, "Warning"
    MINOR = 4, "Minor"
    INFO = 5, "Information"


class Role(models.TextChoices):
    READ_ONLY = "read-only", "Read-only"
    POOL_OPERATOR = "pool-operator", "Pool operator"
    POOL_ADMIN = "pool-admin", "Pool admin"
