"""`/metrics`: the console's state in Prometheus's text format, read from the database at
each scrape.

Every web worker answers a scrape alike, because nothing is counted in a process: the
collector reads the rows the rounds and the monitor keep (HostIOHealth, ClusterHostStatus,
Membership, Alert, Task, Host) in a fixed number of queries, whatever the number of hosts.
Names follow Prometheus's conventions (base units in the name, no `_total` on a gauge);
bonds reuse node_exporter's `node_bonding_slaves` / `node_bonding_active` with its `master`
label, plus `host`, since one console speaks for many hosts.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Min
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.exposition import generate_latest

from clusters.choices import HostRegistration, IOHealthState
from clusters.models import ClusterHostStatus, Host, HostIOHealth, Membership
from core.choices import TASK_FINISHED, AlertPriority
from core.models import Alert, Task
from core.permissions import VIEW
from core.selectors import no_role_message
from core.services import auth

NAMESPACE = "o2cb"
# The classic text format's type: Prometheus 2 (Debian 12 ships 2.42) reads it; the names
# here need none of version 1.0.0's UTF-8 escaping, so the text is the same.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Task durations are read over the tasks finished this long ago at most.
TASK_DURATION_WINDOW = timedelta(hours=24)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def _seconds(milliseconds) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _io_families() -> dict[str, GaugeMetricFamily]:
    region = ["host", "cluster", "region", "device"]
    return {
        "lag": _gauge(
            f"{NAMESPACE}_heartbeat_lag_seconds",
            "Time since the host last wrote its disk heartbeat to the region, from its last probe.",
            region,
        ),
        "dead": _gauge(
            f"{NAMESPACE}_heartbeat_dead_time_seconds",
            "O2CB's dead time for the region: a write late by this much fences the host.",
            region,
        ),
        "paths_up": _gauge(
            f"{NAMESPACE}_multipath_paths_up",
            "Working paths of a multipath map (dm active, checker ready).",
            ["host", "wwid"],
        ),
        "paths": _gauge(
            f"{NAMESPACE}_multipath_paths", "Paths of a multipath map.", ["host", "wwid"]
        ),
        # node_exporter's names and help, with `host`: one console speaks for many hosts.
        "slaves": _gauge(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            ["host", "master"],
        ),
        "active": _gauge(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            ["host", "master"],
        ),
        "to_fence": _gauge(
            f"{NAMESPACE}_host_time_to_fence_seconds",
            "Seconds before O2CB fences the host, while a fence is coming.",
            ["host"],
        ),
        "state": _gauge(
            f"{NAMESPACE}_host_io_health",
            "The host's I/O-path verdict: 1 for its current state, 0 for the others.",
            ["host", "state"],
        ),
        "checked": _gauge(
            f"{NAMESPACE}_host_io_checked_timestamp_seconds",
            "Unix time of the host's last I/O collection round.",
            ["host"],
        ),
    }


class ConsoleCollector:
    """A prometheus_client collector over the console's database (one per scrape)."""

    def collect(self):
        yield from self._io_health()
        yield from self._memberships()
        yield from self._alerts()
        yield from self._tasks()
        yield from self._agents()

    def _io_health(self):
        f = _io_families()
        # Only the parts of the probe read here: the multipath maps come as `luns`, the
        # few numbers per map a round keeps beside its verdict.
        rows = HostIOHealth.objects.values_list(
            "host__hostname",
            "state",
            "checked",
            "time_to_fence",
            "luns",
            "probe__heartbeat",
            "probe__bonds",
        ).order_by("host__hostname")
        for hostname, verdict, when, fence_in, luns, heartbeat, bonds in rows:
            for cluster in (heartbeat or {}).get("clusters", []):
                dead_s = _seconds(cluster.get("dead_ms"))
                for region in cluster.get("regions", []):
                    labels = [
                        hostname,
                        cluster.get("name") or "",
                        region.get("region") or "",
                        region.get("device") or "",
                    ]
                    if region.get("elapsed_ms") is not None:
                        f["lag"].add_metric(labels, _seconds(region["elapsed_ms"]))
                    if dead_s is not None:
                        f["dead"].add_metric(labels, dead_s)
            for wwid, view in (luns or {}).items():
                f["paths_up"].add_metric([hostname, wwid], view.get("up") or 0)
                f["paths"].add_metric([hostname, wwid], view.get("total") or 0)
            for bond in bonds or []:
                members = bond.get("slaves") or []
                labels = [hostname, bond.get("name") or "bond"]
                f["slaves"].add_metric(labels, len(members))
                up = sum(1 for s in members if s.get("mii_status") == "up")
                f["active"].add_metric(labels, up)
            if fence_in is not None:
                f["to_fence"].add_metric([hostname], fence_in)
            for name in IOHealthState.values:
                f["state"].add_metric([hostname, name], 1 if name == verdict else 0)
            f["checked"].add_metric([hostname], when.timestamp())
        yield from f.values()

    def _memberships(self):
        number = _gauge(
            f"{NAMESPACE}_member_node_number",
            "The host's O2CB node number in the cluster.",
            ["cluster", "host"],
        )
        state = _gauge(
            f"{NAMESPACE}_member_state",
            "O2CB on the member as the monitor last saw it: 1 for its current state "
            "(running, stopped, unreachable, unknown), 0 for the others.",
            ["cluster", "host", "state"],
        )
        restart = _gauge(
            f"{NAMESPACE}_member_needs_restart",
            "1 when the member runs O2CB with settings that take effect only at its restart.",
            ["cluster", "host"],
        )
        members = Membership.objects.filter(left=None, host__isnull=False).values_list(
            "cluster_id", "host_id", "cluster__name", "host__hostname", "number"
        )
        statuses = {
            (cluster_id, host_id): (reachable, running, needs_restart, queried)
            for cluster_id, host_id, reachable, running, needs_restart, queried in (
                ClusterHostStatus.objects.values_list(
                    "cluster_id", "host_id", "reachable", "running", "needs_restart", "queried"
                )
            )
        }
        for cluster_id, host_id, cluster, hostname, node in members.order_by(
            "cluster__name", "number"
        ):
            labels = [cluster, hostname]
            number.add_metric(labels, node)
            status = statuses.get((cluster_id, host_id))
            if status is None or status[3] is None:
                now = "unknown"
            elif not status[0]:
                now = "unreachable"
            else:
                now = "running" if status[1] else "stopped"
            for name in ("running", "stopped", "unreachable", "unknown"):
                state.add_metric([*labels, name], 1 if name == now else 0)
            restart.add_metric(labels, 1 if status and status[2] else 0)
        yield from (number, state, restart)

    def _alerts(self):
        alerts = _gauge(
            f"{NAMESPACE}_alerts_open",
            "Open (not cleared) alerts by priority, XAPI's scale: 1 is the most urgent.",
            ["priority", "priority_name"],
        )
        counts = dict(
            Alert.objects.filter(cleared=None)
            .values_list("priority")
            .annotate(count=Count("id"))
            .values_list("priority", "count")
        )
        for priority in AlertPriority:
            alerts.add_metric([str(priority.value), priority.label], counts.get(priority.value, 0))
        yield alerts

    def _tasks(self):
        tasks = _gauge(
            f"{NAMESPACE}_tasks",
            "Tasks the console holds, by kind and status (quiet periodic runs fold into one).",
            ["kind", "status"],
        )
        for kind, status, count in (
            Task.objects.order_by()
            .values_list("kind", "status")
            .annotate(count=Count("id"))
            .values_list("kind", "status", "count")
        ):
            tasks.add_metric([kind, status], count)
        yield tasks

        longest = _gauge(
            f"{NAMESPACE}_task_duration_max_seconds",
            "Longest run of a task of this kind among those finished in the last 24 hours.",
            ["kind"],
        )
        mean = _gauge(
            f"{NAMESPACE}_task_duration_mean_seconds",
            "Mean run of a task of this kind over those finished in the last 24 hours.",
            ["kind"],
        )
        oldest = _gauge(
            f"{NAMESPACE}_task_oldest_unfinished_started_timestamp_seconds",
            "Unix time the oldest unfinished task of this kind started (or was queued).",
            ["kind"],
        )
        took = ExpressionWrapper(F("finished") - F("started"), output_field=DurationField())
        for kind, most, average in (
            Task.objects.filter(
                status__in=TASK_FINISHED,
                started__isnull=False,
                finished__gte=timezone.now() - TASK_DURATION_WINDOW,
            )
            .order_by()
            .values_list("kind")
            .annotate(most=Max(took), average=Avg(took))
            .values_list("kind", "most", "average")
        ):
            longest.add_metric([kind], most.total_seconds())
            mean.add_metric([kind], average.total_seconds())
        for kind, since in (
            Task.objects.exclude(status__in=TASK_FINISHED)
            .order_by()
            .values_list("kind")
            .annotate(since=Min("created"))
            .values_list("kind", "since")
        ):
            oldest.add_metric([kind], since.timestamp())
        yield from (longest, mean, oldest)

    def _agents(self):
        heard = _gauge(
            f"{NAMESPACE}_agent_last_heard_timestamp_seconds",
            "Unix time the console last heard from the host's agent; age: time() - this.",
            ["host"],
        )
        for hostname, when in (
            Host.objects.filter(registration=HostRegistration.ACCEPTED, last_heard__isnull=False)
            .order_by("hostname")
            .values_list("hostname", "last_heard")
        ):
            heard.add_metric([hostname], when.timestamp())
        yield heard


def metrics_render() -> bytes:
    """The exposition text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector())
    return generate_latest(registry)


# The view ----------------------------------------------------------------------------------

# Prometheus sends `Authorization: Bearer <key>` (its `authorization` block's default type);
# `Token <key>` is what the API takes, so either works.
SCHEMES = ("bearer", "token")


def _refusal(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="o2cb-console metrics"'
    return response


@login_not_required  # a scraper has no session: its token is checked here
@require_GET
@gzip_page  # Prometheus asks for gzip; 255 hosts' text shrinks about fifteen-fold
def metrics_view(request) -> HttpResponse:
    """A scrape, for the holder of an API token whose user has a role (read-only suffices)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in SCHEMES or not key.strip():
        return _refusal(
            401, "Send an API token of a read-only user: Authorization: Bearer <token>."
        )
    try:
        token = auth.api_token_authenticate(key=key.strip())
    except auth.TokenRefused as exc:
        return _refusal(401, exc.message)
    if not token.user.has_perm(VIEW):
        return _refusal(403, no_role_message(token.user))
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE)
