from django.core.management.base import BaseCommand, CommandError

from console.demo import demo_admin_account, lab_pool_seed


class Command(BaseCommand):
    help = (
        "Seed the real-kernel lab's console: one auto-join cluster, the lab's hosts accepted "
        "into it once their agents report, and an admin account (make lab runs it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("hostnames", nargs="+")
        parser.add_argument("--wait", type=float, default=600, help="seconds to wait for reports")

    def handle(self, *args, hostnames: list[str], wait: float, **options):
        self.stdout.write(f"Waiting for {', '.join(hostnames)} to report...")
        try:
            cluster = lab_pool_seed(hostnames=hostnames, wait=wait)
        except TimeoutError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Lab pool: {len(hostnames)} hosts in cluster {cluster}.")
        self.stdout.write(self.style.SUCCESS(demo_admin_account()))
