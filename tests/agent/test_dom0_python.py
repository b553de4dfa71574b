"""The check `make lint` runs on the XAPI plugin: dom0's python 3.6, its standard library only."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_check():
    spec = importlib.util.spec_from_file_location("dom0_python", ROOT / "scripts/dom0_python.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dom0_python = load_check()


def test_the_plugin_and_its_code_pass_on_the_tree():
    assert dom0_python.check(ROOT) == []


def test_the_plugin_files_are_its_import_closure_without_celery_seals_or_sandbox():
    files = dom0_python.plugin_files()
    assert files[0] == Path("deploy/xapi/o2cb-agent")
    assert all(not path.is_absolute() and (ROOT / path).is_file() for path in files)
    names = {str(path) for path in files}
    # What the calls run: contract, O2CB plugin, probes, storage, the crash analyser.
    for needed in (
        "agent/__init__.py",
        "agent/plugin.py",
        "agent/calls.py",
        "agent/contract.py",
        "agent/o2cb.py",
        "agent/probes/multipath.py",
        "agent/storage.py",
        "agent/crash/analyse.py",
    ):
        assert needed in names
    assert not {"agent/worker.py", "agent/signing.py", "agent/host.py", "agent/cli.py"} & names
    assert not any(name.startswith("agent/sandbox/") for name in names)


@pytest.fixture
def tree(tmp_path):
    for part in ("agent", "deploy"):
        shutil.copytree(ROOT / part, tmp_path / part)
    return tmp_path


def plant(tree: Path, relative: str, old: str, new: str) -> None:
    path = tree / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


PLANTED = {
    "a dataclass": (
        "agent/names.py",
        "import re\n",
        "import re\nfrom dataclasses import dataclass\n",
        "'dataclasses' module requires !2, 3.7",
    ),
    "a walrus": (
        "agent/o2cb.py",
        "        conf = self._load()\n",
        "        if (conf := self._load()) is None:\n            pass\n",
        "named expressions require !2, 3.8",
    ),
    "postponed annotations": (
        "agent/calls.py",
        "from typing import",
        "from __future__ import annotations\nfrom typing import",
        "'__future__.annotations' member requires !2, 3.7",
    ),
    "a union type": (
        "agent/identity.py",
        "def hello(root: HostRoot) -> dict:",
        "def hello(root: HostRoot) -> dict | None:",
        "union types as `X | Y` require !2, 3.10",
    ),
    "the seals": (
        "agent/identity.py",
        "from . import __version__\n",
        "from . import __version__, signing  # noqa: F401\n",
        "agent/signing.py imports cryptography.exceptions, outside the standard library.",
    ),
    "a package from outside": (
        "agent/storage.py",
        "import subprocess\n",
        "import subprocess\n\nimport celery  # noqa: F401\n",
        "agent/storage.py imports celery, outside the standard library.",
    ),
    "the sandbox at the top": (
        "agent/calls.py",
        "from .o2cb import O2CBPlugin\n",
        "from .o2cb import O2CBPlugin\nfrom .sandbox.io import inject_fault  # noqa: F401\n",
        "agent/calls.py imports agent.sandbox.io at the top: the sandbox is not on dom0",
    ),
}


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_violation_fails_the_check_naming_it(tree, planted):
    relative, old, new, said = PLANTED[planted]
    assert dom0_python.check(tree) == []
    plant(tree, relative, old, new)
    problems = "\n".join(dom0_python.check(tree))
    assert said in problems
    if "requires" in said or "require " in said:
        assert relative in problems
