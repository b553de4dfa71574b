from django.core.management.base import BaseCommand, CommandError

from agent.progress import Progress
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
        # Progress on stderr; what was made, and how to log in, on stdout.
        progress = Progress()
        progress.phase(f"hosts registered and accepted into the cluster ({', '.join(hostnames)})")
        seen = []

        def on_round(accepted, missing):
            changed = accepted != seen
            seen[:] = accepted
            note = f"waiting for {', '.join(missing)}" if missing else "all in"
            progress.update(len(accepted), len(hostnames), bound=wait, note=note, force=changed)

        try:
            cluster = lab_pool_seed(hostnames=hostnames, wait=wait, on_round=on_round)
        except TimeoutError as exc:
            progress.done("gave up")
            raise CommandError(str(exc)) from exc
        progress.done(f"{len(hostnames)} accepted into cluster {cluster}, its start asked")
        self.stdout.write(f"Lab pool: {len(hostnames)} hosts in cluster {cluster}.")
        self.stdout.write(self.style.SUCCESS(demo_admin_account()))
