"""Give a user a role from the server's shell: the way back in when no pool-admin is left
to do it on the Users page. The change is audited as made by the console."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.choices import Role
from core.errors import ConsoleError
from core.services.users import user_set_role


class Command(BaseCommand):
    help = "Give a user one role (pool-admin, pool-operator, read-only) or none."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=[*Role.values, "none"])

    def handle(self, *args, username, role, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called '{username}'.")
        try:
            user_set_role(actor=None, user=user, role=None if role == "none" else role)
        except ConsoleError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{username} is now {role if role != 'none' else 'without a role'}.")
