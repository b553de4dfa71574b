from django.conf import settings
from django.core.management.base import BaseCommand

from console.demo import demo_admin_account, sandbox_pool_seed


class Command(BaseCommand):
    help = "Seed the simulated pool (sandbox hosts, one cluster) and an admin account."

    def add_arguments(self, parser):
        parser.add_argument("--hosts", type=int, default=4)

    def handle(self, *args, hosts: int, **options):
        cluster = sandbox_pool_seed(sandbox_dir=settings.SANDBOX_DIR, host_count=hosts)
        self.stdout.write(
            f"Sandbox pool: {hosts} hosts in {settings.SANDBOX_DIR}, cluster {cluster}."
        )
        self._demo_storage(cluster)
        self.stdout.write(self.style.SUCCESS(demo_admin_account()))

    def _demo_storage(self, cluster):
        """One SR on the sandbox SAN's first LUN, added by the worker once the agent runs,
        so the demo opens with disk heartbeat to watch (and to stall)."""
        from agent.sandbox.io import create_sandbox_san
        from core.models import Task
        from maintenance.storage import storage_add_enqueue

        if cluster.srs.exists() or Task.objects.filter(kind="maintenance.add_storage").exists():
            return
        lun = create_sandbox_san(settings.SANDBOX_DIR)[0]
        storage_add_enqueue(
            cluster=cluster,
            requests=[{"scsi_id": lun["wwid"], "name": "Demo SR", "format": "vhd"}],
            actor=None,
            name=f"Add the demo SR to {cluster}",
        )
        self.stdout.write("Queued: the demo SR, on the sandbox SAN's first LUN.")
