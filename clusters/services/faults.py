"""Faults for demos and drills: sandbox hosts break inside their emulation (through their
agent), lab guests from outside their QEMU (lab/faults.py), as real hosts break. A real
host of a real pool never gets one."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from clusters.agents import agent
from clusters.models import Host
from core.errors import ConsoleError
from core.services.audit import audit_record


def running_lab():
    """The lab this console was started with (`make lab`), or None."""
    from lab.kernel import LabError
    from lab.pool import Lab

    if not settings.LAB_DIR:
        return None
    try:
        return Lab.load(Path(settings.LAB_DIR))
    except LabError:
        return None


def fault_catalogue(host: Host, lab=None) -> dict[str, str] | None:
    """The faults this host can be given (name -> what it does), or None for a real host."""
    if host.sandbox:
        from agent.sandbox.faults import FAULTS

        return FAULTS
    if lab is not None and any(guest.name == host.hostname for guest in lab.guests):
        from lab.faults import FAULTS

        return FAULTS
    return None


def fault_targets(host: Host, lab=None) -> list[tuple[str, str]]:
    """(value, label) of what a lab guest's faults can target; sandbox targets come from the
    host's own probe (its path devices and bond slaves)."""
    if host.sandbox or lab is None:
        return []
    from lab.faults import SLAVES
    from lab.san import PATHS

    targets = []
    for lun in lab.san.luns:
        targets.append((lun.name, f"{lun.name} (every path, WWID {lun.wwid})"))
        targets += [(f"{lun.name}:{p}", f"{lun.name} path {p}") for p in range(PATHS)]
    return targets + [(slave, f"bond0 slave {slave}") for slave in SLAVES]


def fault_inject(*, host: Host, fault: str, target: str | None, actor) -> str:
    """Apply one fault; returns what was done. Refused for a real pool's host."""
    lab = running_lab()
    catalogue = fault_catalogue(host, lab)
    if catalogue is None:
        raise ConsoleError(
            f"{host} is a real host: faults are only injected into sandbox hosts and lab guests."
        )
    if fault not in catalogue:
        raise ConsoleError(f"Unknown fault '{fault}'; use one of: {', '.join(catalogue)}.")
    if host.sandbox:
        agent(host).sandbox_fault(fault, target or None)
        said = f"{host}: {fault}{f' {target}' if target else ''} done."
    else:
        from lab.faults import apply
        from lab.kernel import LabError

        try:
            said = apply(lab, host.hostname, fault, target or None)
        except LabError as exc:
            raise ConsoleError(str(exc)) from exc
    audit_record(
        actor=actor,
        action="sandbox.fault" if host.sandbox else "lab.fault",
        target=host,
        message=f"{fault} {target or ''}".strip(),
    )
    return said
