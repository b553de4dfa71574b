"""The fence model on a real sandbox pool: what the console knows (members, probes,
timeouts) becomes its input, and the monitor keeps the fence-risk alerts in step."""

import pytest
from django.urls import reverse

from agent import storage
from clusters.fencing.inputs import layout_for
from clusters.fencing.model import Failure, FailureKind, simulate
from clusters.fencing.selectors import single_failures_that_fence
from clusters.iohealth.services import io_health_collect
from clusters.models import Cluster, Host
from clusters.services.memberships import cluster_reconcile_start
from core.choices import AlertName
from core.models import Alert
from maintenance.services import enter_preview, rolling_restart_preview
from maintenance.storage import storage_add, storage_add_preview
from tests.clusters.test_cluster_lifecycle import finished
from tests.pools import maintenance_pool  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def cluster_alerts(cluster):
    return {
        a.name: a.message
        for a in Alert.objects.filter(target_id=str(cluster.pk), cleared__isnull=True)
        if a.target_type and a.target_type.model == "cluster"
    }


def look_again(cluster):
    """An I/O round (the probes) and a monitor run (statuses and the fence alerts)."""
    io_health_collect(timeout=10)
    assert finished(cluster_reconcile_start(cluster=cluster, reason="test")).status == "succeeded"
    return cluster_alerts(cluster)


def heartbeat_paths(roots, hostname, layout):
    """The device names of a host's paths to the heartbeat LUN, by SCSI host."""
    from clusters.models import HostIOHealth

    probe = HostIOHealth.objects.get(host__hostname=hostname).probe
    lun = layout.regions[0].lun
    (map_,) = [m for m in probe["multipath"]["maps"] if m["wwid"] == lun]
    return {
        p["hcil"].split(":")[0]: p["device"]
        for group in map_["path_groups"]
        for p in group["paths"]
    }


# Long: one pool, made once, taken through each layout the alerts speak of
def test_the_console_view_becomes_the_model_and_its_alerts_follow_the_layout(
    maintenance_pool,  # noqa: F811
    client,
    admin_user,
):
    hosts, roots = maintenance_pool
    cluster = Cluster.objects.get()
    alerts = look_again(cluster)

    layout = layout_for(cluster)
    assert [(n.host, n.number, n.heartbeating) for n in layout.nodes] == [
        (h.hostname, h.memberships.get().number, True) for h in hosts
    ]
    (region,) = layout.regions
    assert region.writers == {h.hostname for h in hosts}
    node = layout.node(hosts[1].hostname)
    assert node.lun(region.lun).path_sets == ("SCSI host 1", "SCSI host 2")
    assert {nic.name for nic in node.nics} == {"eth0", "eth1"}
    assert node.srs == ("Gold",)
    assert layout.timeouts.dead_s == 60

    # One region: its LUN failing fences every host, and the alert says what to do.
    assert simulate(layout, Failure(FailureKind.LUN, region.lun)).fenced == [
        h.hostname for h in hosts
    ]
    assert "heartbeats on 1 quorum region(s)" in alerts[AlertName.O2CB_FEW_HEARTBEAT_REGIONS]
    assert (
        "Add heartbeat regions until there are three"
        in alerts[AlertName.O2CB_FEW_HEARTBEAT_REGIONS]
    )
    assert AlertName.O2CB_HEARTBEAT_ON_ONE_PATH_SET not in alerts
    assert AlertName.O2CB_NETWORK_SPLIT_FENCES not in alerts

    # A failed path leaves sandbox-02 one path set: that set failing fences it.
    second = hosts[1]
    path = heartbeat_paths(roots, second.hostname, layout)["1"]
    storage_fault(second, "path-fail", path)
    alerts = look_again(cluster)
    message = alerts[AlertName.O2CB_HEARTBEAT_ON_ONE_PATH_SET]
    assert f"{second.hostname}'s path set SCSI host 2 fails fences {second.hostname}" in message
    assert "two HBAs" in message
    storage_fault(second, "path-restore", path)
    assert AlertName.O2CB_HEARTBEAT_ON_ONE_PATH_SET not in look_again(cluster)

    # A bond slave down leaves sandbox-03 one NIC for o2net: losing it fences the host.
    third = hosts[2]
    storage_fault(third, "slave-down", "eth0")
    alerts = look_again(cluster)
    assert (
        f"{third.hostname}'s bond bond0 goes down fences {third.hostname}"
        in alerts[AlertName.O2CB_NETWORK_SPLIT_FENCES]
    )
    assert (
        f"While {hosts[0].hostname} is out, a failure of {third.hostname}'s cluster link bond0 "
        f"fences {third.hostname}." in single_failures_that_fence(cluster, without_hosts=[hosts[0]])
    )
    # Every workflow preview says which single failures would fence a host meanwhile.
    first = hosts[0]
    while_out = (
        f"While {first.hostname} is out, a failure of {third.hostname}'s cluster link bond0 "
        f"fences {third.hostname}."
    )
    assert while_out in enter_preview(first)["fence_risks"]
    assert while_out in rolling_restart_preview(cluster)["fence_risks"]
    now = f"A failure of {third.hostname}'s cluster link bond0 fences {third.hostname}."
    assert now in storage_add_preview(cluster=cluster, requests=[])["fence_risks"]
    client.force_login(admin_user)
    page = client.get(reverse("host-maintenance", args=[first.pk])).content.decode()
    assert 'id="fence-risks"' in page and while_out.replace("'", "&#x27;") in page
    page = client.get(reverse("cluster-rolling-restart", args=[cluster.pk])).content.decode()
    assert while_out.replace("'", "&#x27;") in page
    storage_fault(third, "slave-up", "eth0")
    assert AlertName.O2CB_NETWORK_SPLIT_FENCES not in look_again(cluster)

    # Two more heartbeat LUNs make three regions: one LUN may fail, the alert clears.
    luns = [lun["scsi_id"] for lun in storage.list_luns(roots[hosts[0].hostname])]
    free = [scsi_id for scsi_id in luns if scsi_id != region.lun][:2]
    added = storage_add(
        cluster=cluster,
        requests=[{"scsi_id": free[0], "name": "Silver"}, {"scsi_id": free[1], "name": "Bronze"}],
        actor=None,
    )
    assert finished(added, timeout=180).status == "succeeded", added.error
    alerts = look_again(cluster)
    assert len(layout_for(cluster).quorum_regions()) == 3
    assert AlertName.O2CB_FEW_HEARTBEAT_REGIONS not in alerts
    # Still one array under all three: its I/O error fences everyone.
    assert (
        "array LIO-ORG answers every I/O with an error fences"
        in alerts[AlertName.O2CB_HEARTBEAT_ON_ONE_ARRAY]
    )


def storage_fault(host: Host, fault: str, target: str) -> None:
    from clusters.services.faults import fault_inject

    fault_inject(host=host, fault=fault, target=target, actor=None)
