"""A pool reached only over XAPI: the stand-in master over real HTTP, its host.call_plugin
running the real plugin file on sandbox host roots, and the console's records of it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from django.db import transaction

from agent import storage
from agent.identity import hello
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san
from agent.sandbox.kernel import iter_sandbox_hosts
from clusters.models import VM, Host, Pool
from clusters.services.hosts import host_accept, host_record_report
from clusters.services.memberships import cluster_create, cluster_start
from core.models import Task
from maintenance.storage import storage_add
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import wait_for
from tests.pools import wait_until_monitor_sees_running

from .master import FakePool, serve
from .plugins import PluginRunner, wire_plugins


@dataclass
class XapiPool:
    master: FakePool
    runner: PluginRunner
    pool: Pool
    url: str
    stop: object
    hosts: list[Host] = field(default_factory=list)

    def add_host(self, sandbox_dir, hostname: str, address: str, *, accept=True) -> Host:
        """A sandbox host as a member of the pool: known to the master, reached through it,
        accepted (so it joins the auto-join cluster)."""
        root = create_sandbox_host(sandbox_dir, hostname, address=address)
        # The first host is the master, reached at the stand-in's own server; the others'
        # management addresses are their O2CB ones (nobody logs in there).
        management = address if self.master.hosts else self.url
        ref = self.master.add_host(root.uuid, name_label=hostname, address=management)
        host = host_record_report(report={**hello(root), "public_key": ""})
        Host.objects.filter(pk=host.pk).update(pool=self.pool, xapi_ref=ref)
        host.refresh_from_db()
        if accept:
            host = host_accept(host=host, actor=None)
        self.hosts.append(host)
        return host

    def add_vm(self, host: Host, name: str) -> VM:
        """A running VM in the master's records, and in the console's once its pool sync
        has read it there. The test writes no row itself: the sync, writing the same VM
        under its lock on the host, deadlocked with such a write."""
        ref = self.master.add_vm(host.xapi_ref, name)
        vm_uuid = self.master.vms[ref]["uuid"]
        return wait_for(
            lambda: VM.objects.filter(uuid=vm_uuid, resident_on=host).first(),
            60,
            0.2,
            f"the pool sync never read the VM {name}",
        )


@pytest.fixture
def xapi_pool(sandbox_dir, settings):
    """An empty pool at a stand-in master; `add_host` gives it sandbox hosts."""
    from clusters.xapi import pool_session_forget
    from core.secrets import secret_encrypt

    master = FakePool()
    runner = PluginRunner(sandbox_dir)
    wire_plugins(master, runner)
    url, stop = serve(master)
    pool = Pool.objects.create(
        name="xcp-pool",
        master_address=url,
        username=master.username,
        password_encrypted=secret_encrypt(master.password),
        tls_verify=False,
    )
    pool_session_forget(pool)
    yield XapiPool(master, runner, pool, url, stop)
    stop()
    pool_session_forget(pool)


def _beat(stop: threading.Event, every: float, tasks: list[str]) -> None:
    """What beat does on a console with pools: ask the rounds queue to poll the pool's
    hosts (their stand-in for reports) and to sync the pools, here every `every` s."""
    from celery import current_app
    from django.conf import settings

    while not stop.wait(every):
        for task in tasks:
            current_app.send_task(task, queue=settings.ROUNDS_QUEUE, expires=every * 2)


@pytest.fixture
def xapi_cluster(xapi_pool, sandbox_dir, console_worker, settings):
    """Three pool hosts reached only over XAPI, members of a started auto-join cluster,
    with the console's worker and a beat-like poll of their hellos and sync of the pool."""
    settings.AGENT_CALL_TIMEOUT = 30
    settings.POOL_HOST_POLL_INTERVAL = 1.0
    create_sandbox_san(sandbox_dir)
    with transaction.atomic():
        cluster = cluster_create(
            name="OCFS2 pool cluster",
            cluster_name="pool",
            hosts=[],
            pool=xapi_pool.pool,
            actor=None,
        )
        # The first host in the pool is its master: the last by name, as the workflows'
        # tests work on the first (a master cannot be ejected, so not removed).
        for index in (3, 2, 1):
            xapi_pool.add_host(sandbox_dir, f"sandbox-{index:02d}", f"127.0.1.{index}")
        cluster_start(cluster=cluster, actor=None)
    stop = threading.Event()
    tasks = ["clusters.poll_pool_hosts", "clusters.sync_pools"]
    poller = threading.Thread(target=_beat, args=(stop, 1.0, tasks), daemon=True)
    poller.start()
    start = Task.objects.filter(kind="clusters.start").latest("pk")
    assert finished(start).status == "succeeded", start.error
    roots = {r.hostname: r for r in iter_sandbox_hosts(sandbox_dir)}
    yield cluster, roots
    stop.set()
    poller.join()


@pytest.fixture
def xapi_maintenance_pool(xapi_pool, xapi_cluster, settings):
    """As tests/pools.py's maintenance_pool, over XAPI: the SR Gold mounted by the host
    plugin on every member, three VMs running on the first host."""
    cluster, roots = xapi_cluster
    hosts = list(Host.objects.order_by("hostname"))
    scsi_id = storage.list_luns(next(iter(roots.values())))[0]["scsi_id"]
    added = storage_add(
        cluster=cluster, requests=[{"scsi_id": scsi_id, "name": "Gold"}], actor=None
    )
    assert finished(added, timeout=180).status == "succeeded", added.error
    wait_until_monitor_sees_running(cluster, 3)
    for name in ("web", "db", "mail"):
        xapi_pool.add_vm(hosts[0], name)
    return hosts, roots
