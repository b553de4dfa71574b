"""What must hold before a workflow takes a host out of service, and after it comes back.

One set of checks, used by the previews, when a workflow starts and, in a rolling restart,
again before each host (on the members' answers of that moment). Each check returns the
refusals it finds, each a sentence that says what is wrong and the fix; none changes
anything. After a host rejoins, `rejoin_problems` says what keeps it from being back.
"""

from __future__ import annotations

from clusters.agents import agent
from clusters.models import PBD, SR, Cluster, ClusterHostStatus, Host
from clusters.monitor import cluster_status_record
from clusters.selectors.clusters import timeout_differences
from clusters.selectors.hosts import host_known_down, quorum_impact

from .models import HostMaintenance

CHECK_AGAIN = "press Check and converge now, on the cluster's page"


# Of a cluster -----------------------------------------------------------------------------


def settings_differ(cluster: Cluster) -> list[str]:
    """O2CB refuses to connect nodes whose timeouts differ: a host restarted now would not
    rejoin its peers."""
    statuses = ClusterHostStatus.objects.filter(cluster=cluster, reachable=True).select_related(
        "host"
    )
    differences = timeout_differences({s.host.hostname: s.timeouts for s in statuses})
    if not differences:
        return []
    return [
        f"{cluster}: "
        + " ".join(differences)
        + " O2CB refuses to connect nodes whose timeouts differ, so a host restarted now "
        "would not rejoin the others. Set the same values in the o2cb settings file "
        "(/etc/sysconfig/o2cb on XenServer and XCP-ng, /etc/default/o2cb on Debian) on every "
        "host, take the odd ones through maintenance (enter, Reboot host, exit), then restart."
    ]


def members_not_running(cluster: Cluster, members: list[Host]) -> list[str]:
    """Every member but those in maintenance must run the cluster: taking one more host
    out while another is already down leaves fewer nodes than the admin counts on."""
    resting = set(HostMaintenance.objects.filter(host__in=members).values_list("host", flat=True))
    statuses = {s.host_id: s for s in ClusterHostStatus.objects.filter(cluster=cluster)}
    refusals = []
    for host in members:
        if host.pk in resting:
            continue
        status = statuses.get(host.pk)
        if host_known_down(host):
            refusals.append(
                f"{host} is not running: its agent has not reported since "
                + (f"{host.last_heard:%Y-%m-%d %H:%M:%S} UTC" if host.last_heard else "it joined")
                + ". Bring it back (or remove it, if it is dead) before restarting the others."
            )
        elif status is None:
            refusals.append(f"{host} has not been checked in {cluster} yet: {CHECK_AGAIN}.")
        elif not status.reachable:
            refusals.append(
                f"{host} does not answer ({status.error or 'no answer'}). Bring its agent "
                f"back, then {CHECK_AGAIN}."
            )
        elif not status.running:
            seen = f" (as last seen at {status.queried:%H:%M:%S} UTC)" if status.queried else ""
            refusals.append(
                f"{host} does not run {cluster}{seen}. Start it there (Start on every member, "
                "on the cluster's page), then restart."
            )
    return refusals


def srs_not_plugged(cluster: Cluster, members: list[Host]) -> list[str]:
    """Each SR of the cluster plugged on every member (but those in maintenance): a
    restart puts back what each host had, so an SR missing somewhere stays missing."""
    resting = set(HostMaintenance.objects.filter(host__in=members).values_list("host", flat=True))
    working = [host for host in members if host.pk not in resting]
    refusals = []
    for sr in SR.objects.filter(cluster=cluster).order_by("name"):
        plugged = set(
            PBD.objects.filter(sr=sr, plugged=True, host__in=working).values_list("host", flat=True)
        )
        missing = [host.hostname for host in working if host.pk not in plugged]
        if missing:
            refusals.append(
                f"SR {sr.name} is not plugged on {', '.join(missing)}. Plug it there first "
                "(or take that host through maintenance and back, which plugs its SRs)."
            )
    return refusals


# Of one host --------------------------------------------------------------------------------


def evacuation_blockers(host: Host, driver, blockers=None) -> list[str]:
    """VMs that cannot move off the host (the pool driver's answer, or `blockers`)."""
    blockers = driver.evacuation_blockers(host) if blockers is None else blockers
    return [f"{b.vm_name} cannot leave {host}: {b.reason}. {b.fix}" for b in blockers]


def quorum_after(host: Host, impact: list[dict] | None = None) -> list[str]:
    """No cluster with storage may be left without a heartbeating node."""
    impact = quorum_impact(host) if impact is None else impact
    return [
        f"{host} is the last host running cluster {cluster['cluster']}, whose storage would "
        "become unreachable: start the cluster on another member first."
        for cluster in impact
        if cluster["heartbeating_after"] == 0
        and cluster["heartbeating_now"]
        and cluster["has_storage"]
    ]


def host_refusals(host: Host, driver, impact=None, blockers=None) -> list[str]:
    """What stops this host from leaving service now: VMs that cannot move, quorum."""
    return evacuation_blockers(host, driver, blockers) + quorum_after(host, impact)


def restart_refusals(cluster: Cluster, members: list[Host], hosts: list[Host], driver) -> list[str]:
    """The rolling restart's checks: of the cluster, then of each of `hosts` (all of them
    before it starts, the next one before each host)."""
    refusals = (
        settings_differ(cluster)
        + members_not_running(cluster, members)
        + srs_not_plugged(cluster, members)
    )
    for host in hosts:
        refusals += host_refusals(host, driver)
    return refusals


# After a host rejoined ----------------------------------------------------------------------


def rejoin_problems(host: Host, cluster: Cluster) -> tuple[list[str], str]:
    """What keeps `host` from being back in `cluster`, from its agent now: O2CB runs there,
    its own heartbeat is live, it is connected to every node it sees heartbeating, and the
    cluster's SRs are plugged on it. Answers (problems, what was found when all is well)."""
    client = agent(host)
    query = client.cluster_query(cluster.cluster_name)
    cluster_status_record(cluster=cluster, host=host, report=query)
    if not query.running:
        return [f"O2CB does not run {cluster} on {host}."], ""
    problems = []
    alive = {node.number: node.hostname for node in query.hosts if node.state == "alive"}
    if query.local_node not in alive:
        problems.append(f"{host}'s own heartbeat in {cluster} is not live.")
    beat = next(
        (
            c
            for c in client.io_probe().heartbeat.get("clusters", [])
            if c.get("name") == cluster.cluster_name
        ),
        {},
    )
    if SR.objects.filter(cluster=cluster).exists() and not beat.get("regions"):
        problems.append(f"{host} heartbeats on none of {cluster}'s volumes.")
    connected = beat.get("connected_nodes")
    peers = {number: name for number, name in alive.items() if number != query.local_node}
    if connected is not None:
        apart = sorted(name for number, name in peers.items() if number not in connected)
        if apart:
            problems.append(
                f"O2CB refuses to connect {host} to {', '.join(apart)}, which it sees "
                "heartbeating." + _why_apart(cluster)
            )
    unplugged = sorted(
        PBD.objects.filter(host=host, sr__cluster=cluster, plugged=False).values_list(
            "sr__name", flat=True
        )
    )
    if unplugged:
        problems.append(f"SR {', '.join(unplugged)} is not plugged on {host}.")
    seen = (
        f"connected to {len(peers)} peer{'s' if len(peers) != 1 else ''}"
        if connected is not None
        else "its connections could not be read"
    )
    return problems, f"O2CB runs {cluster} with a live heartbeat, {seen}"


def _why_apart(cluster: Cluster) -> str:
    differences = settings_differ(cluster)
    return (
        " " + differences[0].split(": ", 1)[1]
        if differences
        else " Check its network to them (and its O2CB settings against theirs)."
    )
