import factory

from clusters.choices import HostRegistration
from clusters.models import Cluster, Host


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host

    hostname = factory.Sequence(lambda n: f"host-{n:03d}")
    addresses = factory.Sequence(lambda n: [f"10.0.{n // 250}.{n % 250 + 1}"])
    registration = HostRegistration.ACCEPTED


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    name = factory.Sequence(lambda n: f"Cluster {n}")
    cluster_name = factory.Sequence(lambda n: f"cl{n}")


def hold_every_number(cluster: Cluster, *, departed: int = 255) -> None:
    """Fill all 255 O2CB numbers: the first `departed` with memberships of hosts that left
    (not yet forgotten), the others with current members."""
    from django.utils import timezone

    from clusters.models import Membership

    members = HostFactory.create_batch(255 - departed)
    Membership.objects.bulk_create(
        [
            Membership(
                cluster=cluster,
                number=n,
                host_uuid=HostFactory.build().uuid,
                hostname=f"gone-{n}",
                left=timezone.now(),
            )
            for n in range(departed)
        ]
        + [
            Membership(
                cluster=cluster,
                number=departed + i,
                host=host,
                host_uuid=host.uuid,
                hostname=host.hostname,
            )
            for i, host in enumerate(members)
        ]
    )


def seen_running(cluster: Cluster, host: Host, *, running: bool = True) -> None:
    """What the monitor stores when it finds O2CB running (or not) on a member."""
    from django.utils import timezone

    from clusters.models import ClusterHostStatus

    ClusterHostStatus.objects.update_or_create(
        cluster=cluster,
        host=host,
        defaults={"reachable": True, "running": running, "queried": timezone.now()},
    )


def plugged_sr(cluster: Cluster, hosts, name: str = "Gold"):
    """An SR of the cluster, plugged (mounted) on each of `hosts`."""
    from clusters.models import LUN, PBD, SR

    lun = LUN.objects.create(scsi_id=f"36000{abs(hash(name)) % 10**12:012d}", size=2**30)
    sr = SR.objects.create(name=name, lun=lun, cluster=cluster)
    for host in hosts:
        PBD.objects.create(host=host, sr=sr, plugged=True)
    return sr
