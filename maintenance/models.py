from django.db import models

from clusters.models import Host

from .choices import MaintenanceState


class HostMaintenance(models.Model):
    """A host's way through maintenance; kept in the database so nothing is lost when
    web, worker or beat restart, and so the host stays in maintenance across its reboot."""

    host = models.OneToOneField(
        Host, on_delete=models.CASCADE, primary_key=True, related_name="maintenance"
    )
    state = models.CharField(max_length=16, choices=MaintenanceState.choices)
    # The boot the host was in when it entered: exit needs a later one.
    boot_time_at_entry = models.DateTimeField(null=True, blank=True)
    # Steps whose effect is done, so a retry never repeats one: "disable", "evacuate"...
    done = models.JSONField(default=list)
    # What entering undid, for exit (or a rollback) to redo.
    unplugged_pbds = models.JSONField(default=list)
    left_clusters = models.JSONField(default=list)
    was_enabled = models.BooleanField(default=True)
    started = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["started"]

    def __str__(self) -> str:
        return f"{self.host_id}: {self.state}"
