from django.core.management.base import BaseCommand

from agent.signing import fingerprint
from clusters.agents import console_public_key


class Command(BaseCommand):
    help = (
        "Print the console's public key, which every host's agent must trust: "
        "python -m agent trust-console KEY"
    )

    def add_arguments(self, parser):
        parser.add_argument("--fingerprint", action="store_true", help="print its fingerprint too")

    def handle(self, *args, **options):
        key = console_public_key()
        self.stdout.write(key)
        if options["fingerprint"]:
            self.stderr.write(f"fingerprint {fingerprint(key)}")
