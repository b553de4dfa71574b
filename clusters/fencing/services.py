"""The fence-risk alerts: kept in step with the model's recommendations on each monitor
run (the inputs change with what the monitor and the I/O rounds store, not faster)."""

from __future__ import annotations

from clusters.models import Cluster
from core.choices import AlertName
from core.services.alerts import alert_sync

from .model import Advice
from .selectors import fence_advice

# The layouts this package alerts on. Queueing, HA's timeout and differing timeouts have
# alerts of their own (the I/O rounds' and the monitor's); the page shows them all.
ALERTS = {
    Advice.FEW_REGIONS: AlertName.O2CB_FEW_HEARTBEAT_REGIONS,
    Advice.ONE_ARRAY: AlertName.O2CB_HEARTBEAT_ON_ONE_ARRAY,
    Advice.ONE_PATH_SET: AlertName.O2CB_HEARTBEAT_ON_ONE_PATH_SET,
    Advice.NETWORK: AlertName.O2CB_NETWORK_SPLIT_FENCES,
}


def fence_risks_sync(*, cluster: Cluster) -> None:
    """Raise, update or clear each fence-risk alert of the cluster, with its fix."""
    found = {r.kind: r for r in fence_advice(cluster)}
    for kind, name in ALERTS.items():
        advice = found.get(kind)
        alert_sync(
            name=name,
            target=cluster,
            message=f"{advice.message} What to do: {advice.fix}" if advice else None,
        )
