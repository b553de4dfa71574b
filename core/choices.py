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


class AlertName(models.TextChoices):
    """Every alert the console raises, under XAPI's name where XAPI has one."""

    HOST_WAITING_FOR_ACCEPTANCE = "HOST_WAITING_FOR_ACCEPTANCE", "A new host waits for a pool-admin"
    HOST_NAME_TAKEN = "HOST_NAME_TAKEN", "A host reports a name another host holds"
    HOST_NAME_INVALID = "HOST_NAME_INVALID", "A host reports a name O2CB cannot use"
    HOST_SILENT = "HOST_SILENT", "A host's agent stopped reporting"
    POOL_CONNECTION_LOST = "POOL_CONNECTION_LOST", "The console lost a pool's master"
    HOST_ADDRESSES_DIFFER = "HOST_ADDRESSES_DIFFER", "A host reports other addresses"
    HOST_KEY_CHANGED = "HOST_KEY_CHANGED", "A host's agent has a new key"
    AGENT_MESSAGE_REFUSED = "AGENT_MESSAGE_REFUSED", "A message from the broker was refused"
    AGENT_REFUSED_CALLS = "AGENT_REFUSED_CALLS", "A host's agent refused calls"
    CLUSTER_NEEDS_RESTART = "CLUSTER_NEEDS_RESTART", "A removal takes effect only at a restart"
    CLUSTER_MEMBER_STOPPED = "CLUSTER_MEMBER_STOPPED", "A member host does not run its cluster"
    O2CB_TIMEOUTS_DIFFER = "O2CB_TIMEOUTS_DIFFER", "Members run different O2CB timeouts"
    MULTIPATH_PERIODIC_ALERT = "MULTIPATH_PERIODIC_ALERT", "A LUN lost paths"
    BOND_STATUS_CHANGED = "BOND_STATUS_CHANGED", "A bond lost slaves"
    O2CB_HEARTBEAT_DELAYED = "O2CB_HEARTBEAT_DELAYED", "Disk heartbeat nears the fence deadline"
    MULTIPATH_QUEUEING_OUTLASTS_FENCE = (
        "MULTIPATH_QUEUEING_OUTLASTS_FENCE",
        "multipath queues I/O for longer than O2CB waits",
    )
    HA_TIMEOUT_RACES_O2CB = "HA_TIMEOUT_RACES_O2CB", "HA's timeout races O2CB's"
    O2CB_FENCE_LEAVES_NO_DUMP = "O2CB_FENCE_LEAVES_NO_DUMP", "O2CB fences by reset, no dump"
    O2CB_FEW_HEARTBEAT_REGIONS = (
        "O2CB_FEW_HEARTBEAT_REGIONS",
        "One heartbeat LUN failing fences hosts (fewer than three regions)",
    )
    O2CB_HEARTBEAT_ON_ONE_ARRAY = (
        "O2CB_HEARTBEAT_ON_ONE_ARRAY",
        "One array failing fences hosts (heartbeat regions on one array)",
    )
    O2CB_HEARTBEAT_ON_ONE_PATH_SET = (
        "O2CB_HEARTBEAT_ON_ONE_PATH_SET",
        "One path set failing fences a host (heartbeat LUNs on one path set)",
    )
    O2CB_NETWORK_SPLIT_FENCES = (
        "O2CB_NETWORK_SPLIT_FENCES",
        "One network part failing fences hosts",
    )
    HOST_CRASH_UNEXPLAINED = "HOST_CRASH_UNEXPLAINED", "A host crashed; no crash signature found"
    HOST_FENCED_BY_O2CB = "HOST_FENCED_BY_O2CB", "A host was fenced by O2CB"
    HOST_FENCED_BY_HA_WATCHDOG = "HOST_FENCED_BY_HA_WATCHDOG", "A host was fenced by HA"
    HOST_CRASHED_BY_A_BUG = "HOST_CRASHED_BY_A_BUG", "A host crashed on a software bug"


# The priority an alert is raised with when its raiser does not judge it case by case.
ALERT_PRIORITY = {
    AlertName.HOST_WAITING_FOR_ACCEPTANCE: AlertPriority.MINOR,
    AlertName.HOST_NAME_TAKEN: AlertPriority.WARNING,
    AlertName.HOST_NAME_INVALID: AlertPriority.WARNING,
    AlertName.HOST_SILENT: AlertPriority.MAJOR,
    AlertName.POOL_CONNECTION_LOST: AlertPriority.MAJOR,
    AlertName.HOST_ADDRESSES_DIFFER: AlertPriority.WARNING,
    AlertName.HOST_KEY_CHANGED: AlertPriority.MAJOR,
    AlertName.AGENT_MESSAGE_REFUSED: AlertPriority.MAJOR,
    AlertName.AGENT_REFUSED_CALLS: AlertPriority.MAJOR,
    AlertName.CLUSTER_NEEDS_RESTART: AlertPriority.MAJOR,
    AlertName.CLUSTER_MEMBER_STOPPED: AlertPriority.MAJOR,
    AlertName.O2CB_TIMEOUTS_DIFFER: AlertPriority.MAJOR,
    AlertName.MULTIPATH_PERIODIC_ALERT: AlertPriority.WARNING,
    AlertName.BOND_STATUS_CHANGED: AlertPriority.WARNING,
    AlertName.O2CB_HEARTBEAT_DELAYED: AlertPriority.WARNING,
    AlertName.MULTIPATH_QUEUEING_OUTLASTS_FENCE: AlertPriority.MINOR,
    AlertName.HA_TIMEOUT_RACES_O2CB: AlertPriority.MINOR,
    AlertName.O2CB_FENCE_LEAVES_NO_DUMP: AlertPriority.MINOR,
    AlertName.O2CB_FEW_HEARTBEAT_REGIONS: AlertPriority.WARNING,
    AlertName.O2CB_HEARTBEAT_ON_ONE_ARRAY: AlertPriority.MINOR,
    AlertName.O2CB_HEARTBEAT_ON_ONE_PATH_SET: AlertPriority.WARNING,
    AlertName.O2CB_NETWORK_SPLIT_FENCES: AlertPriority.WARNING,
    AlertName.HOST_CRASH_UNEXPLAINED: AlertPriority.WARNING,
    AlertName.HOST_FENCED_BY_O2CB: AlertPriority.MAJOR,
    AlertName.HOST_FENCED_BY_HA_WATCHDOG: AlertPriority.MAJOR,
    AlertName.HOST_CRASHED_BY_A_BUG: AlertPriority.WARNING,
}
