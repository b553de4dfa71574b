"""The README says what a newcomer needs, and what it says works."""

import re
import shlex
from pathlib import Path

import pytest
from django.core.management import call_command

from agent.sandbox.faults import FAULTS
from core.permissions import can_administer, can_operate, can_view

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("doc", ["README.md", "ARCHITECTURE.md"])
def test_every_relative_link_of_the_docs_resolves_inside_the_repository(doc):
    text = (ROOT / doc).read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc} links {target}, outside a clone"
        assert path.exists(), f"{doc} links {target}, which is not in the repository"


def test_the_readme_documents_the_demos_address_and_it_is_what_the_demo_reads():
    assert "| `DEMO_ADDR` | `127.0.0.1:8000` |" in README
    assert 'os.environ.get("DEMO_ADDR", "127.0.0.1:8000")' in (ROOT / "scripts/demo.py").read_text()


def test_the_readme_names_every_sandbox_fault_and_how_to_reboot_a_host_out_of_maintenance():
    for fault in FAULTS:
        assert f"`{fault}`" in README, f"the README does not document sandbox fault {fault}"
    assert "sandbox-reboot" in README
    for knob in ("agent-delay", "hidden-luns"):
        assert f"`{knob}`" in README


def role_command() -> list[str]:
    """The README's `manage.py user_role` line, as the shell splits it."""
    line = next(line for line in README.splitlines() if "manage.py user_role " in line)
    return shlex.split(line.split("#")[0])[2:]  # after `.venv/bin/python manage.py`


@pytest.mark.django_db
def test_the_readmes_way_of_giving_a_role_gives_it(django_user_model):
    alice = django_user_model.objects.create_user("alice", password="a long passphrase")
    name, *arguments = role_command()
    call_command(name, *arguments)
    alice = django_user_model.objects.get(username="alice")  # a fresh permission cache
    assert can_administer(alice)
    django_user_model.objects.create_user("bob")
    call_command(name, "bob", "pool-admin")  # alice is no longer the last pool-admin
    call_command(name, arguments[0], "read-only")
    alice = django_user_model.objects.get(username="alice")
    assert can_view(alice) and not can_operate(alice)
    assert alice.check_password("a long passphrase")  # a role change keeps her password
