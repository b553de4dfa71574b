from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.decorators import role_required
from core.errors import ConsoleError
from core.permissions import OPERATE
from core.uploads import upload_gate

from . import selectors, services
from .bundle import bundle_response
from .forms import CrashUploadForm
from .models import HostCrashdump


@upload_gate(permission=OPERATE, limit_setting="CRASH_UPLOAD_MAX_BYTES")
@role_required()
def crash_list(request):
    form = CrashUploadForm()
    if request.method == "POST":
        if not request.user.has_perm(OPERATE):
            raise PermissionDenied("Uploading crash dumps needs the pool-operator role.")
        form = CrashUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                task = services.crashdump_upload(
                    uploaded=form.cleaned_data["file"],
                    host=form.cleaned_data["host"],
                    crashed_at=form.cleaned_data["crashed_at"],
                    actor=request.user,
                )
            except ConsoleError as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(request, "Upload received; the analysis follows here.")
                return redirect("task-detail", pk=task.pk)
    crashes = HostCrashdump.objects.select_related("host", "incident")[:200]
    bugs = [
        {**group, "key": selectors.signature_key(group["signature"])}
        for group in selectors.bug_groups()[:50]
    ]
    return render(
        request, "crashes/crash_list.html", {"crashes": crashes, "bugs": bugs, "form": form}
    )


@role_required()
def bug_group(request, key: str):
    group = selectors.bug_group(key)
    if group is None:
        raise Http404("No crash has this signature.")
    return render(request, "crashes/bug_group.html", group)


@role_required()
def crash_detail(request, pk: int):
    crash = get_object_or_404(
        HostCrashdump.objects.select_related("host__io_health", "incident"), pk=pk
    )
    return render(request, "crashes/crash_detail.html", selectors.crash_context(crash))


@require_POST
@role_required(OPERATE)
def crash_acknowledge(request, pk: int):
    crash = get_object_or_404(HostCrashdump, pk=pk)
    services.crashdump_acknowledge(crash=crash, actor=request.user)
    return redirect(crash)


@role_required()
def crash_bundle(request, pk: int):
    crash = get_object_or_404(HostCrashdump.objects.select_related("host"), pk=pk)
    return bundle_response(crash)
