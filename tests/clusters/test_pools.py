"""XAPI pools: adding one, and keeping the console current from its master's event.from,
against the stand-in master (tests/xapi/master.py) over real HTTP."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.conf import settings
from django.test import override_settings

from clusters.choices import PoolState
from clusters.models import VM, Cluster, Host, Membership, Pool
from clusters.services.memberships import cluster_create, membership_create
from clusters.services.pools import pool_create, pool_destroy, pool_sync, pool_update
from clusters.xapi import master_address_problem, master_url
from core.errors import ConsoleError
from core.models import AuditEvent, Task
from tests.xapi.master import FakePool

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-pool-password"  # noqa: S105 - the stand-in's


@pytest.fixture
def master(settings):
    settings.POOL_RETRY_BACKOFF = 1.0
    settings.POOL_RETRY_BACKOFF_MAX = 4.0
    settings.XAPI_TIMEOUT = 5.0
    fake = FakePool(password=PASSWORD, name_label="Rack 1")
    first = fake.add_host(name_label="xs-01")
    second = fake.add_host(name_label="xs-02")
    fake.serve_host(first)
    fake.serve_host(second)
    yield fake
    fake.stop_all()


def address_of(fake: FakePool, ref: str) -> str:
    return fake.hosts[ref]["address"]


def add_pool(master: FakePool, actor, *, name="Rack 1", address=None, password=PASSWORD):
    """A pool-admin adds the stand-in's pool, by its master's address unless told another."""
    return pool_create(
        name=name,
        master_address=address or address_of(master, master.master_ref),
        username="root",
        password=password,
        tls_verify=False,
        actor=actor,
    )


@pytest.fixture
def added(master, admin_user):
    pool = add_pool(master, admin_user)
    assert pool_sync(pool_id=pool.pk, event_timeout=0.1)
    pool.refresh_from_db()
    return pool


def sync(pool: Pool) -> Pool:
    assert pool_sync(pool_id=pool.pk, event_timeout=0.5)
    pool.refresh_from_db()
    return pool


def test_adding_a_pool_reads_its_hosts_vms_and_srs(master, admin_user):
    web = master.add_vm(master.master_ref, "web")
    master.add_sr("Shared NFS", type="nfs")
    pool = add_pool(master, admin_user)
    assert pool.uuid is not None and pool.state == PoolState.CONNECTING
    pool = sync(pool)
    assert pool.state == PoolState.CONNECTED and pool.event_token
    hosts = list(pool.hosts.order_by("hostname"))
    assert [h.hostname for h in hosts] == ["xs-01", "xs-02"]
    assert all(h.registration == "accepted" and h.xapi_ref for h in hosts)
    vm = VM.objects.get(uuid=master.vms[web]["uuid"])
    assert vm.resident_on == hosts[0] and vm.power_state == "running"
    assert not VM.objects.filter(name__startswith="Control domain"), "dom0 is no VM of ours"
    (sr,) = pool.srs.values()
    assert sr["name"] == "Shared NFS" and sr["type"] == "nfs" and len(sr["pbds"]) == 2
    assert AuditEvent.objects.filter(action="pool.create", actor=admin_user).exists()


def test_a_member_address_is_followed_to_its_master(master, admin_user):
    member = next(ref for ref in master.hosts if ref != master.master_ref)
    pool = add_pool(master, admin_user, address=address_of(master, member))
    assert pool.master_address == address_of(master, master.master_ref)


@pytest.mark.parametrize(
    ("address", "password", "field", "words"),
    [
        ("http://127.0.0.1:9/", PASSWORD, "master_address", "cannot be reached"),
        (None, "wrong", "password", "refused the log-in"),
    ],
)
def test_a_pool_that_cannot_be_logged_in_is_refused_and_nothing_added(
    master, admin_user, address, password, field, words
):
    with pytest.raises(ConsoleError) as refused:
        add_pool(master, admin_user, address=address, password=password)
    assert words in refused.value.message and refused.value.detail["field"] == field
    assert not Pool.objects.exists()


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("Entering maintenance", "is not a host name"),  # what schemathesis sent: a 500
        ("-master.example.org", "is not a host name"),
        ("https://master:99999/", "is not a master's address"),
        ("ftp://master/", "is not a master's address"),
        ("https://root:secret@master/", "holds more than an address"),
        ("https://master/api?x=1", "holds more than an address"),
        ("master:0", "port 0 is not a port"),
    ],
)
def test_an_address_that_names_no_master_is_refused_before_any_connection(
    admin_user, address, words
):
    with pytest.raises(ConsoleError) as refused:
        pool_create(
            name="Rack 1",
            master_address=address,
            username="root",
            password=PASSWORD,
            actor=admin_user,
        )
    assert words in refused.value.message and refused.value.detail["field"] == "master_address"
    assert not Pool.objects.exists()


def test_a_bad_address_through_the_api_is_a_400_naming_the_field(admin_user):
    from tests.conftest import token_client_for

    answer = token_client_for(admin_user).post(
        "/api/pools/",
        {"name": "Rack 1", "master_address": "two words", "username": "root", "password": "x"},
        format="json",
    )
    assert answer.status_code == 400, answer.content
    assert "is not a host name" in answer.json()["message"]
    assert not Pool.objects.exists()


def test_a_bare_ipv6_master_is_reached_in_brackets():
    assert master_url("2001:db8::10") == "https://[2001:db8::10]/"
    assert master_address_problem("2001:db8::10") is None
    assert master_address_problem("[2001:db8::10]:8443") is None


def test_the_same_pool_twice_is_refused(added, master, admin_user):
    with pytest.raises(ConsoleError, match="already in the console as Rack 1"):
        add_pool(master, admin_user, name="Rack again", address=added.master_address)


def test_a_joining_host_is_accepted_and_queues_the_join_workflow(added, master, admin_user):
    cluster_create(name="Gold", cluster_name="gold", pool=added, actor=admin_user)
    assert Membership.objects.filter(cluster__pool=added).count() == 2
    new = master.join(name_label="xs-03")
    sync(added)
    host = Host.objects.get(hostname="xs-03")
    assert host.pool == added and host.xapi_ref == new and host.registration == "accepted"
    assert Membership.objects.filter(host=host, cluster__name="Gold", left__isnull=True).exists()
    assert Task.objects.filter(kind="maintenance.join", params__host=host.pk).exists()
    assert AuditEvent.objects.filter(action="host.accept", target_id=str(host.pk)).exists()


def test_a_host_its_own_agent_registers_while_the_sync_reads_it_is_taken_over(
    added, master, monkeypatch
):
    """The agent's report lands between the sync's look-up of the uuid and its insert."""
    from clusters.services import pools

    new = master.join(name_label="xs-03")
    record = master.hosts[new]
    checked = pools.node_name_problem

    def agent_registers_meanwhile(name):
        if not Host.objects.filter(uuid=record["uuid"]).exists():
            Host.objects.create(uuid=record["uuid"], hostname="xs-03", addresses=["10.0.0.3"])
        return checked(name)

    monkeypatch.setattr(pools, "node_name_problem", agent_registers_meanwhile)
    sync(added)
    host = Host.objects.get(uuid=record["uuid"])
    assert host.pool == added and host.xapi_ref == new and host.registration == "accepted"


def test_a_host_that_leaves_the_pool_is_forgotten(added, master, admin_user):
    cluster = cluster_create(name="Gold", cluster_name="gold", pool=added, actor=admin_user)
    leaving = next(ref for ref in master.hosts if ref != master.master_ref)
    name = master.hosts[leaving]["hostname"]
    master.eject(leaving)
    sync(added)
    assert not Host.objects.filter(hostname=name).exists()
    assert Membership.objects.get(cluster=cluster, hostname=name).left is not None
    assert AuditEvent.objects.filter(action="host.remove", message__contains="left pool").exists()


def test_a_host_removed_while_the_sync_holds_events_about_it_does_not_come_back(
    added, master, admin_user, monkeypatch
):
    """The removal (pool.eject, then forgotten) lands between the sync's event.from and
    its writing what it read: the host's record in that batch must not add it again."""
    from clusters.services import pools
    from maintenance.drivers import XenAPIDriver

    cluster_create(name="Gold", cluster_name="gold", pool=added, actor=admin_user)
    leaving = next(ref for ref in master.hosts if ref != master.master_ref)
    uuid = master.hosts[leaving]["uuid"]
    master.set("host", leaving, enabled=False)  # maintenance disabled it: an event
    apply_events = pools._apply_events

    def removed_meanwhile(pool, xapi, events):
        host = Host.objects.get(uuid=uuid)
        XenAPIDriver(pool).host_eject(host)
        host.delete()
        return apply_events(pool, xapi, events)

    monkeypatch.setattr(pools, "_apply_events", removed_meanwhile)
    sync(added)
    monkeypatch.setattr(pools, "_apply_events", apply_events)
    sync(added)  # the ejection's own event
    assert not Host.objects.filter(uuid=uuid).exists()
    assert not Task.objects.filter(kind="maintenance.join").exists()


def test_a_vm_that_moves_is_followed(added, master):
    web = master.add_vm(master.master_ref, "web")
    sync(added)
    other = next(ref for ref in master.hosts if ref != master.master_ref)
    master.vm_move(web, other)
    sync(added)
    assert VM.objects.get(name="web").resident_on.xapi_ref == other
    master.set("VM", web, power_state="Halted", resident_on="OpaqueRef:NULL")
    sync(added)
    vm = VM.objects.get(name="web")
    assert vm.power_state == "halted" and vm.resident_on is None


def test_a_new_crash_dump_queues_its_collection(added, master, monkeypatch):
    sent = []
    from celery import current_app

    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append((name, kw)))
    master.add_crashdump(master.master_ref)
    with pytest.MonkeyPatch.context():
        from django.db import transaction

        monkeypatch.setattr(transaction, "on_commit", lambda f, **kw: f())
        sync(added)
    host = added.hosts.get(xapi_ref=master.master_ref)
    assert ("crashes.collect_host_dumps", [host.pk]) in [(n, kw["args"]) for n, kw in sent]


def test_a_master_change_is_followed_and_syncing_goes_on(added, master):
    old = master.master_ref
    new = next(ref for ref in master.hosts if ref != old)
    master.designate_new_master(new)
    sync(added)
    assert added.master_address == address_of(master, new)
    assert AuditEvent.objects.filter(action="pool.master").exists()
    web = master.add_vm(new, "after-the-change")
    sync(added)
    sync(added)
    assert added.state == PoolState.CONNECTED, added.error
    assert VM.objects.filter(uuid=master.vms[web]["uuid"]).exists()


def test_a_lost_session_is_logged_in_again(added, master):
    master.expire_sessions()
    web = master.add_vm(master.master_ref, "web")
    sync(added)
    assert added.state == PoolState.CONNECTED
    assert VM.objects.filter(uuid=master.vms[web]["uuid"]).exists()


def test_a_session_lost_in_the_middle_of_a_full_read_is_logged_in_again(added, master):
    """xapi restarts between the token and the records: SESSION_INVALID mid-way."""
    dispatch = master.dispatch

    def restart_after_the_token(method, params, **kwargs):
        answer = dispatch(method, params, **kwargs)
        if method == "event.inject":
            master.expire_sessions()
        return answer

    master.dispatch = restart_after_the_token
    Pool.objects.filter(pk=added.pk).update(event_token="")
    web = master.add_vm(master.master_ref, "web")
    logins = master.calls.count("session.login_with_password")
    sync(added)
    assert added.state == PoolState.CONNECTED, added.error
    assert master.calls.count("session.login_with_password") > logins
    assert VM.objects.filter(uuid=master.vms[web]["uuid"]).exists()


def test_a_lost_master_backs_off_shows_why_and_recovers(added, master):
    old = master.master_ref
    master.stop_host_server(old)
    assert pool_sync(pool_id=added.pk, event_timeout=0.1)
    added.refresh_from_db()
    assert added.state == PoolState.LOST and "cannot be reached" in added.error
    assert added.failures == 1 and added.retry_at is not None
    assert not pool_sync(pool_id=added.pk), "not tried again before its backoff"
    first_wait = added.retry_at
    Pool.objects.filter(pk=added.pk).update(retry_at=None)
    pool_sync(pool_id=added.pk, event_timeout=0.1)
    added.refresh_from_db()
    assert added.failures == 2 and added.retry_at - first_wait > first_wait - first_wait
    # HA made the other host the master: the admin points the console at it.
    new = next(ref for ref in master.hosts if ref != old)
    master.designate_new_master(new)
    pool_update(pool=added, actor=None, master_address=address_of(master, new))
    added = sync(added)
    assert added.state == PoolState.CONNECTED and added.failures == 0 and not added.error


def test_refused_credentials_stop_retrying_until_edited(added, master, admin_user):
    master.password = "changed-on-the-pool"  # noqa: S105
    # xapi keeps the sessions it gave out: the console's kept one ends when xapi restarts
    # (or it expires), and the log-in after that is refused.
    master.expire_sessions()
    pool_sync(pool_id=added.pk, event_timeout=0.1)
    added.refresh_from_db()
    assert added.state == PoolState.REFUSED and added.retry_at is None
    assert not pool_sync(pool_id=added.pk)
    with pytest.raises(ConsoleError, match="refused the log-in"):
        pool_update(pool=added, actor=admin_user, password="still-wrong")
    pool_update(pool=added, actor=admin_user, password="changed-on-the-pool")
    assert sync(added).state == PoolState.CONNECTED


def test_a_pool_with_clusters_is_not_removed(added, admin_user):
    cluster_create(name="Gold", cluster_name="gold", pool=added, actor=admin_user)
    with pytest.raises(ConsoleError, match="still has its clusters Gold"):
        pool_destroy(pool=added, actor=admin_user)
    Cluster.objects.all().delete()
    pool_destroy(pool=added, actor=admin_user)
    assert not Pool.objects.exists() and not Host.objects.filter(xapi_ref__gt="").exists()


def test_a_cluster_takes_hosts_of_its_own_pool_only(added, admin_user):
    from tests.clusters.factories import HostFactory

    own_agent = HostFactory(registration="accepted")
    cluster = cluster_create(name="Gold", cluster_name="gold", pool=added, actor=admin_user)
    assert not Membership.objects.filter(host=own_agent).exists()
    with pytest.raises(ConsoleError, match="takes hosts of pool Rack 1 only"):
        membership_create(cluster=cluster, host=own_agent, actor=admin_user)
    # One auto-join cluster per pool: the hosts with their own agent may have theirs.
    cluster_create(name="Lab", cluster_name="lab", pool=None, actor=admin_user)
    with pytest.raises(ConsoleError, match="of pool Rack 1"):
        cluster_create(name="Silver", cluster_name="silver", pool=added, actor=admin_user)


def test_the_password_is_never_logged_audited_or_answered(master, admin_user, caplog, client):
    caplog.set_level(logging.DEBUG)
    client.force_login(admin_user)
    answer = client.post(
        "/api/pools/",
        {
            "name": "Rack 1",
            "master_address": address_of(master, master.master_ref),
            "username": "root",
            "password": PASSWORD,
            "tls_verify": False,
        },
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    pool = Pool.objects.get()
    sync(pool)
    pool_update(pool=pool, actor=admin_user, password=PASSWORD)
    pages = [
        client.get("/api/pools/").content,
        client.get(f"/api/pools/{pool.pk}/").content,
        client.get("/pools/").content,
        client.get(f"/pools/{pool.pk}/").content,
        client.get("/api/audit/").content,
    ]
    assert all(PASSWORD.encode() not in page for page in [answer.content, *pages])
    assert PASSWORD not in caplog.text
    assert not AuditEvent.objects.filter(message__contains=PASSWORD).exists()
    assert PASSWORD not in pool.password_encrypted


@pytest.mark.usefixtures("console_worker")
def test_beat_keeps_a_pool_current_through_the_rounds_worker(master, admin_user, transactional_db):
    with override_settings(POOL_SYNC_INTERVAL=0.5):
        pool = add_pool(master, admin_user)
        stop = threading.Event()

        def beat():
            from celery import current_app

            while not stop.wait(0.5):
                # Expiring, as beat's: a leftover send must not slow the tests after it.
                current_app.send_task(
                    "clusters.sync_pools", queue=settings.ROUNDS_QUEUE, expires=1.0
                )

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            web = master.add_vm(master.master_ref, "web")
            deadline = time.monotonic() + 30
            while not VM.objects.filter(uuid=master.vms[web]["uuid"]).exists():
                assert time.monotonic() < deadline, Pool.objects.get().error
                time.sleep(0.2)
            other = next(ref for ref in master.hosts if ref != master.master_ref)
            master.vm_move(web, other)
            while VM.objects.get(uuid=master.vms[web]["uuid"]).resident_on.xapi_ref != other:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        finally:
            stop.set()
            thread.join()
    assert Pool.objects.get(pk=pool.pk).state == PoolState.CONNECTED


def test_a_master_change_seen_in_an_event_moves_the_console_to_the_new_master(added, master):
    """HA or designate_new_master while the console waits in event.from: the pool's
    record names the new master, and the next log-in goes there directly."""
    old = master.master_ref
    new = next(ref for ref in master.hosts if ref != old)
    threading.Timer(0.3, master.designate_new_master, args=[new]).start()
    assert pool_sync(pool_id=added.pk, event_timeout=5.0)
    added.refresh_from_db()
    assert added.master_address == address_of(master, new)
    assert AuditEvent.objects.filter(action="pool.master", target_id=str(added.pk)).exists()
    web = master.add_vm(new, "web")
    sync(added)
    sync(added)
    assert added.state == PoolState.CONNECTED, added.error
    assert added.master_address == address_of(master, new), "the old address is not written back"
    assert VM.objects.filter(uuid=master.vms[web]["uuid"]).exists()


def test_a_pool_added_through_the_api_can_be_watched_logging_in(master, admin_user):
    from tests.conftest import token_client_for

    member = next(h["address"] for ref, h in master.hosts.items() if ref != master.master_ref)
    api = token_client_for(admin_user)
    answer = api.post(
        "/api/pools/",
        {
            "name": "Rack 1",
            "master_address": member,
            "username": "root",
            "password": PASSWORD,
            "tls_verify": False,
        },
        format="json",
        HTTP_PROGRESS_ID="pool-add-0123456789",
    )
    assert answer.status_code == 201, answer.content
    record = api.get("/api/progress/pool-add-0123456789/").json()
    the_master = address_of(master, master.master_ref)
    assert [note["doing"] for note in record["notes"]][1:] == [
        f"Logging in to {member} as root",
        f"{member} is not the pool master: logging in on {the_master}",
        "Reading the pool's record from its master",
    ]
    assert record["state"] == "finished" and record["status_code"] == 201
