"""The console's systemd units in deploy/: systemd itself finds nothing wrong with them,
they read the environment file the sample documents, and each starts after the PostgreSQL
and Redis it needs."""

import configparser
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
CONSOLE_UNITS = [
    "o2cb-console-web.service",
    "o2cb-console-worker.service",
    "o2cb-console-rounds.service",
    "o2cb-console-beat.service",
]
ENVIRONMENT_FILE = "/etc/o2cb-console/console.env"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string((DEPLOY / name).read_text())
    return parser


def test_systemd_finds_nothing_wrong_with_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian's systemd package)")
    # The units run from /opt/o2cb-console; here the checkout is that directory, so systemd
    # also checks that every program they start exists in its virtualenv.
    for name in [*CONSOLE_UNITS, "o2cb-console.target"]:
        text = (DEPLOY / name).read_text().replace("/opt/o2cb-console", str(ROOT))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            *(f"./{name}" for name in CONSOLE_UNITS),
            "./o2cb-console.target",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_unit_reads_the_sample_environment_file_and_starts_after_its_services():
    sample = (DEPLOY / "console.env.example").read_text()
    assert ENVIRONMENT_FILE in sample.splitlines()[0]
    for name in CONSOLE_UNITS:
        config = unit(name)
        assert config["Service"]["EnvironmentFile"] == ENVIRONMENT_FILE
        assert {"postgresql.service", "redis-server.service"} <= set(
            config["Unit"]["After"].split()
        )
        assert config["Unit"]["PartOf"] == "o2cb-console.target"
        assert config["Install"]["WantedBy"] == "o2cb-console.target"


def test_the_target_starts_all_four_at_boot():
    target = unit("o2cb-console.target")
    assert set(target["Unit"]["Wants"].split()) == set(CONSOLE_UNITS)
    assert target["Install"]["WantedBy"] == "multi-user.target"
