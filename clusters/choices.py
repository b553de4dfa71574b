from django.db import models

# The agent's facts about O2CB, kept in one place: node numbers run 0..O2CB_MAX_NODES-1.
from agent.cluster_conf import DEFAULT_PORT as O2CB_PORT  # noqa: F401
from agent.cluster_conf import MAX_NODES as O2CB_MAX_NODES  # noqa: F401


class HostRegistration(models.TextChoices):
    PENDING = "pending", "Waiting for a pool-admin"
    ACCEPTED = "accepted", "Accepted"


class PoolState(models.TextChoices):
    CONNECTING = "connecting", "Connecting"
    CONNECTED = "connected", "Connected"
    # The master did not answer, or answered with an error: retried with backoff.
    LOST = "lost", "Connection lost, retrying"
    # The master refused the credentials: retried only after a pool-admin changes them.
    REFUSED = "refused", "Credentials refused"


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
