"""The README says what a newcomer needs, and what it says works."""

import re
import textwrap
from pathlib import Path

import pytest

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


def role_snippet() -> str:
    block = README.split('manage.py shell -c "\n', 1)[1].split('\n    "\n', 1)[0]
    return textwrap.dedent(block)


@pytest.mark.django_db
def test_the_readmes_way_of_giving_a_role_gives_it(django_user_model):
    exec(role_snippet(), {})  # noqa: S102 - the README's own lines, as the shell runs them
    alice = django_user_model.objects.get(username="alice")
    assert alice.check_password("a long passphrase")
    assert can_view(alice) and can_operate(alice) and not can_administer(alice)
    exec(role_snippet().replace("pool-operator", "read-only"), {})  # noqa: S102
    alice = django_user_model.objects.get(username="alice")  # a fresh permission cache
    assert can_view(alice) and not can_operate(alice)
    assert alice.check_password("a long passphrase")  # a role change keeps her password
