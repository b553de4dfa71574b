from django.conf import settings
from django.db import models

from clusters.models import Host, Pool
from core.choices import AlertPriority
from core.models import Alert
from maintenance.models import HostMaintenance

from .choices import DeliveryStatus, NotificationEvent, TargetKind


class NotificationTarget(models.Model):
    """Where messages go: a list of e-mail addresses, or a web-hook URL."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    enabled = models.BooleanField(default=True)
    recipients = models.JSONField(default=list, blank=True, help_text="E-mail addresses")
    url = models.URLField(max_length=2000, blank=True, help_text="Web-hook URL (http or https)")
    # Signs each web-hook body (HMAC-SHA256); encrypted (core.secrets), never shown again.
    secret_encrypted = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def address(self) -> str:
        return ", ".join(self.recipients) if self.kind == TargetKind.EMAIL else self.url


class NotificationRule(models.Model):
    """Which alerts go to which targets. An empty filter takes everything."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    alert_names = models.JSONField(
        default=list, blank=True, help_text="core.choices.AlertName values; empty: every alert"
    )
    priority_at_least = models.PositiveSmallIntegerField(
        choices=AlertPriority.choices,
        default=AlertPriority.INFO,
        help_text="This priority or more urgent (1 is the most urgent)",
    )
    pools = models.ManyToManyField(Pool, blank=True, related_name="+")
    hosts = models.ManyToManyField(Host, blank=True, related_name="+")
    targets = models.ManyToManyField(NotificationTarget, related_name="rules")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """One message about one change of one alert (or a test), whatever the number of
    targets it goes to. `held` says why it was not sent (acknowledged, snoozed, silenced)."""

    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)
    priority = models.PositiveSmallIntegerField(choices=AlertPriority.choices)
    body = models.JSONField(help_text="The web-hook body; e-mails say the same")
    held = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.event} {self.alert.name if self.alert else ''}".strip()


class Delivery(models.Model):
    """A notification on its way to one target."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    target = models.ForeignKey(
        NotificationTarget, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_answer = models.TextField(blank=True, help_text="What the target last answered")
    next_attempt = models.DateTimeField(null=True, blank=True)
    delivered = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.notification} to {self.target}: {self.status}"


class DeliveryAttempt(models.Model):
    """Each try of a delivery: the delivery log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    answer = models.TextField(help_text="HTTP status and the start of the body, or SMTP's reply")
    retry_in = models.FloatField(null=True, blank=True, help_text="Seconds until the next try")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="delivery_attempt_unique")
        ]

    def __str__(self) -> str:
        return f"try {self.number}: {self.answer}"


class HostSilence(models.Model):
    """No messages about a host while it is in maintenance: it ends with the maintenance
    (the row goes with the host's HostMaintenance). Fences are sent anyway."""

    maintenance = models.OneToOneField(
        HostMaintenance, on_delete=models.CASCADE, primary_key=True, related_name="silence"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["maintenance__host__hostname"]

    def __str__(self) -> str:
        return f"{self.maintenance.host} silenced"
