from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clusters.fencing.inputs import layout_for
from clusters.fencing.model import LayoutError, recommendations, simulate
from clusters.fencing.selectors import (
    DEFAULT_PAUSE_S,
    failure_choices,
    failure_from_key,
)
from clusters.iohealth.selectors import host_io_overview, sr_io_overview
from clusters.selectors.clusters import MEMBERS_PER_PAGE, cluster_overview, clusters_with_counts
from clusters.selectors.hosts import (
    host_known_down,
    hosts_in_no_cluster,
    hosts_with_memberships,
    member_activity,
    quorum_impact,
)
from clusters.selectors.pools import pool_overview, pools_with_counts
from clusters.services import hosts as host_services
from clusters.services import memberships
from clusters.services import pools as pool_services
from clusters.services.faults import fault_catalogue, fault_inject, fault_targets, running_lab
from core.decorators import role_required
from core.errors import ConsoleError
from core.forms import posted_id
from core.permissions import ADMINISTER

from .choices import HostRegistration
from .filtersets import HostFilterSet
from .forms import ClusterForm, PoolEditForm, PoolForm
from .models import SR, Cluster, Host, Membership, Pool


@role_required()
def host_list(request):
    filterset = HostFilterSet(request.GET, queryset=hosts_with_memberships())
    return render(request, "clusters/host_list.html", {"filter": filterset, "hosts": filterset.qs})


@role_required()
def cluster_list(request):
    """The clusters; a pool-admin can make one here, with the accepted hosts in no cluster."""
    form = ClusterForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm(ADMINISTER):
            raise PermissionDenied
        if form.is_valid():
            try:
                cluster = memberships.cluster_create(actor=request.user, **form.cleaned_data)
            except ConsoleError as exc:
                form.add_error(None, exc.message)  # beside what was typed, which stays
            else:
                if cluster.memberships.exists():
                    messages.success(request, f"{cluster} created; its members are being set up.")
                else:
                    messages.success(
                        request,
                        f"{cluster} created with no members: no accepted host is free (a host "
                        "runs one O2CB cluster). Add hosts from its page once they are.",
                    )
                return redirect(cluster.get_absolute_url())
    return render(
        request,
        "clusters/cluster_list.html",
        {"clusters": clusters_with_counts(), "form": form},
    )


@role_required()
def cluster_detail(request, pk: int):
    cluster = get_object_or_404(Cluster, pk=pk)
    overview = cluster_overview(cluster)
    joinable = hosts_in_no_cluster()  # a host runs one O2CB cluster
    template = (
        "clusters/_cluster_live.html"
        if request.headers.get("HX-Request")
        else "clusters/cluster_detail.html"
    )
    # A page of members at a time: 255 rows redrawn every 5 s would make the page crawl.
    members = Paginator(overview.member_rows, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        template,
        {"o": overview, "cluster": cluster, "joinable": joinable, "page": members},
    )


@role_required()
def cluster_what_if(request, pk: int):
    """Pick a failure, see who fences when and why; and what the layout should change."""
    cluster = get_object_or_404(Cluster, pk=pk)
    layout = layout_for(cluster)
    choices = failure_choices(layout)
    chosen, seconds_text, outcome, error = request.GET.get("failure"), "", None, None
    if chosen:
        seconds_text = request.GET.get("seconds", "").strip()
        try:
            seconds = float(seconds_text) if seconds_text else None
            if seconds is not None and not 0 <= seconds <= 86400:
                raise ValueError
        except ValueError:
            error = f"“{seconds_text}” is no number of seconds from 0 to 86400."
        else:
            try:
                failure = failure_from_key(chosen, seconds)
                if failure.kind == "array_pause" and seconds is None:
                    failure = failure_from_key(chosen, DEFAULT_PAUSE_S)
                outcome = simulate(layout, failure)
            except (LayoutError, ValueError) as exc:
                error = str(exc) if isinstance(exc, LayoutError) else "No such failure."
    return render(
        request,
        "clusters/what_if.html",
        {
            "cluster": cluster,
            "layout": layout,
            "choices": choices,
            "chosen": chosen,
            "seconds": seconds_text or DEFAULT_PAUSE_S,
            "outcome": outcome,
            "error": error,
            "advice": recommendations(layout),
        },
    )


def _run(request, operation, fallback):
    """Run one service for a page; a refusal becomes a message on the page it came from."""
    try:
        task = operation()
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect(fallback)
    return redirect("task-detail", pk=task.pk)


@require_POST
@role_required(ADMINISTER)
def hosts_check(request):
    return _run(request, lambda: host_services.hosts_check(actor=request.user), "host-list")


@require_POST
@role_required(ADMINISTER)
def host_accept(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    host_services.host_accept(host=host, actor=request.user)
    messages.success(request, f"{host} accepted; it joins the pool's auto-join cluster, if any.")
    return redirect("host-list")


@require_POST
@role_required(ADMINISTER)
def cluster_start(request, pk: int):
    cluster = get_object_or_404(Cluster, pk=pk)
    return _run(
        request,
        lambda: memberships.cluster_start(cluster=cluster, actor=request.user),
        cluster.get_absolute_url(),
    )


@require_POST
@role_required(ADMINISTER)
def cluster_reconcile(request, pk: int):
    cluster = get_object_or_404(Cluster, pk=pk)
    return _run(
        request,
        lambda: memberships.cluster_check_now(cluster=cluster, actor=request.user),
        cluster.get_absolute_url(),
    )


@require_POST
@role_required(ADMINISTER)
def membership_create(request, pk: int):
    cluster = get_object_or_404(Cluster, pk=pk)
    host = get_object_or_404(Host, pk=posted_id(request, "host"))
    return _run(
        request,
        lambda: memberships.membership_create(cluster=cluster, host=host, actor=request.user)[1],
        cluster.get_absolute_url(),
    )


@role_required(ADMINISTER)
def membership_destroy(request, pk: int):
    """Say what removing a node means before doing it, or why it cannot be done yet (a node
    still active: maintenance first); the POST does it."""
    membership = get_object_or_404(Membership.objects.select_related("cluster", "host"), pk=pk)
    if request.method == "POST":
        try:
            _membership, task = memberships.membership_destroy(
                membership=membership, actor=request.user
            )
        except ConsoleError as exc:
            if member_activity(membership) is None:  # else the page below says it, with a link
                messages.error(request, exc.message)
            return redirect("membership-destroy", pk=pk)
        return redirect("task-detail", pk=task.pk)
    others = membership.cluster.memberships.filter(left__isnull=True).exclude(pk=pk)
    return render(
        request,
        "clusters/membership_destroy.html",
        {
            "membership": membership,
            "others": others.select_related("host"),
            "activity": member_activity(membership),
            "known_down": membership.host is not None and host_known_down(membership.host),
            "impacts": quorum_impact(membership.host) if membership.host else [],
        },
    )


@role_required()
def host_io(request, pk: int):
    """A host's I/O paths: what is wrong, the fix, and the heartbeat lag over time."""
    host = get_object_or_404(Host, pk=pk)
    template = (
        "clusters/_host_io_live.html"
        if request.headers.get("HX-Request")
        else "clusters/host_io.html"
    )
    return render(request, template, {"host": host, "io": host_io_overview(host)})


@role_required()
def sr_io(request, pk: int):
    sr = get_object_or_404(SR.objects.select_related("lun", "cluster"), pk=pk)
    overview = sr_io_overview(sr)
    rows = Paginator(overview["rows"], MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "clusters/sr_io.html", {"o": overview, "page": rows})


@role_required(ADMINISTER)
def faults(request):
    """The drill panel: break and mend sandbox hosts and lab guests, watch health react."""
    lab = running_lab()
    if request.method == "POST":
        host = get_object_or_404(Host, pk=posted_id(request, "host"))
        try:
            said = fault_inject(
                host=host,
                fault=request.POST.get("fault", ""),
                target=request.POST.get("target", "").strip(),
                actor=request.user,
            )
        except ConsoleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{said} The next health round (every few seconds) shows it.")
        return redirect("faults")
    rows = []
    for host in Host.objects.filter(registration=HostRegistration.ACCEPTED).order_by("hostname"):
        catalogue = fault_catalogue(host, lab)
        if catalogue is not None:
            overview = host_io_overview(host, charts=False)
            rows.append((host, overview, catalogue, fault_targets(host, lab)))
    return render(request, "clusters/faults.html", {"rows": rows, "lab": lab})


@role_required()
def pool_list(request):
    """The pools; a pool-admin adds one here. A refusal keeps what was typed but the
    password."""
    form = PoolForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm(ADMINISTER):
            raise PermissionDenied
        if form.is_valid():
            try:
                pool = pool_services.pool_create(actor=request.user, **form.cleaned_data)
            except ConsoleError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Pool {pool} added; its hosts are being read.")
                return redirect(pool.get_absolute_url())
    return render(request, "clusters/pool_list.html", {"pools": pools_with_counts(), "form": form})


@role_required()
def pool_detail(request, pk: int):
    pool = get_object_or_404(Pool, pk=pk)
    form = PoolEditForm(
        request.POST or None,
        initial={
            "name": pool.name,
            "master_address": pool.master_address,
            "username": pool.username,
            "tls_verify": pool.tls_verify,
        },
    )
    if request.method == "POST":
        if not request.user.has_perm(ADMINISTER):
            raise PermissionDenied
        if form.is_valid():
            try:
                pool_services.pool_update(pool=pool, actor=request.user, **form.cleaned_data)
            except ConsoleError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Pool {pool} updated; connecting again.")
                return redirect(pool.get_absolute_url())
    context = {**pool_overview(pool), "form": form}
    if not request.user.has_perm(ADMINISTER):
        context["form"] = None  # read-only roles see no credentials, not even the user
    return render(request, "clusters/pool_detail.html", context)


@require_POST
@role_required(ADMINISTER)
def pool_destroy(request, pk: int):
    pool = get_object_or_404(Pool, pk=pk)
    try:
        pool_services.pool_destroy(pool=pool, actor=request.user)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect(pool.get_absolute_url())
    messages.success(request, f"Pool {pool} removed; its hosts are forgotten.")
    return redirect("pool-list")
