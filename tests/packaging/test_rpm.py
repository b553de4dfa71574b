"""The hosts' package, o2cb-agent-VERSION-1.noarch.rpm, built as `make rpm` builds it: what
it installs, what it asks of a XenServer 8 / XCP-ng 8.3 control domain, and that the plugin
it installs answers xapi's call from the installed code alone."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import xmlrpc.client
from pathlib import Path

import pytest

from agent import contract
from agent.sandbox.host import create_sandbox_host
from tests.agent.test_xapi_plugin import SESSION, dom0_python
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from build_rpm import build_rpm  # noqa: E402
from dom0_python import plugin_files  # noqa: E402

PLUGIN = "/etc/xapi.d/plugins/o2cb-agent"
CODE = "/usr/lib/o2cb-agent"
LOGROTATE = "/etc/logrotate.d/o2cb-agent"
LOG = "/var/log/o2cb-agent.log"
# What a XenServer 8 / XCP-ng 8.3 dom0 has installed: its python3 (3.6) and multipath.
DOM0_PACKAGES = {"python3", "device-mapper-multipath"}
# Not among the platform's own packages: the admin installs it first (README: On a real pool).
PREREQUISITES = {"ocfs2-tools"}
# The package features EL7's rpm 4.11 knows (lib/rpmds.c, rpmlibProvides); a newer one
# (rpmlib(PayloadIsZstd), RichDependencies) would make yum refuse the package.
EL7_RPMLIB = {
    "VersionedDependencies",
    "CompressedFileNames",
    "PayloadIsBzip2",
    "PayloadIsXz",
    "PayloadIsLzma",
    "PayloadFilesHavePrefix",
    "ExplicitPackageProvide",
    "HeaderLoadSortsTags",
    "ScriptletInterpreterArgs",
    "PartialHardlinkSets",
    "ConcurrentAccess",
    "BuiltinLuaScripts",
    "FileDigests",
    "FileCaps",
    "ScriptletExpansion",
    "TildeInVersions",
}


def rpm(*args: str) -> str:
    result = subprocess.run(["rpm", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["version"]


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    assert shutil.which("rpmbuild"), "rpmbuild is missing: scripts/setup.sh installs Debian's rpm"
    return build_rpm(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def installed(package, tmp_path_factory) -> Path:
    """The package installed into an empty root, as rpm on a dom0 would lay it out."""
    root = tmp_path_factory.mktemp("dom0")
    rpm("--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb")
    rpm("-i", "--root", str(root), "--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts",
        str(package))  # fmt: skip
    return root


def test_the_package_is_named_and_versioned_as_the_project(package):
    version = project_version()
    assert package.name == f"o2cb-agent-{version}-1.noarch.rpm"
    assert rpm("-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", str(package)) == (
        f"o2cb-agent {version} 1 noarch"
    )
    changelog = rpm("-qp", "--changelog", str(package))
    assert changelog.splitlines()[0].endswith(f"- {version}-1")


def test_it_installs_the_plugin_its_code_and_the_log_rotation_and_nothing_else(package):
    listing = rpm("-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]", str(package))
    modes = {name: mode for mode, name in (line.split(" ", 1) for line in listing.splitlines())}
    code = {
        f"{CODE}/{path.as_posix()}"
        for path in plugin_files()
        if path.parts[0] == "agent"  # the plugin's own file goes to xapi's directory
    }
    assert f"{CODE}/agent/plugin.py" in code
    files = {name for name, mode in modes.items() if not mode.startswith("d")}
    assert files == code | {PLUGIN, LOGROTATE, LOG}
    assert modes[PLUGIN] == "-rwxr-xr-x"
    assert {modes[name] for name in code | {LOGROTATE}} == {"-rw-r--r--"}
    # Sources only: dom0's python3 compiles its own bytecode; the sandbox stays behind.
    assert not [name for name in modes if name.endswith(".pyc") or "__pycache__" in name]
    assert not [name for name in modes if "/agent/sandbox" in name]
    assert rpm("-qp", "--configfiles", str(package)).split() == [LOGROTATE]


def test_it_requires_only_what_a_dom0_has_and_what_the_agent_runs(package):
    requires = {line.split()[0] for line in rpm("-qpR", str(package)).splitlines()}
    features = {name[len("rpmlib(") : -1] for name in requires if name.startswith("rpmlib(")}
    assert features <= EL7_RPMLIB
    assert rpm("-qp", "--qf", "%{PAYLOADCOMPRESSOR}", str(package)) == "gzip"
    assert {name for name in requires if not name.startswith("rpmlib(")} == (
        DOM0_PACKAGES | PREREQUISITES
    )


def test_no_path_of_the_build_machine_is_inside(package, installed):
    header = rpm("-qp", "--xml", str(package))
    assert str(ROOT) not in header and "o2cb-rpmbuild-" not in header
    for path in installed.rglob("*"):
        if path.is_file() and "var/lib/rpm" not in path.as_posix():
            assert str(ROOT).encode() not in path.read_bytes(), path


def run_installed_plugin(installed: Path, sandbox_host: Path, log: Path, host_uuid: str) -> dict:
    """`hello` as xapi runs it: the installed file itself, the methodCall as its one argument,
    dom0's python where this machine has one, with nothing of this checkout on its path."""
    fields = {"host_uuid": host_uuid, "contract": contract.CONTRACT_VERSION}
    call = xmlrpc.client.dumps((SESSION, {"request": json.dumps(fields)}), "hello")
    result = subprocess.run(
        [dom0_python(), str(installed / PLUGIN.lstrip("/")), call],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "O2CB_AGENT_CODE": str(installed / CODE.lstrip("/")),
            "O2CB_AGENT_SANDBOX_ROOT": str(sandbox_host),
            "O2CB_AGENT_LOG": str(log),
        },
        cwd=log.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (struct,), _method = xmlrpc.client.loads(result.stdout)
    return struct


def test_the_installed_plugin_answers_hello_from_the_installed_code(installed, tmp_path):
    # The sandbox host stands in for dom0; the sandbox code is the test's, never packaged.
    shutil.copytree(ROOT / "agent/sandbox", installed / CODE.lstrip("/") / "agent/sandbox")
    xs1 = create_sandbox_host(tmp_path / "sandbox", "xs-1", address="127.0.1.1")
    log = tmp_path / "o2cb-agent.log"
    struct = run_installed_plugin(installed, xs1.root, log, xs1.uuid)
    assert struct["Status"] == "Success", struct
    envelope = contract.open_envelope("xs-1", json.loads(struct["Value"]))
    identity = contract.decode(contract.HELLO.answer, envelope)
    assert (identity.uuid, identity.hostname, identity.agent_version) == (
        xs1.uuid,
        "xs-1",
        project_version(),
    )
    # Each call is a line in the log the package rotates, a refusal with its reason.
    other = "00000000-0000-4000-8000-000000000000"
    refused = run_installed_plugin(installed, xs1.root, log, other)
    assert refused["ErrorDescription"][:3] == ["XENAPI_PLUGIN_FAILURE", "hello", "AgentError"]
    answered, failed = log.read_text().splitlines()
    assert " INFO hello answered in " in answered
    assert " WARNING hello failed after " in failed and f"not {other}" in failed
    assert SESSION not in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o640


def test_the_log_rotation_entry_rotates_the_plugins_log(installed, tmp_path):
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not Path(logrotate).exists():
        pytest.skip("logrotate is missing (Debian's logrotate package)")
    log = tmp_path / "o2cb-agent.log"
    log.write_text("a call\n")
    entry = (installed / LOGROTATE.lstrip("/")).read_text()
    assert entry.count(LOG) == 1
    config = tmp_path / "logrotate.conf"
    config.write_text(entry.replace(LOG, str(log)))
    result = subprocess.run(
        [logrotate, "--force", "--state", str(tmp_path / "state"), str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / "o2cb-agent.log.1").read_text() == "a call\n"  # compressed next time
    assert log.read_text() == ""
