"""What `make lab` tells while its guests boot, from the lab's own boot phases, and `python
-m lab status` with no guest running: no QEMU needed."""

import io
import subprocess
import sys
from pathlib import Path

from agent.progress import Progress
from lab.pool import Lab, guest_state, guests_note
from lab.settings import LabSettings

ROOT = Path(__file__).resolve().parents[2]


def write_console(guest, text: str) -> None:
    guest.boots = 1
    guest.dir.mkdir(parents=True, exist_ok=True)
    guest.console_log.write_text(text)


def test_each_guests_boot_phase_is_told_until_every_guest_is_up(tmp_path):
    lab = Lab.create(tmp_path, LabSettings(hosts=2, luns=1))
    one, two = lab.guests
    out = io.StringIO()
    progress = Progress(stream=out)
    progress.phase("guests booting")

    # The guests' phases as the lab sees them (a guest not running reads "stopped").
    assert lab.guest_states() == {"lab-01": "stopped", "lab-02": "stopped"}
    write_console(one, "Linux version 6.1.0\nlab: up as lab-01 on 6.1.0, cluster address x\n")
    write_console(two, "Linux version 6.1.0\n")
    # No QEMU runs here: each guest's console read as a running guest's would be.
    states = {g.name: guest_state(g.console_text(), True) for g in lab.guests}
    assert states == {"lab-01": "up", "lab-02": "booting the kernel"}
    all_up, note = guests_note(states)
    assert not all_up
    progress.update(note=note, force=True)
    write_console(two, "lab: up as lab-02 on 6.1.0\n")
    states = {g.name: guest_state(g.console_text(), True) for g in lab.guests}
    all_up, note = guests_note(states)
    assert all_up
    progress.done(note)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("guests booting: ")
    assert lines[1].endswith("1 of 2 guests up: lab-01 up, lab-02 booting the kernel")
    assert lines[-1].startswith("guests booting: 2 of 2 guests up: lab-01 up, lab-02 up (")


def test_a_fencing_guest_reads_resetting():
    assert guest_state("o2quo: is very sorry to be fencing this system", True) == "resetting"
    assert guest_state("", True) == "starting QEMU"


def test_lab_status_without_guests_answers_on_stdout_alone(tmp_path):
    Lab.create(tmp_path, LabSettings(hosts=2, luns=1))
    result = subprocess.run(
        [sys.executable, "-m", "lab", "--dir", str(tmp_path), "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "lab-01: not running, 0 boots; ",
        "lab-02: not running, 0 boots; ",
    ]
    assert result.stderr == ""
