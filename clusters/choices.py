from django.db import models

# O2CB node numbers run 0..254 (the kernel's O2NM_MAX_NODES is 255).
O2CB_MAX_NODES = 255


class HostRegistration(models.TextChoices):
    PENDING = "pending", "Waiting for a pool-admin"
    ACCEPTED = "accepted", "Accepted"


class ClusterPlugin(models.TextChoices):
    O2CB = "o2cb", "O2CB (OCFS2)"


class HeartbeatMode(models.TextChoices):
    GLOBAL = "global", "Global (on the shared LUNs)"


class NodeState(models.TextChoices):
    ALIVE = "alive", "Alive"
    DEAD = "dead", "Dead"
    EXCLUDED = "excluded", "Excluded until the cluster restarts"


class SRFormat(models.TextChoices):
    VHD = "vhd", "VHD"
    RAW = "raw", "Raw"


class VDIType(models.TextChoices):
    USER = "user", "User"
    SYSTEM = "system", "System"
    HA_STATEFILE = "ha_statefile", "HA statefile"
    O2CB_STATEFILE = "o2cb_statefile", "O2CB statefile"
    METADATA = "metadata", "Metadata"


class PowerState(models.TextChoices):
    RUNNING = "running", "Running"
    HALTED = "halted", "Halted"
    PAUSED = "paused", "Paused"
    SUSPENDED = "suspended", "Suspended"


class IOHealthState(models.TextChoices):
    # Ordered from best to worst: a pool or SR takes its worst host's state.
    OK = "ok", "OK"
    DEGRADED = "degraded", "Degraded"
    CRITICAL = "critical", "Critical"
    UNKNOWN = "unknown", "Not checked yet"
