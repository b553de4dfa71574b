"""The shell's own pages: the dashboard and the error pages."""

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from clusters.iohealth.selectors import io_summary
from clusters.selectors.clusters import clusters_with_counts
from clusters.selectors.hosts import dashboard_hosts
from core.choices import TaskStatus
from core.decorators import role_required
from core.models import Alert, Task
from core.permissions import can_view
from core.selectors import no_role_message, pool_admin_contacts
from crashes.models import HostCrashdump


@role_required()
def dashboard(request):
    silent_before = timezone.now() - settings.AGENT_SILENT_AFTER
    # htmx polls this same URL and swaps in the live part only.
    template = (
        "console/_dashboard_live.html"
        if request.headers.get("HX-Request")
        else "console/dashboard.html"
    )
    return render(
        request,
        template,
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


def _error(request, status: int, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": message, "detail": None}, status=status)
    return render(
        request, "console/error.html", {"status": status, "message": message}, status=status
    )


def error_400(request, exception=None):
    # A BadRequest raised by the console's own checks says what was wrong; Django's own
    # (a bad Host header, too many fields) may name internals, so those stay generic.
    if type(exception) is BadRequest and exception.args:
        return _error(request, 400, str(exception))
    return _error(request, 400, "The request is not valid.")


def error_403(request, exception=None):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not can_view(user):
        # Signed in but given no role yet: say so, and whom to ask, not a bare 403.
        message = no_role_message(user)
        if request.path.startswith("/api/"):
            return JsonResponse({"message": message, "detail": None}, status=403)
        return render(
            request,
            "console/no_role.html",
            {"message": message, "contacts": pool_admin_contacts()},
            status=403,
        )
    return _error(request, 403, "Your role does not allow this.")


def error_404(request, exception=None):
    return _error(request, 404, "There is nothing at this address.")


def error_500(request):
    return _error(request, 500, "The console hit an internal error; it has been logged.")
