"""Adding OCFS2 storage to a cluster: one SR per SAN LUN.

Steps: the cluster runs on every member; each LUN is formatted with the real
mkfs.ocfs2 (O2CB stack, global heartbeat) and becomes a heartbeat region on every
member; the cluster's o2cb_statefile VDI is found or created (a unique constraint makes
two concurrent workflows end with one); each member gets a PBD, plugged.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from agent.contract import encode
from clusters.agents import agent, agent_call_many
from clusters.choices import O2CB_MAX_NODES, SRFormat, VDIType
from clusters.models import LUN, PBD, SR, VDI, Cluster
from clusters.monitor import (
    desired_nodes,
    start_on_host,
    statefile_uuid,
    wait_for_earlier_runs,
)
from clusters.selectors.hosts import cluster_members
from core.choices import AuditOutcome, StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.audit import audit_record
from core.services.tasks import task_create, task_finish, task_step_finish, task_step_start

from .drivers import pool_driver
from .services import refuse_unless_clear

STATEFILE_SIZE = 4 << 20


def lun_candidates(cluster: Cluster) -> dict:
    """The LUNs every member sees (only those can carry a cluster's SR), and who failed."""
    members = cluster_members(cluster)
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
    return {
        "cluster": cluster.name,
        "members": [h.hostname for h in cluster_members(cluster)],
        "steps": _steps(requests),
        "luns": [by_id.get(r.get("scsi_id")) for r in requests],
        "refusals": refusals,
    }


def _steps(requests: list[dict]) -> list[str]:
    """The runner's steps, in its order (a step is known by its position)."""
    steps = ["Start the cluster on every member"]
    for request in requests:
        steps += [
            f"Format {request.get('name')} (mkfs.ocfs2 on {request.get('scsi_id')})",
            f"Make {request.get('name')} a heartbeat region on every member",
        ]
    steps.append("Find or create the cluster's o2cb_statefile VDI")
    steps += [f"Plug {request.get('name')} on every member" for request in requests]
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
    failed = {h.hostname: str(a) for h, a in answers.items() if isinstance(a, Exception)}
    if failed:
        raise ConsoleError("; ".join(f"{name}: {error}" for name, error in sorted(failed.items())))


def _each_member(members, work) -> None:
    """`work(client)` on every member's agent at once; any failure fails them all."""
    _raise_failures(agent_call_many(members, lambda host: work(agent(host))))


def storage_add_run(task: Task) -> None:
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    members = cluster_members(cluster)
    slots = min(O2CB_MAX_NODES, max(8, 2 * len(members)))
    position = 0
    created: list[SR] = []

    def step(work):
        nonlocal position
        position += 1
        task_step_start(task=task, position=position)
        try:
            message = work()
        except ConsoleError as exc:
            task_step_finish(
                task=task, position=position, status=StepStatus.FAILED, message=exc.message
            )
            raise
        task_step_finish(
            task=task, position=position, status=StepStatus.SUCCEEDED, message=message or ""
        )

    def start():
        # Bring each member's cluster.conf up to date first, as a cluster start does.
        desired, statefile = desired_nodes(cluster), statefile_uuid(cluster)

        def start_one(host):
            return start_on_host(host, cluster.cluster_name, desired, statefile)

        _raise_failures(agent_call_many(members, start_one))
        return f"Running on {len(members)} hosts."

    step(start)
    for request in task.params["requests"]:
        region = {}

        def format_lun(request=request, region=region):
            done = agent(members[0], timeout=600).lun_format(
                request["scsi_id"], cluster.cluster_name, request["name"], slots
            )
            region["name"] = done.region
            return f"OCFS2 volume {done.region}, {slots} node slots."

        def add_region(region=region):
            _each_member(
                members,
                lambda client: client.heartbeat_region_add(cluster.cluster_name, region["name"]),
            )
            return f"Heartbeating on {len(members)} hosts."

        step(format_lun)
        step(add_region)
        lun_info = agent(members[0]).lun_list()
        info = next(lun for lun in lun_info if lun.scsi_id == request["scsi_id"])
        with transaction.atomic():
            lun, _ = LUN.objects.get_or_create(
                scsi_id=request["scsi_id"],
                defaults={
                    "size": info.size or 0,
                    "vendor": info.vendor,
                    "model": info.model,
                },
            )
            created.append(
                SR.objects.create(
                    name=request["name"], format=request["format"], lun=lun, cluster=cluster
                )
            )

    def statefile():
        vdi, made = statefile_find_or_create(cluster=cluster, sr=created[0])
        return f"{'Created' if made else 'Found'} {vdi.name} on {vdi.sr}."

    step(statefile)
    driver = pool_driver()
    for sr in created:

        def plug(sr=sr):
            for host in members:
                pbd, _ = PBD.objects.get_or_create(host=host, sr=sr)
                driver.pbd_plug(pbd)
                PBD.objects.filter(pk=pbd.pk).update(plugged=True)
            return f"Plugged on {len(members)} hosts."

        step(plug)
    task_finish(task=task, status=TaskStatus.SUCCEEDED, result={"srs": [sr.pk for sr in created]})
