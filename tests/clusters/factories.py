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


def hold_every_number(cluster: Cluster) -> None:
    """Fill all 255 O2CB numbers with memberships of hosts that left (not yet forgotten)."""
    from django.utils import timezone

    from clusters.models import Membership

    Membership.objects.bulk_create(
        Membership(
            cluster=cluster,
            number=n,
            host_uuid=HostFactory.build().uuid,
            hostname=f"gone-{n}",
            left=timezone.now(),
        )
        for n in range(255)
    )
