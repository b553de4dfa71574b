"""Pages of the ground floor: tasks, audit, alerts and your API tokens."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .decorators import role_required
from .errors import ConsoleError
from .filtersets import AlertFilterSet, AuditEventFilterSet, TaskFilterSet
from .forms import posted_id
from .models import Alert, AuditEvent, Task
from .permissions import OPERATE
from .services.alerts import alert_acknowledge as acknowledge
from .services.auth import api_token_create, api_token_revoke

PAGE_SIZE = 50


def page_of(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@role_required()
def task_list(request):
    filterset = TaskFilterSet(request.GET, queryset=Task.objects.select_related("user"))
    return render(
        request,
        "core/task_list.html",
        {"filter": filterset, "page": page_of(request, filterset.qs)},
    )


@role_required()
def task_detail(request, pk: int):
    task = get_object_or_404(Task.objects.select_related("user"), pk=pk)
    # htmx polls this same URL and swaps in the live part only.
    template = (
        "core/_task_live.html" if request.headers.get("HX-Request") else "core/task_detail.html"
    )
    return render(request, template, {"task": task, "steps": task.steps.all()})


@role_required()
def audit_list(request):
    filterset = AuditEventFilterSet(request.GET, queryset=AuditEvent.objects.all())
    return render(
        request,
        "core/audit_list.html",
        {"filter": filterset, "page": page_of(request, filterset.qs)},
    )


@role_required()
def alert_list(request):
    params = request.GET.copy()
    params.setdefault("open", "true")
    filterset = AlertFilterSet(params, queryset=Alert.objects.select_related("acknowledged_by"))
    return render(
        request,
        "core/alert_list.html",
        {"filter": filterset, "page": page_of(request, filterset.qs)},
    )


@require_POST
@role_required(OPERATE)
def alert_acknowledge(request, pk: int):
    acknowledge(alert=get_object_or_404(Alert, pk=pk), actor=request.user)
    back = request.POST.get("next", "")
    # Only back to a page of this console: `next` is posted, so anyone can forge it.
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("alert-list")


@role_required()
def token_list(request):
    """Your API tokens: make one (its key is shown once, here) or revoke one."""
    new_key, status = None, 200
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                token = get_object_or_404(request.user.api_tokens, pk=posted_id(request, "revoke"))
                api_token_revoke(token=token, actor=request.user)
                messages.success(request, f"Token '{token.name}' revoked.")
            else:
                token, new_key = api_token_create(
                    user=request.user, name=request.POST.get("name", "")
                )
        except ConsoleError as exc:
            messages.error(request, exc.message)
            status = exc.status_code
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
    tokens = request.user.api_tokens.all()
    return render(
        request, "core/token_list.html", {"tokens": tokens, "new_key": new_key}, status=status
    )
