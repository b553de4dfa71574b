"""The lab as a whole: its settings file, its SAN and its guests.

`var/lab/lab.json` records how the running lab was started (guest count, LUNs, the
switch's port, the console's Redis), so any process (the lab runner, `python -m lab
fault`, the console's Faults page) builds the same `Lab` and acts on the same guests.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from .guest import Guest
from .kernel import GuestKernel, LabError
from .san import San
from .settings import LabSettings, Timeouts

SETTINGS_FILE = "lab.json"
# What the kernel prints as it resets the machine: ocfs2's fence (o2quo_fence_self),
# reboot(2), a panic with panic=1, SysRq's reset (a forced planned reboot, guest/boot).
RESETTING = (
    "is very sorry to be fencing this system",
    "reboot: Restarting system",
    "Rebooting in",
    "sysrq: Resetting",
)
RESET_GRACE = 5.0
UP_LINE = "lab: up as "  # stage 2's line once the host is up (guest/boot)


def guest_state(console: str, running: bool) -> str:
    """How far a guest's boot is, from its current console: the lab's boot phases."""
    if any(line in console for line in RESETTING):
        return "resetting"
    if not running:
        return "stopped"
    if UP_LINE in console:
        return "up"
    return "booting the kernel" if console.strip() else "starting QEMU"


def guests_note(states: dict[str, str]) -> tuple[bool, str]:
    """(every guest up, each guest's boot phase) for the lab's progress line."""
    up = sum(state == "up" for state in states.values())
    each = ", ".join(f"{name} {state}" for name, state in states.items())
    return up == len(states), f"{up} of {len(states)} guests up: {each}"


class Lab:
    def __init__(self, lab_dir: Path, settings: LabSettings):
        self.dir = lab_dir.resolve()
        self.settings = settings
        self.kernel = GuestKernel(
            Path(settings.kernel_dir) if settings.kernel_dir else self.dir / "kernel"
        )
        self.san = San(self.dir, settings.luns, settings.lun_bytes)
        self.guests = [
            Guest(self.dir, index, self.kernel, self.san, settings)
            for index in range(1, settings.hosts + 1)
        ]

    @classmethod
    def create(cls, lab_dir: Path, settings: LabSettings) -> Lab:
        lab_dir.mkdir(parents=True, exist_ok=True)
        (lab_dir / SETTINGS_FILE).write_text(json.dumps(asdict(settings), indent=2) + "\n")
        return cls(lab_dir, settings)

    @classmethod
    def load(cls, lab_dir: Path) -> Lab:
        try:
            raw = json.loads((lab_dir / SETTINGS_FILE).read_text())
        except FileNotFoundError:
            raise LabError(f"No lab in {lab_dir}: start one with `make lab`.") from None
        raw["timeouts"] = Timeouts(**raw.get("timeouts", {}))
        return cls(lab_dir, LabSettings(**raw))

    def guest(self, name: str) -> Guest:
        for guest in self.guests:
            if name in (guest.name, str(guest.index)):
                return guest
        names = ", ".join(g.name for g in self.guests)
        raise LabError(f"No guest {name}: the lab has {names}.")

    # Running ---------------------------------------------------------------------------

    def start(self) -> None:
        self.kernel.prepare()
        self.san.create()
        for guest in self.guests:
            guest.start()

    def restart_exited(self) -> list[str]:
        """Start again every guest whose QEMU ended (a fence, a panic, a planned reboot):
        a real host comes back by itself after each. Returns what happened, to print."""
        said = []
        for guest in self.guests:
            if guest.process is None or guest.planned_stop:
                continue
            ended = guest.console_text()
            if guest.running():
                # QEMU resets only once in-flight I/O drains, which a stalled path never
                # does; a real host's reset does not wait for its SAN, so neither do we.
                resetting = any(line in ended for line in RESETTING)
                if resetting and guest.reset_seen(time.monotonic()) > RESET_GRACE:
                    guest.process.kill()
                    guest.process.wait()
                else:
                    continue
            why = "a reset"
            if "lab: planned reboot forced" in ended:
                why = "a planned reboot, forced when its clean stop hung"
            elif "lab: planned reboot" in ended:
                why = "a planned reboot"
            elif "is very sorry to be fencing this system" in ended:
                why = "an O2CB fence"
            elif "Kernel panic" in ended:
                why = "a kernel panic"
            try:
                guest.start()
            except (LabError, OSError) as exc:
                # A real host retries its boot too: the next round starts it again.
                said.append(f"{guest.name} did not start again after {why} ({exc}); retrying.")
                continue
            said.append(f"{guest.name} restarted after {why} (boot {guest.boots}).")
        return said

    def guest_states(self) -> dict[str, str]:
        """Each guest's boot phase now ("starting QEMU", "booting the kernel", "up", ...)."""
        return {g.name: guest_state(g.console_text(), g.running()) for g in self.guests}

    def report(self, lines: int = 30) -> str:
        """Where each guest stands: its boot, its phase and the end of its console."""
        states = self.guest_states()
        return "\n".join(
            f"--- {g.name}: boot {g.boots}, {states[g.name]} ---\n{g.console_tail(lines)}"
            for g in self.guests
        )

    def stop(self) -> None:
        for guest in self.guests:
            guest.stop()
            self.san.stop(guest)

    def wait_for_console(self, text: str, timeout: float) -> None:
        """Wait until every guest's current console shows `text` (e.g. its "up" line)."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = [g.name for g in self.guests if text not in g.console_text()]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(f"{', '.join(waiting)} did not show {text!r} in {timeout:g} s.")
            time.sleep(1)
