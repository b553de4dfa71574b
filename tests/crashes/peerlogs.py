"""Surviving hosts' kernel logs, written as the kernel and rsyslog write them, and read back
by the agent's own code (agent.crashdumps.peer_log_lines) when the console asks for them."""

from datetime import datetime
from pathlib import Path

from agent import contract
from agent.crashdumps import peer_log_lines
from agent.hostroot import HostRoot
from agent.sandbox.kernel import SandboxKernel
from clusters.models import Cluster, Host, Membership

# rsyslog's Debian layout: a kernel message goes to kern.log, syslog and messages alike.
EVERY_LOG = ("var/log/kern.log", "var/log/syslog", "var/log/messages")


class PeerLogs:
    """A transport (clusters.agents) that answers crash_peer_logs from the files each host
    keeps under its own directory; every other call is a mistake in the test."""

    def __init__(self, base: Path):
        self.base = base

    def root(self, host: Host) -> HostRoot:
        return HostRoot(self.base / host.hostname, SandboxKernel)

    def log(self, peer: Host, at: datetime, text: str, files=EVERY_LOG) -> None:
        """One kernel message `peer` logged at `at` (syslog's layout: no year)."""
        uptime = 86400 + at.timestamp() % 86400
        line = f"{at:%b %e %H:%M:%S} {peer.hostname} kernel: [{uptime:12.6f}] {text}\n"
        for relative in files:
            path = self.root(peer).path(relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as handle:
                handle.write(line)

    def send(self, host, call, kwargs, timeout):
        assert call == contract.CRASH_PEER_LOGS.name, f"unexpected call {call}"
        since = datetime.fromisoformat(kwargs["since"])
        until = datetime.fromisoformat(kwargs["until"])
        lines = peer_log_lines(self.root(host), since, until)
        answer = {"lines": lines}
        return {"contract": contract.CONTRACT_VERSION, "agent_version": "test", "answer": answer}


def one_cluster(*hosts: Host) -> Cluster:
    """Hosts in one cluster, numbered 0, 1, 2... in the order given."""
    from tests.clusters.factories import ClusterFactory

    cluster = ClusterFactory()
    for number, host in enumerate(hosts):
        Membership.objects.create(
            cluster=cluster, host=host, number=number, host_uuid=host.uuid, hostname=host.hostname
        )
    return cluster


def death_lines(
    logs: PeerLogs, survivor: Host, dead: Host, number: int, at, domain: str, master: int = 0
):
    """What a survivor's kernel logs when a peer's heartbeat writes hang and it fences
    (fs/ocfs2: heartbeat.c, tcp.c, stack_o2cb.c, dlm/dlmrecovery.c, journal.c); the first
    line at `at`. `master` is the survivor's own node number."""
    from datetime import timedelta

    node = f"node {dead.hostname} (num {number}) at 10.0.0.{number + 10}:7777"
    for seconds, text in (
        (
            0,
            f"o2hb: receive negotiate timeout message from node {number} on region {domain} "
            "(dm-0).",
        ),
        (30, f"o2net: Connection to {node} has been idle for 30.500 secs."),
        (30, f"o2net: No longer connected to {node}"),
        (61, f"o2cb: o2dlm has evicted node {number} from domain {domain}"),
        (62, f"o2dlm: Begin recovery on domain {domain} for node {number}"),
        (
            62,
            f"o2dlm: Node {master} (me) is the Recovery Master for the dead node {number} in "
            f"domain {domain}",
        ),
        (63, f"o2dlm: End recovery on domain {domain}"),
        (64, f"ocfs2: Begin replay journal (node {number}, slot {number}) on device (253,0)"),
        (64, f"ocfs2: End replay journal (node {number}, slot {number}) on device (253,0)"),
    ):
        logs.log(survivor, at + timedelta(seconds=seconds), text)


def departure_lines(logs: PeerLogs, survivor: Host, gone: Host, number: int, at, domain: str):
    """What a survivor's kernel logs when a peer leaves cleanly (O2CB stopped before a
    reboot; fs/ocfs2/dlm/dlmdomain.c, cluster/tcp.c)."""
    from datetime import timedelta

    logs.log(survivor, at, f"o2dlm: Node {number} leaves domain {domain} ( 0 ) 1 nodes")
    logs.log(
        survivor,
        at + timedelta(seconds=1),
        f"o2net: No longer connected to node {gone.hostname} (num {number}) at "
        f"10.0.0.{number + 10}:7777",
    )
