import re
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from agent import names
from agent.names import node_name_problem
from agent.signing import fingerprint
from core.validators import validate_plain_name

from .choices import (
    O2CB_MAX_NODES,
    ClusterPlugin,
    HeartbeatMode,
    HostRegistration,
    IOHealthState,
    NodeState,
    PoolState,
    PowerState,
    SRFormat,
    VDIType,
)


def validate_node_name(value: str) -> None:
    problem = node_name_problem(value)
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:] + ".")


NEW_CLUSTER_NAME = re.compile(rf"^{names.CLUSTER_NAME.pattern}$")
CLUSTER_NAME_LENGTH_WHY = (
    f"OCFS2_CLUSTER_NAME_LEN: O2CB and `o2cb add-cluster` take no more than "
    f"{names.CLUSTER_NAME_MAX}"
)
NEW_CLUSTER_NAME_RULE = (
    f"An O2CB cluster name is 1 to {names.CLUSTER_NAME_MAX} letters and digits, as "
    "`o2cb add-cluster` accepts."
)


class Pool(models.Model):
    """A XenServer / XCP-ng pool, read and driven through its master's XenAPI.

    Hosts with no pool run their own agent (the sandbox, the lab, a plain Linux host) and
    are reached over Celery; a pool's hosts are reached through its master's XenAPI, with
    the host plugin (clusters/agents.py picks the transport from `Host.pool`)."""

    uuid = models.UUIDField(
        null=True, blank=True, unique=True, help_text="The pool's own uuid, learnt when connected"
    )
    name = models.CharField(max_length=100, unique=True, help_text="Name in the console")
    master_address = models.CharField(
        max_length=253, help_text="Address of the master; followed when the master changes"
    )
    tls_verify = models.BooleanField(
        default=True,
        help_text="Check the master's TLS certificate; off only for a self-signed one",
    )
    username = models.CharField(max_length=64)
    # Encrypted with the console's pool key (clusters/xapi.py); never shown, never logged.
    password_encrypted = models.TextField()
    state = models.CharField(max_length=16, choices=PoolState.choices, default=PoolState.CONNECTING)
    error = models.TextField(blank=True, help_text="Why the last connection failed")
    failures = models.PositiveIntegerField(default=0, help_text="Failed connections in a row")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="Next try after a failure")
    event_token = models.CharField(max_length=200, blank=True, help_text="event.from's token")
    last_event = models.DateTimeField(null=True, blank=True)
    # Every SR of the pool as last read, by ref: uuid, name, type, shared, and its PBDs:
    # the console keeps rows only for the OCFS2 SRs it made, but the page lists them all.
    srs = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("pool-detail", args=[self.pk])


class Host(models.Model):
    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    hostname = models.CharField(max_length=253, unique=True, validators=[validate_node_name])
    addresses = models.JSONField(default=list, help_text="Management addresses, first is used")
    enabled = models.BooleanField(default=True, help_text="Off: no new VMs start here")
    maintenance_hold = models.BooleanField(
        default=False,
        help_text="In (or entering) maintenance: no workflow starts a cluster or plugs "
        "storage here until it leaves",
    )
    registration = models.CharField(
        max_length=16, choices=HostRegistration.choices, default=HostRegistration.PENDING
    )
    sandbox = models.BooleanField(default=False)
    pool = models.ForeignKey(
        Pool,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="hosts",
        help_text="The XAPI pool it belongs to; none: a host with its own agent",
    )
    xapi_ref = models.CharField(max_length=100, blank=True, help_text="Its OpaqueRef in the pool")
    boot_time = models.DateTimeField(null=True, blank=True, help_text="Last start, from the agent")
    reboot_planned = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the console asked for a reboot (rolling restart) or the host entered "
        "maintenance to be rebooted: its next restart is planned, never a crash",
    )
    last_heard = models.DateTimeField(null=True, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    public_key = models.CharField(
        max_length=100, blank=True, help_text="The key its agent seals answers and reports with"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else ""

    @property
    def key_fingerprint(self) -> str:
        return fingerprint(self.public_key) if self.public_key else ""

    @property
    def queue(self) -> str:
        return f"host.{self.uuid}"


class Cluster(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Name in the console")
    plugin = models.CharField(max_length=16, choices=ClusterPlugin.choices, default="o2cb")
    heartbeat_mode = models.CharField(
        max_length=16, choices=HeartbeatMode.choices, default=HeartbeatMode.GLOBAL
    )
    # A new cluster's name is what `o2cb add-cluster` accepts (agent/names.py); the table
    # still allows '-' and '_', which clusters made before that rule may hold.
    cluster_name = models.CharField(
        max_length=16,
        unique=True,
        help_text="Name on the hosts",
        validators=[RegexValidator(NEW_CLUSTER_NAME.pattern, NEW_CLUSTER_NAME_RULE)],
    )
    auto_join = models.BooleanField(default=True, help_text="New pool hosts join automatically")
    pool = models.ForeignKey(
        Pool,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clusters",
        help_text="The XAPI pool whose hosts it joins; none: hosts with their own agent",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cluster_name__regex=r"^[A-Za-z0-9_-]{1,16}$"),
                name="cluster_name_o2cb_safe",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("cluster-detail", args=[self.pk])

    def clean(self):
        # Checked here, not as a field validator, so every form and full_clean() sees it.
        try:
            validate_plain_name(self.name)
        except ValidationError as exc:
            raise ValidationError({"name": exc}) from exc


class Membership(models.Model):
    """A host's node number in a cluster, held after it leaves until every member that knew
    it (joined before it left) restarted."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="memberships")
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships"
    )
    number = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(O2CB_MAX_NODES - 1)]
    )
    # Kept so survivors can still be told to forget the node after the host row is gone.
    host_uuid = models.UUIDField()
    hostname = models.CharField(max_length=253)
    created = models.DateTimeField(auto_now_add=True)
    left = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["cluster", "number"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "number"], name="membership_number_unique"),
            models.UniqueConstraint(
                fields=["cluster", "host"],
                condition=models.Q(left__isnull=True),
                name="membership_one_current_per_host",
            ),
            models.CheckConstraint(
                condition=models.Q(number__lte=O2CB_MAX_NODES - 1), name="membership_number_max"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} node {self.number} ({self.hostname})"

    @property
    def is_current(self) -> bool:
        return self.left is None


def peers_in_brief(peers: list[dict]) -> dict:
    """A host's view of its cluster reduced to what a large cluster's page shows: the
    node numbers it sees alive as ranges ([[0, 254]] when all is well), and the state of
    each node it does not see alive."""
    alive: list[list[int]] = []
    for number in sorted(
        p["number"]
        for p in peers
        if p.get("state") == NodeState.ALIVE and p.get("number") is not None
    ):
        if alive and number == alive[-1][1] + 1:
            alive[-1][1] = number
        else:
            alive.append([number, number])
    return {
        "peers_alive": alive,
        "peers_not_alive": {
            str(p["number"]): p.get("state") or "unknown"
            for p in peers
            if p.get("state") != NodeState.ALIVE and p.get("number") is not None
        },
    }


class ClusterHostStatus(models.Model):
    """What one host last reported about one cluster (the monitor's Cluster.query)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="host_statuses")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="cluster_statuses")
    reachable = models.BooleanField(default=False)
    running = models.BooleanField(default=False)
    enabled = models.BooleanField(default=False)
    needs_restart = models.BooleanField(default=False)
    restart_reasons = models.JSONField(default=list)
    peers = models.JSONField(default=list, help_text="The host's view: number, hostname, state")
    # The same view in brief, so a page about a large cluster need not read every host's
    # whole list (255 lists of 255 nodes).
    peers_alive = models.JSONField(
        default=list, help_text="Ranges [first, last] of the node numbers it sees alive"
    )
    peers_not_alive = models.JSONField(
        default=dict, help_text="Each node it does not see alive: number to state"
    )
    drift = models.JSONField(default=list, help_text="How the host's config differs from ours")
    timeouts = models.JSONField(default=dict, help_text="O2CB timeouts the host runs with")
    error = models.TextField(blank=True)
    queried = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cluster", "host__hostname"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "host"], name="cluster_host_status_unique")
        ]

    def __str__(self) -> str:
        return f"{self.host} in {self.cluster}"


class LUN(models.Model):
    scsi_id = models.CharField(max_length=128, unique=True, help_text="SCSI id / WWID")
    size = models.PositiveBigIntegerField(help_text="Bytes")
    vendor = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["scsi_id"]
        verbose_name = "LUN"

    def __str__(self) -> str:
        return self.scsi_id


class SR(models.Model):
    """A storage repository: one OCFS2 filesystem on one SAN LUN."""

    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    name = models.CharField(max_length=200)
    sm_type = models.CharField(max_length=16, default="ocfs2")
    format = models.CharField(max_length=8, choices=SRFormat.choices, default=SRFormat.VHD)
    lun = models.OneToOneField(LUN, on_delete=models.PROTECT, related_name="sr")
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="srs")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "SR"

    def __str__(self) -> str:
        return self.name


class PBD(models.Model):
    """Connects one host to one SR; plugged means mounted on that host."""

    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="pbds")
    sr = models.ForeignKey(SR, on_delete=models.CASCADE, related_name="pbds")
    plugged = models.BooleanField(default=False)

    class Meta:
        ordering = ["sr", "host"]
        verbose_name = "PBD"
        constraints = [models.UniqueConstraint(fields=["host", "sr"], name="pbd_host_sr_unique")]

    def __str__(self) -> str:
        return f"{self.sr} on {self.host}"


class VDI(models.Model):
    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    sr = models.ForeignKey(SR, on_delete=models.CASCADE, related_name="vdis")
    name = models.CharField(max_length=200)
    vdi_type = models.CharField(max_length=20, choices=VDIType.choices, default=VDIType.USER)
    size = models.PositiveBigIntegerField(default=0)
    cluster = models.ForeignKey(
        Cluster,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="statefiles",
        help_text="For o2cb_statefile VDIs: the cluster it serves",
    )

    class Meta:
        ordering = ["sr", "name"]
        verbose_name = "VDI"
        constraints = [
            # One statefile per cluster: the design's "find or create" must not race.
            models.UniqueConstraint(
                fields=["cluster"],
                condition=models.Q(vdi_type="o2cb_statefile"),
                name="vdi_one_o2cb_statefile_per_cluster",
            )
        ]

    def __str__(self) -> str:
        return self.name


class VM(models.Model):
    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    name = models.CharField(max_length=200)
    resident_on = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="resident_vms"
    )
    memory = models.PositiveBigIntegerField(default=0, help_text="Bytes")
    power_state = models.CharField(
        max_length=16, choices=PowerState.choices, default=PowerState.HALTED
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "VM"

    def __str__(self) -> str:
        return self.name


class HostIOHealth(models.Model):
    """The latest verdict on one host's I/O paths, from its last collection round."""

    host = models.OneToOneField(
        Host, on_delete=models.CASCADE, primary_key=True, related_name="io_health"
    )
    state = models.CharField(
        max_length=16, choices=IOHealthState.choices, default=IOHealthState.UNKNOWN
    )
    since = models.DateTimeField(help_text="When the state last changed")
    checked = models.DateTimeField(help_text="Time of the last collection round")
    problems = models.JSONField(default=list, help_text="What is wrong now, and the fix")
    config_warnings = models.JSONField(default=list, help_text="Settings that risk a fence")
    time_to_fence = models.FloatField(
        null=True, blank=True, help_text="Seconds before O2CB fences this host, if it is coming"
    )
    probe = models.JSONField(default=dict, help_text="The agent's last I/O-path probe")
    luns = models.JSONField(
        default=dict, help_text="Each LUN by WWID as the last probe saw it: paths up, heartbeat lag"
    )

    class Meta:
        verbose_name = "host I/O health"
        verbose_name_plural = "host I/O health"

    def __str__(self) -> str:
        return f"{self.host_id}: {self.state}"


class HealthSample(models.Model):
    """One I/O-path measurement at full resolution (kept about a day).

    `subject` names what was measured on the host: a path device, a multipath map,
    a bond or bond slave, a heartbeat region.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=40)
    subject = models.CharField(max_length=128)
    time = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        indexes = [
            models.Index(fields=["host", "metric", "subject", "time"], name="sample_series"),
            models.Index(fields=["time"], name="sample_time"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.metric}/{self.subject}@{self.time:%H:%M:%S}={self.value}"


class HealthRollup(models.Model):
    """Hourly summary of one series, kept a year: what the long charts draw."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=40)
    subject = models.CharField(max_length=128)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    minimum = models.FloatField()
    maximum = models.FloatField()
    mean = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["host", "metric", "subject", "hour"], name="rollup_one_per_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.metric}/{self.subject}@{self.hour:%Y-%m-%d %H}h"
