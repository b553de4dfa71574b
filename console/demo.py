"""Demo seeding: the simulated pool that `make demo` and the tests start from."""

from django.db import transaction

from agent.host import hello
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san
from clusters.models import Cluster
from clusters.services.hosts import host_accept, host_record_report
from clusters.services.memberships import cluster_create, cluster_start


def sandbox_pool_seed(*, sandbox_dir, host_count: int = 4, cluster_name: str = "pool") -> Cluster:
    """Make the demo pool: sandbox hosts, accepted, members of one auto-join cluster.

    Idempotent: hosts and the cluster that exist are kept as they are.
    """
    with transaction.atomic():
        cluster = Cluster.objects.filter(cluster_name=cluster_name).first()
        created = cluster is None
        if created:
            cluster = cluster_create(
                name="OCFS2 pool cluster", cluster_name=cluster_name, hosts=[], actor=None
            )
        create_sandbox_san(sandbox_dir)
        for index in range(1, host_count + 1):
            root = create_sandbox_host(
                sandbox_dir, f"sandbox-{index:02d}", address=f"127.0.1.{index}"
            )
            host = host_record_report(report=hello(root))
            host_accept(host=host, actor=None)
        if created:
            # The worker starts it once the agent answers, so the demo opens on a live cluster.
            cluster_start(cluster=cluster, actor=None)
    return cluster
