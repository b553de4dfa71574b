"""What the fence model is told of a host's paths and NICs, from its last I/O probe."""

import pytest
from django.utils import timezone

from clusters.fencing.inputs import layout_for
from clusters.models import HostIOHealth, Membership
from tests.clusters.test_io_health import bond, multipath

from .factories import ClusterFactory, HostFactory

pytestmark = pytest.mark.django_db

NVME_LUN = "uuid.3c1b7e2a-5d4f-4a8e-9b6c-0e1f2a3b4c5d"


def test_nvme_controllers_are_path_sets_and_a_stray_lacp_slave_is_no_nic():
    cluster, host = ClusterFactory(), HostFactory()
    Membership.objects.create(
        cluster=cluster, host=host, number=0, host_uuid=host.uuid, hostname=host.hostname
    )
    probe = {
        "multipath": multipath("multipathd_show_topology_nvme_native.txt"),
        # eth2 has a link but sits outside the active aggregator; eth3 is down.
        "bonds": [bond("lacp_802_3ad_stray_aggregator_xcpng.txt")],
    }
    now = timezone.now()
    HostIOHealth.objects.create(host=host, state="degraded", since=now, checked=now, probe=probe)

    node = layout_for(cluster).node(host.hostname)
    # The inaccessible path's controller (nvme2) reconnects: two controllers carry I/O.
    assert node.lun(NVME_LUN).path_sets == ("NVMe controller nvme0", "NVMe controller nvme1")
    assert node.lun("3624a9370b8e2c4d1a7f3e6b500013a22").path_sets == (
        "SCSI host 14",
        "SCSI host 15",
    )
    assert [nic.name for nic in node.nics] == ["eth0", "eth1"]
