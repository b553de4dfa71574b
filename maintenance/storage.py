"""Adding OCFS2 storage to a cluster: one SR per SAN LUN.

Steps: the cluster runs on every member; each LUN is formatted with the real
mkfs.ocfs2 (O2CB stack, global heartbeat) and becomes a heartbeat region on every
member; the cluster's o2cb_statefile VDI is found or created (a unique constraint makes
two concurrent workflows end with one); each member gets a PBD, plugged.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agent.contract import encode
from agent.names import volume_label_problem
from clusters.agents import agent, agent_call_many
from clusters.choices import O2CB_MAX_NODES, SRFormat, VDIType
from clusters.fencing.selectors import single_failures_that_fence
from clusters.models import LUN, PBD, SR, VDI, Cluster, Host
from clusters.monitor import (
    desired_nodes,
    start_on_host,
    statefile_uuid,
    wait_for_earlier_runs,
)
from clusters.selectors.hosts import cluster_members
from core.choices import AuditOutcome, TaskStatus
from core.errors import ConsoleError, TransientError
from core.models import Task
from core.services.audit import audit_record
from core.services.tasks import task_create, task_finish
from core.steps import Step, run_steps, step_note, step_noted
from core.validators import validate_plain_name

from .drivers import pool_driver
from .services import refuse_unless_clear

STATEFILE_SIZE = 4 << 20


def lun_candidates(cluster: Cluster) -> dict:
    """The LUNs every member sees (only those can carry a cluster's SR), and who failed."""
    members, _resting = members_split(cluster)
    answers = agent_call_many(members, lambda host: agent(host).lun_list())
    silent = sorted(h.hostname for h, a in answers.items() if isinstance(a, Exception))
    seen = [
        {lun.scsi_id: encode(lun) for lun in answer}
        for answer in answers.values()
        if not isinstance(answer, Exception)
    ]
    common = set.intersection(*(set(s) for s in seen)) if seen else set()
    everywhere = sorted(
        ({**seen[0][scsi_id], "in_use_by": _sr_name(scsi_id)} for scsi_id in common),
        key=lambda lun: lun["scsi_id"],
    )
    partial = sorted(set().union(*(set(s) for s in seen)) - common) if seen else []
    return {"luns": everywhere, "not_on_every_host": partial, "silent_hosts": silent}


def _sr_name(scsi_id: str) -> str | None:
    sr = SR.objects.filter(lun__scsi_id=scsi_id).first()
    return sr.name if sr else None


def _sr_name_problem(name: str) -> str | None:
    """Why `name` cannot name a new SR (it is also its volume's label), or None."""
    try:
        validate_plain_name(name)
    except ValidationError as exc:
        return exc.messages[0]
    problem = volume_label_problem(name)
    if problem:
        return (
            f"the SR's name is also its OCFS2 volume label: {problem}. Nothing was cut: "
            "give it a shorter name."
        )
    return None


def storage_add_preview(*, cluster: Cluster, requests: list[dict]) -> dict:
    """What adding these LUNs would do, and every reason not to; changes nothing.

    Each request: {scsi_id, name, format ("vhd" | "raw"), confirm_overwrite (the LUN's
    id typed again, needed when it already holds a filesystem)}.
    """
    candidates = lun_candidates(cluster)
    by_id = {lun["scsi_id"]: lun for lun in candidates["luns"]}
    refusals = []
    if candidates["silent_hosts"]:
        refusals.append(
            f"{', '.join(candidates['silent_hosts'])} did not answer: every member must see "
            "and mount the new storage, so bring it back (or remove it from the cluster) first."
        )
    if not requests:
        refusals.append("Pick at least one LUN.")
    names = [r.get("name", "").strip() for r in requests]
    if len(set(names)) != len(names):
        refusals.append("Give each new SR its own name.")
    for request in requests:
        scsi_id, name = request.get("scsi_id", ""), request.get("name", "").strip()
        lun = by_id.get(scsi_id)
        if not name:
            refusals.append(f"LUN {scsi_id} needs a name for its SR.")
        elif problem := _sr_name_problem(name):
            refusals.append(f"LUN {scsi_id}'s SR name: {problem}")
        if request.get("format", SRFormat.VHD) not in SRFormat.values:
            refusals.append(f"SR format must be vhd or raw, not {request.get('format')!r}.")
        if lun is None:
            where = (
                "some members do not see it"
                if scsi_id in candidates["not_on_every_host"]
                else "no member sees it"
            )
            refusals.append(f"LUN {scsi_id} cannot be used: {where}. Check its zoning and masking.")
        elif lun["in_use_by"]:
            refusals.append(f"LUN {scsi_id} is already SR {lun['in_use_by']}.")
        elif lun.get("filesystem") and request.get("confirm_overwrite") != scsi_id:
            refusals.append(
                f"LUN {scsi_id} already holds a {lun['filesystem']} filesystem"
                + (f" labelled {lun['label']}" if lun.get("label") else "")
                + ": formatting destroys it. Type the LUN's id to confirm."
            )
    members, resting = members_split(cluster)
    return {
        "cluster": cluster.name,
        "members": [h.hostname for h in members],
        "skipped": [
            {"host": h.hostname, "why": f"In maintenance: {RESTING_GET_IT_LATER}"} for h in resting
        ],
        "steps": [step.name for step in _steps(requests)],
        "luns": [by_id.get(r.get("scsi_id")) for r in requests],
        "fence_risks": single_failures_that_fence(cluster),
        "refusals": refusals,
    }


def _steps(requests: list[dict]) -> list[Step]:
    """The runner's steps, each known by its key (the LUN's id for a LUN's steps)."""
    steps = [
        Step(
            "start",
            "Start the cluster on every member",
            "Each member's cluster.conf is brought up to date and O2CB runs, so every "
            "member can heartbeat on the new storage.",
            _start,
        )
    ]
    for request in requests:
        name, scsi_id = request.get("name"), request.get("scsi_id")
        steps += [
            Step(
                f"format-{scsi_id}",
                f"Format {name} (mkfs.ocfs2 on {scsi_id})",
                "One OCFS2 filesystem with a node slot per possible member.",
                _format,
                subject=request,
                retries=0,  # formatting again is not harmless: a timeout fails it
            ),
            Step(
                f"region-{scsi_id}",
                f"Make {name} a heartbeat region on every member",
                "Global heartbeat: each member writes its heartbeat on the new volume.",
                _region,
                subject=request,
            ),
        ]
    steps.append(
        Step(
            "statefile",
            "Find or create the cluster's o2cb_statefile VDI",
            "The cluster's state file lives on its first SR; a cluster has exactly one. Every "
            "member lists it in static-vdis, so it is attached at boot.",
            _statefile,
        )
    )
    steps += [
        Step(
            f"plug-{r.get('scsi_id')}",
            f"Plug {r.get('name')} on every member",
            "Each member gets a PBD and mounts the SR.",
            _plug,
            subject=r,
        )
        for r in requests
    ]
    return steps


@transaction.atomic
def storage_add(*, cluster: Cluster, requests: list[dict], actor) -> Task:
    refuse_unless_clear(storage_add_preview(cluster=cluster, requests=requests))
    return storage_add_enqueue(cluster=cluster, requests=requests, actor=actor)


def storage_add_enqueue(*, cluster: Cluster, requests: list[dict], actor, name: str = "") -> Task:
    """Queue the adding of storage without a preview: for the demo's seed, which runs
    before any agent answers (the runner checks again as it goes)."""
    task = task_create(
        name=name or f"Add {len(requests)} SR{'s' if len(requests) != 1 else ''} to {cluster}",
        kind="maintenance.add_storage",
        celery_task="maintenance.add_storage",
        steps=_steps(requests),
        user=actor,
        target=cluster,
        params={
            "requests": [
                {
                    "scsi_id": r["scsi_id"],
                    "name": r["name"].strip(),
                    "format": r.get("format", SRFormat.VHD),
                }
                for r in requests
            ]
        },
    )
    audit_record(
        actor=actor,
        action="storage.add",
        target=cluster,
        task=task,
        outcome=AuditOutcome.ACCEPTED,
        message=", ".join(r["name"] for r in requests),
    )
    return task


def statefile_find_or_create(*, cluster: Cluster, sr: SR) -> tuple[VDI, bool]:
    """The cluster's one o2cb_statefile VDI; racing creators meet on a unique constraint."""
    existing = VDI.objects.filter(cluster=cluster, vdi_type=VDIType.O2CB_STATEFILE).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            return VDI.objects.create(
                sr=sr,
                cluster=cluster,
                vdi_type=VDIType.O2CB_STATEFILE,
                name=f"O2CB statefile for {cluster}",
                size=STATEFILE_SIZE,
            ), True
    except IntegrityError:
        return VDI.objects.get(cluster=cluster, vdi_type=VDIType.O2CB_STATEFILE), False


def _raise_failures(answers: dict) -> None:
    """One error for every member that failed; transient (tried again) when every one of
    them only did not answer in time."""
    errors = {h: a for h, a in answers.items() if isinstance(a, Exception)}
    if errors:
        message = "; ".join(f"{h.hostname}: {errors[h]}" for h in sorted(errors, key=str))
        transient = all(isinstance(error, TransientError) for error in errors.values())
        raise (TransientError if transient else ConsoleError)(message)


def _each_member(members, work) -> None:
    """`work(client)` on every member's agent at once; any failure fails them all."""
    _raise_failures(agent_call_many(members, lambda host: work(agent(host))))


@dataclass
class AddingStorage:
    """What the steps of adding storage work on: the members it runs on, and those in
    maintenance, which it leaves alone (they get the SR when they leave maintenance)."""

    task: Task
    cluster: Cluster
    members: list[Host]
    resting: list[Host]

    @property
    def slots(self) -> int:
        return min(O2CB_MAX_NODES, max(8, 2 * (len(self.members) + len(self.resting))))

    def skipped(self) -> str:
        if not self.resting:
            return ""
        names = ", ".join(h.hostname for h in self.resting)
        return f" Skipped {names}, in maintenance: {RESTING_GET_IT_LATER}"


RESTING_GET_IT_LATER = "it heartbeats on the new storage and plugs it when it leaves maintenance."


def members_split(cluster: Cluster) -> tuple[list[Host], list[Host]]:
    """The cluster's members that adding storage works on, and those in maintenance."""
    members = cluster_members(cluster)
    return [h for h in members if not h.maintenance_hold], [
        h for h in members if h.maintenance_hold
    ]


def _start(adding: AddingStorage, step: Step) -> str:
    # Bring each member's cluster.conf up to date first, as a cluster start does.
    cluster = adding.cluster
    desired, statefile = desired_nodes(cluster), statefile_uuid(cluster)

    def start_one(host):
        return start_on_host(host, cluster.cluster_name, desired, statefile)

    _raise_failures(agent_call_many(adding.members, start_one))
    return f"Running on {len(adding.members)} hosts.{adding.skipped()}"


def _format(adding: AddingStorage, step: Step) -> str:
    request = step.subject
    done = agent(adding.members[0], timeout=600).lun_format(
        request["scsi_id"], adding.cluster.cluster_name, request["name"], adding.slots
    )
    step_note(adding.task, step.key, region=done.region)
    return f"OCFS2 volume {done.region}, {adding.slots} node slots."


def _region(adding: AddingStorage, step: Step) -> str:
    """The volume heartbeats on every member; then it is recorded as the SR."""
    request = step.subject
    region = step_noted(adding.task, f"format-{request['scsi_id']}")["region"]
    cluster_name = adding.cluster.cluster_name
    _each_member(adding.members, lambda client: client.heartbeat_region_add(cluster_name, region))
    lun_info = agent(adding.members[0]).lun_list()
    info = next(lun for lun in lun_info if lun.scsi_id == request["scsi_id"])
    with transaction.atomic():
        lun, _ = LUN.objects.get_or_create(
            scsi_id=request["scsi_id"],
            defaults={"size": info.size or 0, "vendor": info.vendor, "model": info.model},
        )
        SR.objects.get_or_create(
            lun=lun,
            defaults={
                "name": request["name"],
                "format": request["format"],
                "cluster": adding.cluster,
            },
        )
    return f"Heartbeating on {len(adding.members)} hosts.{adding.skipped()}"


def _sr(request: dict) -> SR:
    return SR.objects.get(lun__scsi_id=request["scsi_id"])


def _statefile(adding: AddingStorage, step: Step) -> str:
    """Found or created, then each member starts with it as "Start on every member" does:
    it lists the statefile in static-vdis, so it is attached at boot (a cluster started
    before it had storage, as the demo's is, had none to list)."""
    first = _sr(adding.task.params["requests"][0])
    vdi, made = statefile_find_or_create(cluster=adding.cluster, sr=first)
    cluster = adding.cluster
    desired = desired_nodes(cluster)
    _raise_failures(
        agent_call_many(
            adding.members,
            lambda host: start_on_host(host, cluster.cluster_name, desired, str(vdi.uuid)),
        )
    )
    return (
        f"{'Created' if made else 'Found'} {vdi.name} on {vdi.sr}; attached at boot on "
        f"{len(adding.members)} hosts.{adding.skipped()}"
    )


def _plug(adding: AddingStorage, step: Step) -> str:
    sr, driver = _sr(step.subject), pool_driver()
    for host in adding.members:
        pbd, _ = PBD.objects.get_or_create(host=host, sr=sr)
        driver.pbd_plug(pbd)
        PBD.objects.filter(pk=pbd.pk).update(plugged=True)
    for host in adding.resting:  # unplugged: leaving maintenance plugs it
        PBD.objects.get_or_create(host=host, sr=sr, defaults={"plugged": False})
    return f"Plugged on {len(adding.members)} hosts.{adding.skipped()}"


def storage_add_run(task: Task) -> None:
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    requests = task.params["requests"]
    adding = AddingStorage(task, cluster, *members_split(cluster))
    run_steps(task, _steps(requests), adding, failure=lambda step, message: message)
    srs = [_sr(request).pk for request in requests]
    task_finish(task=task, status=TaskStatus.SUCCEEDED, result={"srs": srs})
