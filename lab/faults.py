"""Faults applied to the lab from outside, as they happen to real hosts.

Nothing inside a guest is touched: a pause is QEMU stopping its CPUs (a host that hangs),
a stalled path is its NBD server stopped (a switch that stops forwarding), a failed path
its server killed (a pulled cable), a link down is QEMU's set_link (a dead switch port).
"""

from __future__ import annotations

from .kernel import LabError
from .pool import Lab
from .san import PATHS

# name -> what it does; the target each needs is in `apply`.
FAULTS = {
    "pause": "stop the guest's CPUs: it hangs, its heartbeat and network stop",
    "resume": "let a paused guest run again",
    "reset": "press the guest's reset button (a crash with no warning)",
    "reboot": "a clean reboot, as an admin's `reboot` on the host does (o2cb stops first)",
    "stall-path": "stall one path of a LUN (target LUN:PATH, e.g. lun0:1): I/O on it hangs",
    "fail-path": "fail one path of a LUN (target LUN:PATH): I/O on it errors at once",
    "stall-lun": "stall every path of a LUN (target LUN): the LUN hangs on this guest",
    "restore-path": "bring a stalled or failed path back (target LUN:PATH)",
    "restore-lun": "bring every path of a LUN back (target LUN)",
    "link-down": "take a bond slave's link down (target eth1 or eth2)",
    "link-up": "bring a bond slave's link back (target eth1 or eth2)",
    "isolate": "take both bond slaves down: the guest leaves the cluster network",
    "rejoin": "bring both bond slaves back",
}
SLAVES = {"eth1": "nic1", "eth2": "nic2"}
DONE = {"stall": "stalled", "fail": "failed", "restore": "restored"}


def _lun_path(lab: Lab, target: str | None) -> tuple:
    lun_name, _, path = (target or "").partition(":")
    if not path.isdigit():
        raise LabError(f"Name the path as LUN:PATH (e.g. lun0:1), not {target!r}.")
    return lab.san.lun(lun_name), int(path)


def _set_links(guest, slaves, up: bool) -> None:
    for slave in slaves:
        if slave not in SLAVES:
            raise LabError(f"A bond slave is eth1 or eth2, not {slave!r}.")
        guest.qmp("set_link", name=SLAVES[slave], up=up)


def apply(lab: Lab, guest_name: str, fault: str, target: str | None = None) -> str:
    """Apply one fault; returns what was done, in words."""
    guest = lab.guest(guest_name)
    if fault not in FAULTS:
        raise LabError(f"No fault {fault!r}: the faults are {', '.join(FAULTS)}.")
    if fault == "pause":
        guest.qmp("stop")
    elif fault == "resume":
        guest.qmp("cont")
    elif fault == "reset":
        guest.qmp("system_reset")
    elif fault == "reboot":
        guest.tell("reboot")
    elif fault in ("stall-path", "fail-path", "restore-path"):
        lun, path = _lun_path(lab, target)
        {"stall-path": lab.san.stall, "fail-path": lab.san.fail, "restore-path": lab.san.restore}[
            fault
        ](guest, lun, path)
        return f"{guest.name}: path {path} of {lun.name} {DONE[fault.split('-')[0]]}."
    elif fault in ("stall-lun", "restore-lun"):
        lun = lab.san.lun(target or "")
        for path in range(PATHS):
            (lab.san.stall if fault == "stall-lun" else lab.san.restore)(guest, lun, path)
        return f"{guest.name}: every path of {lun.name} {DONE[fault.split('-')[0]]}."
    elif fault in ("link-down", "link-up"):
        _set_links(guest, [target], fault == "link-up")
    elif fault in ("isolate", "rejoin"):
        _set_links(guest, list(SLAVES), fault == "rejoin")
    return f"{guest.name}: {fault}{f' {target}' if target else ''} done."
