import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse

from clusters.models import Host

from .choices import NO_SIGNATURE, CrashCause, CrashSource


class CrashIncident(models.Model):
    """One event in the pool: the hosts that went down together and what the others saw."""

    time = models.DateTimeField(db_index=True, help_text="When the first host went down")
    cause = models.CharField(max_length=8, choices=CrashCause.choices)
    summary = models.TextField()
    # [{time, host, role: "crashed" | "survivor", file, line, text}], in time order
    timeline = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-time"]

    def __str__(self) -> str:
        return f"{self.get_cause_display()} at {self.time:%Y-%m-%d %H:%M:%S}"


class HostCrashdump(models.Model):
    """The design's Host_crashdump, with the analyser's verdict in `cause`."""

    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="crashdumps"
    )
    hostname = models.CharField(max_length=253, blank=True, help_text="Kept if the host goes")
    name = models.CharField(max_length=255, help_text="The dump's directory or file name")
    source = models.CharField(max_length=8, choices=CrashSource.choices)
    time = models.DateTimeField(null=True, blank=True, db_index=True, help_text="Crash time")
    received = models.DateTimeField(auto_now_add=True, db_index=True)
    size = models.PositiveBigIntegerField(default=0)
    files = models.JSONField(default=list, help_text="[{name, size}] of the dump")
    cause = models.CharField(max_length=8, choices=CrashCause.choices, db_index=True)
    explanation = models.TextField()
    evidence = models.JSONField(default=list, help_text="[{file, line, text}]")
    details = models.JSONField(default=dict)
    signature = models.CharField(max_length=200, blank=True, db_index=True)
    # The logs the analysis read, kept below CRASH_STORE/<uuid>/ (never the memory images).
    stored_logs = models.JSONField(default=list)
    io_before = models.JSONField(
        default=dict,
        help_text="The host's I/O state before the crash, as the console had it: its last "
        "verdict, the I/O alerts open and the samples of the minutes before",
    )
    incident = models.ForeignKey(
        CrashIncident, null=True, blank=True, on_delete=models.SET_NULL, related_name="crashes"
    )
    acknowledged = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received", "-id"]
        verbose_name = "host crash dump"
        constraints = [
            models.UniqueConstraint(
                fields=["host", "name"],
                condition=models.Q(host__isnull=False),
                name="crashdump_once_per_host",
            )
        ]

    def __str__(self) -> str:
        return f"{self.hostname or 'upload'} {self.name}: {self.cause}"

    def get_absolute_url(self) -> str:
        return reverse("crash-detail", args=[self.pk])

    @property
    def no_signature(self) -> bool:
        """A crash the analyser found nothing in: the design's cause `bug`, but nothing
        shows a bug (crashes.services.missing_evidence says what is missing)."""
        return self.cause == CrashCause.BUG and (self.details or {}).get("kind") == "unknown"

    @property
    def verdict(self) -> str:
        """What the pages call its cause."""
        return NO_SIGNATURE if self.no_signature else self.get_cause_display()

    @property
    def verdict_class(self) -> str:
        """The pill's class: cause-o2cb, cause-xhad, cause-bug, or cause-unknown."""
        return "unknown" if self.no_signature else self.cause

    @property
    def signature_key(self) -> str:
        """The signature's hash, which names its group's page."""
        return self.signature.split(" ", 1)[0]

    @property
    def store_dir(self) -> Path:
        """Where the logs this dump cites are kept."""
        return Path(settings.CRASH_STORE) / str(self.uuid)
