from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clusters.models import Host
from console.decorators import role_required
from console.errors import ConsoleError
from console.permissions import OPERATE

from . import services
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
        elif state.state == MaintenanceState.ENTERING:
            preview = None
        else:
            preview = services.exit_preview(host)
    except ConsoleError as exc:  # the pool master could not be asked
        messages.error(request, exc.message)
        preview = None
    return render(
        request,
        "maintenance/host_maintenance.html",
        {"host": host, "state": state, "preview": preview, "confirm_others": confirm},
    )


_OPERATIONS = {
    "enter": lambda host, request: services.maintenance_enter(
        host=host, actor=request.user, confirm_others=request.POST.get("confirm_others") == "1"
    ),
    "exit": lambda host, request: services.maintenance_exit(host=host, actor=request.user),
    "retry": lambda host, request: services.maintenance_retry(host=host, actor=request.user),
    "rollback": lambda host, request: services.maintenance_rollback(host=host, actor=request.user),
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
