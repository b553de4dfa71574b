"""The lab's parts that need no guest: its settings, its fault catalogue's refusals, and
the Faults page telling lab guests from real hosts."""

import subprocess

import pytest
from django.urls import reverse

from clusters.services.faults import fault_catalogue, fault_inject, fault_targets
from core.errors import ConsoleError
from lab.faults import FAULTS, apply
from lab.kernel import LabError
from lab.pool import Lab
from lab.settings import LabSettings, Timeouts, guest_redis_url
from tests.clusters.factories import HostFactory


def test_a_guest_reaches_the_consoles_redis_through_qemus_gateway():
    assert guest_redis_url("redis://:pw@127.0.0.1:6390/3") == "redis://:pw@10.0.2.2:6390/3"
    assert guest_redis_url("redis://localhost:6379/0") == "redis://10.0.2.2:6379/0"
    assert guest_redis_url("rediss://redis.example:6379/0") == "rediss://redis.example:6379/0"


def test_a_lab_is_rebuilt_from_its_settings_file(tmp_path):
    made = Lab.create(tmp_path, LabSettings(hosts=2, luns=3, timeouts=Timeouts(scsi_timeout=7)))
    loaded = Lab.load(tmp_path)
    assert [g.name for g in loaded.guests] == ["lab-01", "lab-02"]
    assert [lun.wwid for lun in loaded.san.luns] == [lun.wwid for lun in made.san.luns]
    assert loaded.settings.timeouts.scsi_timeout == 7
    assert loaded.settings.switch_port == made.settings.switch_port


@pytest.mark.parametrize(
    ("console", "why"),
    [
        ("lab: planned reboot\n", "a planned reboot"),
        (
            "lab: planned reboot forced: the clean stop hung for 120 s\nsysrq: Resetting\n",
            "a planned reboot, forced when its clean stop hung",
        ),
        (
            "(2)[0]: *** ocfs2 is very sorry to be fencing this system by restarting ***\n",
            "an O2CB fence",
        ),
    ],
)
def test_a_guest_that_fails_to_start_again_is_retried_and_keeps_its_last_boot(
    tmp_path, console, why
):
    """A reset whose restart fails (here the guest kernel is missing) is said, with why the
    guest went down, and tried again at the next round, never dropped; the failed start is
    no boot, so the one that succeeds still hands the guest its last console."""
    lab = Lab.create(tmp_path, LabSettings(hosts=1, luns=0))
    guest = lab.guests[0]
    guest.dir.mkdir(parents=True)
    guest.boots = 1
    guest.console_log.write_text(console)
    guest.process = subprocess.Popen(["true"])
    guest.process.wait()
    for _round in range(2):
        assert lab.restart_exited() == [
            f"lab-01 did not start again after {why} (The guest kernel is not unpacked yet.); "
            "retrying."
        ]
        assert guest.boots == 1 and guest.console_text() == console


def test_no_lab_no_guessing(tmp_path):
    with pytest.raises(LabError, match="No lab in"):
        Lab.load(tmp_path)


@pytest.mark.parametrize(
    ("guest", "fault", "target", "said"),
    [
        ("lab-09", "pause", None, "No guest lab-09: the lab has lab-01, lab-02"),
        ("lab-01", "melt", None, "No fault 'melt'"),
        ("lab-01", "stall-path", "lun0", "Name the path as LUN:PATH"),
        ("lab-01", "stall-path", "lun7:0", "No LUN lun7"),
        ("lab-01", "fail-path", "lun0:2", "A path is 0 or 1"),
        ("lab-01", "link-down", "eth9", "A bond slave is eth1 or eth2"),
        ("lab-01", "pause", None, "lab-01 is not running"),
    ],
)
def test_a_bad_fault_is_refused_with_the_reason(tmp_path, guest, fault, target, said):
    lab = Lab.create(tmp_path, LabSettings(hosts=2))
    with pytest.raises(LabError, match=said):
        apply(lab, guest, fault, target)


@pytest.mark.django_db
def test_lab_guests_get_lab_faults_and_real_hosts_none(tmp_path, settings):
    settings.LAB_DIR = str(tmp_path)
    lab = Lab.create(tmp_path, LabSettings(hosts=2, luns=1))
    guest, real = HostFactory(hostname="lab-02", sandbox=False), HostFactory(sandbox=False)
    assert fault_catalogue(guest, lab) == FAULTS
    assert fault_catalogue(real, lab) is None
    assert ("lun0:1", "lun0 path 1") in fault_targets(guest, lab)
    with pytest.raises(ConsoleError, match="real host"):
        fault_inject(host=real, fault="pause", target=None, actor=None)
    # A lab guest whose QEMU is not running: the lab's reason, not a crash.
    with pytest.raises(ConsoleError, match="lab-02 is not running"):
        fault_inject(host=guest, fault="pause", target=None, actor=None)


@pytest.mark.django_db
def test_the_faults_page_lists_lab_guests(client, admin_user, tmp_path, settings):
    from clusters.choices import HostRegistration

    settings.LAB_DIR = str(tmp_path)
    Lab.create(tmp_path, LabSettings(hosts=1, luns=1))
    HostFactory(hostname="lab-01", sandbox=False, registration=HostRegistration.ACCEPTED)
    HostFactory(hostname="db-07", sandbox=False, registration=HostRegistration.ACCEPTED)
    client.force_login(admin_user)
    page = client.get(reverse("faults")).content.decode()
    assert 'data-host="lab-01"' in page and "lab guest, real kernel" in page
    assert 'data-host="db-07"' not in page
    assert "python -m lab fault" in page
