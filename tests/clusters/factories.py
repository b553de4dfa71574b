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
