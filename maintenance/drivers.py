"""Pool drivers: the VM, host and PBD operations maintenance needs from the pool.

Each host's pool has its driver (driver_for): the sandbox driver works on the console's
own records of hosts with their own agent (sandbox VMs move between them with a realistic
delay, and a host can be told to fail a step); the XenAPI driver drives a pool's hosts
through its master with the official bindings.
Failures come back as DriverError with what went wrong and what to do, in the words
XenCenter uses for the same XAPI error codes.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from clusters.choices import HostRegistration, PowerState
from clusters.models import PBD, VM, Host
from clusters.services.pools import pool_host_ejected
from core.errors import ConsoleError

logger = logging.getLogger(__name__)


class DriverError(ConsoleError):
    status_code = 409

    def __init__(self, message: str, *, code: str = "", fix: str = ""):
        super().__init__(message, detail={"code": code, "fix": fix})
        self.code, self.fix = code, fix


@dataclass(frozen=True)
class Blocker:
    """Why one VM cannot leave a host, and how to let it."""

    vm_uuid: str
    vm_name: str
    code: str
    reason: str
    fix: str


# XAPI error codes seen when evacuating, with XenCenter's kind of explanation.
EVACUATION_REASONS = {
    "VM_REQUIRES_SR": (
        "it uses storage the other hosts cannot reach (local storage or an SR not plugged "
        "elsewhere)",
        "Move its disks to shared storage, or shut it down for the maintenance.",
    ),
    "VM_REQUIRES_NETWORK": (
        "it is connected to a network the other hosts do not have",
        "Add the network to the other hosts, or shut the VM down.",
    ),
    "HOST_NOT_ENOUGH_FREE_MEMORY": (
        "no other host has enough free memory for it",
        "Free memory on another host (shut down or shrink VMs) or shut this VM down.",
    ),
    "VM_MISSING_PV_DRIVERS": (
        "it has no paravirtualised drivers, so it cannot be live-migrated",
        "Install the guest tools (PV drivers) in the VM, or shut it down.",
    ),
    "VM_LACKS_FEATURE": (
        "its guest tools are too old or missing for live migration",
        "Update the guest tools in the VM, or shut it down.",
    ),
    "VM_HAS_PCI_ATTACHED": (
        "it has a PCI device passed through from this host",
        "Shut the VM down for the maintenance.",
    ),
    "VM_HAS_VGPU": (
        "it has a virtual GPU no other host can provide",
        "Shut the VM down, or add a host with the same GPU.",
    ),
    "VM_REQUIRES_GPU": (
        "it needs a GPU no other host has",
        "Shut the VM down for the maintenance.",
    ),
    "NO_HOSTS_AVAILABLE": (
        "no other host can run it",
        "Enable or add hosts, or shut the VM down.",
    ),
}


# xapi refuses pool.eject of its master with an OCaml exception, not an API error: on the
# wire it is INTERNAL_ERROR naming that exception (ocaml/xapi/xapi_pool.ml, exnHelper.ml).
MASTER_EJECT_REFUSAL = ["INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master"]
MASTER_EJECT_REASON = (
    "it is the pool master, and XAPI cannot eject the master from its own pool",
    "Designate another host as the pool master first (XenCenter: Pool > Designate new "
    "master, or xe pool-designate-new-master), then remove this host.",
)


def explain_failure(details: list) -> tuple[str, str, str]:
    """(code, reason, fix) for an XAPI failure's ErrorDescription."""
    code = str(details[0]) if details else "UNKNOWN"
    if [str(d) for d in details[:2]] == MASTER_EJECT_REFUSAL:
        return "Cannot_eject_master", *MASTER_EJECT_REASON
    reason, fix = EVACUATION_REASONS.get(
        code,
        (
            f"XAPI refused it ({', '.join(str(d) for d in details)})",
            "Look the error code up in the XenServer documentation.",
        ),
    )
    return code, reason, fix


class PoolDriver(ABC):
    """What maintenance asks of the pool; every call is safe to repeat."""

    @abstractmethod
    def host_disable(self, host: Host) -> None: ...

    @abstractmethod
    def host_enable(self, host: Host) -> None: ...

    @abstractmethod
    def resident_vms(self, host: Host) -> list[tuple[str, str]]:
        """(uuid, name) of the running VMs on the host."""

    @abstractmethod
    def evacuation_blockers(self, host: Host) -> list[Blocker]: ...

    @abstractmethod
    def host_evacuate(self, host: Host) -> None: ...

    def evacuation_plan(self, host: Host) -> dict[str, str]:
        """Where each VM would go (uuid -> host name), when the driver can tell."""
        return {}

    @abstractmethod
    def host_reboot(self, host: Host) -> None:
        """Restart a disabled, evacuated host."""

    @abstractmethod
    def pbd_unplug(self, pbd: PBD) -> None: ...

    @abstractmethod
    def pbd_plug(self, pbd: PBD) -> None: ...

    def host_eject(self, host: Host) -> None:
        """The host leaves its pool (the last step of its removal); a host of no pool
        has none to leave."""
        return None


class XenAPIDriver(PoolDriver):
    """A pool's hosts, through its master's XenAPI (clusters/xapi.py's session).

    There is no OCFS2 SM driver yet, so XAPI cannot plug the console's SRs itself: the
    console mounts them with the host plugin (sr_mount / sr_unmount) and keeps XAPI's
    PBD record, when XAPI has one for it, in step as far as XAPI lets it."""

    def __init__(self, pool):
        self.pool = pool

    @contextmanager
    def _api(self):
        from clusters.xapi import PoolRefused, PoolUnreachable, XapiError, pool_session

        try:
            with pool_session(self.pool) as api:
                yield api
        except XapiError as exc:
            code, reason, fix = explain_failure(exc.details)
            raise DriverError(f"XAPI: {reason}.", code=code, fix=fix) from None
        except PoolRefused as exc:
            raise DriverError(
                exc.message,
                code="SESSION_AUTHENTICATION_FAILED",
                fix="Enter the pool's credentials again on its page.",
            ) from None
        except PoolUnreachable as exc:
            raise DriverError(
                exc.message, code="UNREACHABLE", fix="Check that the pool master is up."
            ) from None

    @staticmethod
    def _host(api, host: Host):
        return host.xapi_ref or api.host.get_by_uuid(str(host.uuid))

    def host_disable(self, host: Host) -> None:
        with self._api() as api:
            api.host.disable(self._host(api, host))
        Host.objects.filter(pk=host.pk).update(enabled=False)

    def host_enable(self, host: Host) -> None:
        with self._api() as api:
            api.host.enable(self._host(api, host))
        Host.objects.filter(pk=host.pk).update(enabled=True)

    def resident_vms(self, host: Host) -> list[tuple[str, str]]:
        with self._api() as api:
            vms = []
            for ref in api.host.get_resident_VMs(self._host(api, host)):
                record = api.VM.get_record(ref)
                if not record["is_control_domain"] and record["power_state"] == "Running":
                    vms.append((record["uuid"], record["name_label"]))
            return vms

    def evacuation_blockers(self, host: Host) -> list[Blocker]:
        with self._api() as api:
            blockers = []
            prevent = api.host.get_vms_which_prevent_evacuation(self._host(api, host))
            for ref, details in prevent.items():
                code, reason, fix = explain_failure(details)
                blockers.append(
                    Blocker(api.VM.get_uuid(ref), api.VM.get_name_label(ref), code, reason, fix)
                )
            return blockers

    def host_evacuate(self, host: Host) -> None:
        with self._api() as api:
            ref = self._host(api, host)
            leaving = api.host.get_resident_VMs(ref)
            api.host.evacuate(ref)
            moved = {}
            for vm_ref in leaving:
                record = api.VM.get_record(vm_ref)
                if not record["is_control_domain"]:
                    moved[record["uuid"]] = record["resident_on"]
        # The pool's event feed says it too, later: the pages need not wait for it.
        hosts = {h.xapi_ref: h for h in Host.objects.filter(pool=self.pool).exclude(xapi_ref="")}
        for vm_uuid, host_ref in moved.items():
            if host_ref in hosts:
                VM.objects.filter(uuid=vm_uuid).update(resident_on=hosts[host_ref])

    def host_reboot(self, host: Host) -> None:
        with self._api() as api:
            api.host.reboot(self._host(api, host))

    def host_eject(self, host: Host) -> None:
        """pool.eject: xapi deletes the host's records (the pool sync sees it go) and
        restarts it as a pool of its own. Refused for the master, as xapi would."""
        with self._api() as api:
            members = api.host.get_all_records()
            ref = next((r for r, rec in members.items() if rec["uuid"] == str(host.uuid)), None)
            if ref is None:
                return  # already out of the pool: nothing left to eject
            (pool_ref,) = api.pool.get_all()
            if ref == api.pool.get_master(pool_ref):
                reason, fix = MASTER_EJECT_REASON
                raise DriverError(f"XAPI: {reason}.", code="Cannot_eject_master", fix=fix)
            api.pool.eject(ref)
        pool_host_ejected(pool=self.pool, ref=ref)

    @staticmethod
    def _pbd_ref(api, pbd: PBD):
        import XenAPI

        try:
            return api.PBD.get_by_uuid(str(pbd.uuid))
        except XenAPI.Failure as exc:  # not a PBD XAPI knows: nothing of XAPI's to keep
            if list(exc.details)[:1] == ["UUID_INVALID"]:
                return None
            raise

    def pbd_unplug(self, pbd: PBD) -> None:
        from clusters.agents import agent

        agent(pbd.host).sr_unmount(str(pbd.sr.uuid))
        self._pbd_state(pbd, attached=False)

    def pbd_plug(self, pbd: PBD) -> None:
        from clusters.agents import agent

        sr = pbd.sr
        agent(pbd.host).sr_mount(sr.lun.scsi_id, str(sr.uuid), sr.cluster.cluster_name)
        self._pbd_state(pbd, attached=True)

    def _pbd_state(self, pbd: PBD, *, attached: bool) -> None:
        """XAPI's record of the PBD says what the plugin just did, when XAPI has one."""
        with self._api() as api:
            ref = self._pbd_ref(api, pbd)
            if ref is None or api.PBD.get_currently_attached(ref) == attached:
                return
            try:
                (api.PBD.plug if attached else api.PBD.unplug)(ref)
            except Exception as exc:  # without an OCFS2 SM driver XAPI may refuse
                logger.warning("%s: XAPI kept its PBD %s as it was: %s", pbd.host, pbd.uuid, exc)


class SandboxDriver(PoolDriver):
    """Sandbox hosts: the console's records are the pool; the sandbox agent mounts SRs.

    `etc/sandbox/fail-step` in a host's directory names a step to fail (host_disable,
    host_evacuate, pbd_unplug...); `etc/sandbox/stuck-vms` lists VMs that cannot leave it.
    """

    def __init__(self, sandbox_dir, move_seconds: float):
        from pathlib import Path

        self.sandbox_dir, self.move_seconds = Path(sandbox_dir), move_seconds

    def _lines(self, host: Host, name: str) -> list[str]:
        path = self.sandbox_dir / host.hostname / "etc" / "sandbox" / name
        try:
            return [line.strip() for line in path.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def _maybe_fail(self, host: Host, step: str) -> None:
        if step in self._lines(host, "fail-step"):
            raise DriverError(
                f"{host}: {step} failed (the sandbox was told to fail it).",
                code="SANDBOX_FAILURE",
                fix=f"Remove '{step}' from etc/sandbox/fail-step of {host}, then retry.",
            )

    def host_disable(self, host: Host) -> None:
        self._maybe_fail(host, "host_disable")
        Host.objects.filter(pk=host.pk).update(enabled=False)

    def host_enable(self, host: Host) -> None:
        self._maybe_fail(host, "host_enable")
        Host.objects.filter(pk=host.pk).update(enabled=True)

    def _running(self, host: Host):
        return VM.objects.filter(resident_on=host, power_state=PowerState.RUNNING)

    def resident_vms(self, host: Host) -> list[tuple[str, str]]:
        return [(str(vm.uuid), vm.name) for vm in self._running(host)]

    def _targets(self, host: Host) -> list[Host]:
        return list(
            Host.objects.filter(
                registration=HostRegistration.ACCEPTED, enabled=True, pool__isnull=True
            )
            .exclude(pk=host.pk)
            .order_by("hostname")
        )

    def evacuation_blockers(self, host: Host) -> list[Blocker]:
        stuck = set(self._lines(host, "stuck-vms"))
        targets = self._targets(host)
        blockers = []
        for vm in self._running(host):
            if vm.name in stuck:
                code = "VM_REQUIRES_SR"
            elif not targets:
                code = "NO_HOSTS_AVAILABLE"
            else:
                continue
            _code, reason, fix = explain_failure([code])
            blockers.append(Blocker(str(vm.uuid), vm.name, code, reason, fix))
        return blockers

    def evacuation_plan(self, host: Host) -> dict[str, str]:
        targets = self._targets(host)
        if not targets:
            return {}
        return {
            str(vm.uuid): targets[index % len(targets)].hostname
            for index, vm in enumerate(self._running(host).order_by("name"))
        }

    def host_evacuate(self, host: Host) -> None:
        self._maybe_fail(host, "host_evacuate")
        blockers = self.evacuation_blockers(host)
        if blockers:
            first = blockers[0]
            raise DriverError(
                f"{first.vm_name} cannot leave {host}: {first.reason}.",
                code=first.code,
                fix=first.fix,
            )
        hosts = {h.hostname: h for h in self._targets(host)}
        for vm_uuid, destination in self.evacuation_plan(host).items():
            time.sleep(self.move_seconds)  # a live migration takes a while
            VM.objects.filter(uuid=vm_uuid).update(resident_on=hosts[destination])

    def host_reboot(self, host: Host) -> None:
        from clusters.agents import agent

        self._maybe_fail(host, "host_reboot")
        agent(host).sandbox_reboot()

    def pbd_unplug(self, pbd: PBD) -> None:
        from clusters.agents import agent

        self._maybe_fail(pbd.host, "pbd_unplug")
        agent(pbd.host).sr_unmount(str(pbd.sr.uuid))

    def pbd_plug(self, pbd: PBD) -> None:
        from clusters.agents import agent

        self._maybe_fail(pbd.host, "pbd_plug")
        sr = pbd.sr
        agent(pbd.host).sr_mount(sr.lun.scsi_id, str(sr.uuid), sr.cluster.cluster_name)


def driver_for(host: Host) -> PoolDriver:
    """The driver of the host's pool: its master's XenAPI, or the sandbox's records for a
    host with its own agent."""
    if host.pool_id:
        return XenAPIDriver(host.pool)
    return SandboxDriver(settings.SANDBOX_DIR, settings.SANDBOX_VM_MOVE_SECONDS)


class HostsDriver(PoolDriver):
    """Each call goes to the driver of the host it is about (driver_for)."""

    def host_disable(self, host: Host) -> None:
        driver_for(host).host_disable(host)

    def host_enable(self, host: Host) -> None:
        driver_for(host).host_enable(host)

    def resident_vms(self, host: Host) -> list[tuple[str, str]]:
        return driver_for(host).resident_vms(host)

    def evacuation_blockers(self, host: Host) -> list[Blocker]:
        return driver_for(host).evacuation_blockers(host)

    def host_evacuate(self, host: Host) -> None:
        driver_for(host).host_evacuate(host)

    def evacuation_plan(self, host: Host) -> dict[str, str]:
        return driver_for(host).evacuation_plan(host)

    def host_reboot(self, host: Host) -> None:
        driver_for(host).host_reboot(host)

    def pbd_unplug(self, pbd: PBD) -> None:
        driver_for(pbd.host).pbd_unplug(pbd)

    def pbd_plug(self, pbd: PBD) -> None:
        driver_for(pbd.host).pbd_plug(pbd)

    def host_eject(self, host: Host) -> None:
        driver_for(host).host_eject(host)


def pool_driver() -> PoolDriver:
    """The driver maintenance uses: each host's own pool's (HostsDriver)."""
    return HostsDriver()
