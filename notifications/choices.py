from django.db import models

from core.choices import AlertName


class TargetKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Web-hook"


class NotificationEvent(models.TextChoices):
    RAISED = "raised", "Raised"
    ESCALATED = "escalated", "Escalated"
    CLEARED = "cleared", "Cleared"
    # A snooze ended and the alert is still open: said once, as the snooze promised.
    STILL_OPEN = "still_open", "Still open after a snooze"
    TEST = "test", "Test"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # queued, or waiting for its next try
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # out of tries


# The crash alerts (crashes/): a host that fenced or crashed is always told, whatever was
# acknowledged, snoozed or silenced, and whatever priority a rule asks for.
ALWAYS_SENT = frozenset(
    {
        AlertName.HOST_FENCED_BY_O2CB,
        AlertName.HOST_FENCED_BY_HA_WATCHDOG,
        AlertName.HOST_CRASHED_BY_A_BUG,
        AlertName.HOST_CRASH_UNEXPLAINED,
    }
)

# The version of the web-hook body (README, Notifications); raise it when a field changes.
WEBHOOK_SCHEMA_VERSION = 1
