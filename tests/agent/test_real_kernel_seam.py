"""RealKernel where it differs from host to host: o2cb under systemd or its init script,
reboots only where the host's owner said how, and the LUNs multipathd shows."""

import os
import time
from pathlib import Path

import pytest

from agent.errors import AgentError
from agent.kernel import update_defaults
from agent.realkernel import REBOOT_COMMAND_ENV, real_root


@pytest.fixture
def root(tmp_path):
    return real_root(tmp_path)


def test_without_systemd_the_service_state_is_the_boot_cluster_being_online(root):
    update_defaults(root, {"O2CB_ENABLED": "true", "O2CB_BOOTCLUSTER": "lab"})
    assert root.kernel.service_state() == {"enabled": True, "active": False}
    root.path("sys/kernel/config/cluster/lab").mkdir(parents=True)
    assert root.kernel.service_state() == {"enabled": True, "active": True}
    update_defaults(root, {"O2CB_ENABLED": "false"})
    assert root.kernel.service_state()["enabled"] is False


def test_a_real_host_is_never_rebooted_unless_its_owner_said_how(root, monkeypatch):
    monkeypatch.delenv(REBOOT_COMMAND_ENV, raising=False)
    with pytest.raises(AgentError, match=REBOOT_COMMAND_ENV):
        root.kernel.reboot()


def test_the_owners_reboot_command_runs_after_the_answer(root, monkeypatch, tmp_path):
    marker = tmp_path / "rebooted"
    monkeypatch.setenv(REBOOT_COMMAND_ENV, f"touch {marker}")
    root.kernel.reboot()
    assert not marker.exists()  # the answer goes back first
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()


def test_a_native_nvme_lun_offered_for_storage_counts_its_working_paths(
    root, monkeypatch, tmp_path
):
    topology = Path(__file__).parent / "fixtures/multipath/multipathd_show_topology_nvme_native.txt"
    tool = tmp_path / "bin" / "multipathd"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\n[ "$2" = topology ] && exec cat {topology}\nexit 1\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    luns = {lun["scsi_id"]: (lun["paths"], lun["paths_up"]) for lun in root.kernel.san_luns()}
    # The NVMe LUN's third path is inaccessible, its controller reconnecting.
    assert luns == {
        "3624a9370b8e2c4d1a7f3e6b500013a22": (2, 2),
        "uuid.3c1b7e2a-5d4f-4a8e-9b6c-0e1f2a3b4c5d": (3, 2),
    }
