from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clusters.selectors import clusters_with_counts, dashboard_hosts, io_summary
from crashes.models import HostCrashdump

from . import services
from .choices import TaskStatus
from .decorators import role_required
from .errors import ConsoleError
from .filtersets import AlertFilterSet, AuditEventFilterSet, TaskFilterSet
from .models import Alert, AuditEvent, Task
from .permissions import OPERATE

PAGE_SIZE = 50


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@role_required()
def dashboard(request):
    from django.conf import settings

    silent_before = timezone.now() - settings.AGENT_SILENT_AFTER
    return render(
        request,
        "console/dashboard.html",
        {
            "hosts": dashboard_hosts(silent_before=silent_before),
            "silent_before": silent_before,
            "clusters": clusters_with_counts(),
            "io": io_summary(),
            "crashes": HostCrashdump.objects.filter(acknowledged__isnull=True)[:5],
            "alerts": Alert.objects.filter(acknowledged__isnull=True, cleared__isnull=True)[:10],
            "running_tasks": Task.objects.filter(
                status__in=[TaskStatus.PENDING, TaskStatus.RUNNING]
            ).select_related("user")[:10],
        },
    )


@role_required()
def task_list(request):
    filterset = TaskFilterSet(request.GET, queryset=Task.objects.select_related("user"))
    return render(
        request,
        "console/task_list.html",
        {"filter": filterset, "page": _page(request, filterset.qs)},
    )


@role_required()
def task_detail(request, pk: int):
    task = get_object_or_404(Task.objects.select_related("user"), pk=pk)
    # htmx polls this same URL and swaps in the live part only.
    template = (
        "console/_task_live.html"
        if request.headers.get("HX-Request")
        else "console/task_detail.html"
    )
    return render(request, template, {"task": task, "steps": task.steps.all()})


@role_required()
def audit_list(request):
    filterset = AuditEventFilterSet(request.GET, queryset=AuditEvent.objects.all())
    return render(
        request,
        "console/audit_list.html",
        {"filter": filterset, "page": _page(request, filterset.qs)},
    )


@role_required()
def alert_list(request):
    params = request.GET.copy()
    params.setdefault("open", "true")
    filterset = AlertFilterSet(params, queryset=Alert.objects.select_related("acknowledged_by"))
    return render(
        request,
        "console/alert_list.html",
        {"filter": filterset, "page": _page(request, filterset.qs)},
    )


@require_POST
@role_required(OPERATE)
def alert_acknowledge(request, pk: int):
    services.alert_acknowledge(alert=get_object_or_404(Alert, pk=pk), actor=request.user)
    return redirect(request.POST.get("next") or "alert-list")


def _error(request, status: int, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": message, "detail": None}, status=status)
    return render(
        request, "console/error.html", {"status": status, "message": message}, status=status
    )


def error_403(request, exception=None):
    return _error(request, 403, "Your role does not allow this.")


def error_404(request, exception=None):
    return _error(request, 404, "There is nothing at this address.")


def error_500(request):
    return _error(request, 500, "The console hit an internal error; it has been logged.")


@role_required()
def token_list(request):
    """Your API tokens: make one (its key is shown once, here) or revoke one."""
    new_key = None
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                token = get_object_or_404(request.user.api_tokens, pk=request.POST["revoke"])
                services.api_token_revoke(token=token, actor=request.user)
                messages.success(request, f"Token '{token.name}' revoked.")
            else:
                token, new_key = services.api_token_create(
                    user=request.user, name=request.POST.get("name", "")
                )
        except ConsoleError as exc:
            messages.error(request, exc.message)
    tokens = request.user.api_tokens.all()
    return render(request, "console/token_list.html", {"tokens": tokens, "new_key": new_key})
