"""RealKernel where it differs from host to host: o2cb under systemd or its init script,
and reboots only where the host's owner said how."""

import time

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
