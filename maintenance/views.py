from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from clusters.models import Cluster, Host
from core.decorators import role_required
from core.errors import ConsoleError
from core.permissions import ADMINISTER, OPERATE

from . import services, storage
from .choices import MaintenanceState
from .models import HostMaintenance


@role_required()
def host_maintenance(request, pk: int):
    """The maintenance wizard: what will happen and why it is safe, then do it."""
    host = get_object_or_404(Host, pk=pk)
    state = HostMaintenance.objects.filter(host=host).first()
    confirm = request.GET.get("confirm_others") == "1"
    try:
        if state is None:
            preview = services.enter_preview(host, confirm_others=confirm)
        elif state.state in (MaintenanceState.ENTERING, MaintenanceState.EXITING):
            preview = None  # part-way: the page offers retry, reboot or roll back
        else:
            preview = services.exit_preview(host)
    except ConsoleError as exc:  # the pool master could not be asked
        messages.error(request, exc.message)
        preview = None
    removal = None
    if request.user.has_perm(ADMINISTER):
        removal = services.host_remove_preview(host)
    actions = services.recovery_actions(host)
    return render(
        request,
        "maintenance/host_maintenance.html",
        {
            "host": host,
            "state": state,
            "preview": preview,
            "confirm_others": confirm,
            "removal": removal,
            "allowed": {action for action, refused in actions.items() if refused is None},
            "running": services.running_workflow(host),
        },
    )


_OPERATIONS = {
    "enter": lambda host, request: services.maintenance_enter(
        host=host, actor=request.user, confirm_others=request.POST.get("confirm_others") == "1"
    ),
    "exit": lambda host, request: services.maintenance_exit(host=host, actor=request.user),
    "retry": lambda host, request: services.maintenance_retry(host=host, actor=request.user),
    "rollback": lambda host, request: services.maintenance_rollback(host=host, actor=request.user),
    "reboot": lambda host, request: services.maintenance_reboot(host=host, actor=request.user),
}


@require_POST
@role_required(OPERATE)
def host_maintenance_run(request, pk: int, operation: str):
    host = get_object_or_404(Host, pk=pk)
    if operation not in _OPERATIONS:
        messages.error(request, f"Unknown maintenance operation '{operation}'.")
        return redirect("host-maintenance", pk=pk)
    try:
        task = _OPERATIONS[operation](host, request)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("host-maintenance", pk=pk)
    return redirect("task-detail", pk=task.pk)


def _storage_requests(post) -> list[dict]:
    return [
        {
            "scsi_id": scsi_id,
            "name": post.get(f"name_{scsi_id}", "").strip(),
            "format": post.get(f"format_{scsi_id}", "vhd"),
            "confirm_overwrite": post.get(f"confirm_{scsi_id}", "").strip(),
        }
        for scsi_id in post.getlist("lun")
    ]


@role_required(ADMINISTER)
def storage_add(request, pk: int):
    """The add-storage wizard: pick LUNs, see what will happen, then do it."""
    cluster = get_object_or_404(Cluster, pk=pk)
    requests = _storage_requests(request.POST) if request.method == "POST" else []
    preview = None
    if request.method == "POST":
        try:
            if request.POST.get("step") == "run":
                task = storage.storage_add(cluster=cluster, requests=requests, actor=request.user)
                return redirect("task-detail", pk=task.pk)
            preview = storage.storage_add_preview(cluster=cluster, requests=requests)
        except ConsoleError as exc:
            messages.error(request, exc.message)
    try:
        candidates = storage.lun_candidates(cluster)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        candidates = {"luns": [], "not_on_every_host": [], "silent_hosts": []}
    chosen = {r["scsi_id"]: r for r in requests}
    rows = [(lun, chosen.get(lun["scsi_id"])) for lun in candidates["luns"]]
    return render(
        request,
        "maintenance/storage_add.html",
        {"cluster": cluster, "candidates": candidates, "rows": rows, "preview": preview},
    )


@require_POST
@role_required(ADMINISTER)
def host_remove(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    try:
        done = services.host_remove(
            host=host,
            actor=request.user,
            confirm_name=request.POST.get("confirm_name", "").strip(),
            powered_off=request.POST.get("powered_off") == "1",
        )
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("host-maintenance", pk=pk)
    messages.success(request, _removal_message(done))
    return redirect("host-list")


def _removal_message(done: dict) -> str:
    """The host is gone from the console at once; its node leaves the other members'
    configuration only when the reconcile runs: say so, and link that task."""
    if not done["left_clusters"]:
        return f"{done['host']} left the pool; it was in no cluster."
    tasks = format_html_join(
        ", ",
        '<a href="{}">task {}</a>',
        ((reverse("task-detail", args=[pk]), pk) for pk in done["reconcile_tasks"]),
    )
    return format_html(
        "{} left the pool. Removing its node from {} on the other members is queued ({}); "
        "its node number stays held until the remaining members restart.",
        done["host"],
        ", ".join(done["left_clusters"]),
        tasks,
    )


@role_required()
def cluster_rolling_restart(request, pk: int):
    """What a rolling restart will do (GET), and doing it (POST, pool-operators)."""
    cluster = get_object_or_404(Cluster, pk=pk)
    if request.method == "POST":
        if not request.user.has_perm(OPERATE):
            raise PermissionDenied
        try:
            task = services.rolling_restart(cluster=cluster, actor=request.user)
        except ConsoleError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("task-detail", pk=task.pk)
    try:
        preview = services.rolling_restart_preview(cluster)
    except ConsoleError as exc:  # the pool master could not be asked
        messages.error(request, exc.message)
        preview = None
    return render(
        request, "maintenance/rolling_restart.html", {"cluster": cluster, "preview": preview}
    )
