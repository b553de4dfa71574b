"""The pool pages, the API's pools and the dashboard grouped by pool."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusters.choices import PoolState
from clusters.models import Pool
from tests.clusters.factories import HostFactory
from tests.console.test_role_matrix import api_client_for

pytestmark = pytest.mark.django_db


def make_pools(count: int, hosts_each: int) -> list[Pool]:
    pools = []
    for n in range(count):
        pool = Pool.objects.create(
            name=f"Rack {n}",
            master_address=f"192.0.2.{n + 1}",
            username="root",
            password_encrypted="not-a-password",
            state=PoolState.LOST if n == 0 else PoolState.CONNECTED,
            error="The master of pool Rack 0 cannot be reached." if n == 0 else "",
            srs={"OpaqueRef:sr": {"uuid": f"sr-{n}", "name": f"NFS {n}", "type": "nfs",
                                  "shared": True, "pbds": {}}},
        )  # fmt: skip
        for _ in range(hosts_each):
            HostFactory(pool=pool, xapi_ref=f"OpaqueRef:host-{n}-{_}")
        pools.append(pool)
    return pools


def queries(client, url) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(ctx.captured_queries)


def test_the_dashboard_groups_hosts_by_pool_in_as_many_queries_for_more_pools(
    client, readonly_user
):
    client.force_login(readonly_user)
    HostFactory(hostname="own-agent")
    make_pools(1, 2)
    _page, few = queries(client, "/")
    for n in range(1, 4):
        pool = Pool.objects.create(
            name=f"More {n}", master_address=f"198.51.100.{n}", username="root",
            password_encrypted="x", state=PoolState.CONNECTED,
        )  # fmt: skip
        for m in range(3):
            HostFactory(pool=pool, xapi_ref=f"OpaqueRef:more-{n}-{m}")
    page, many = queries(client, "/")
    assert many == few, (few, many)
    assert page.index("Hosts with their own agent") < page.index("own-agent")
    assert page.index('data-pool="More 1"') < page.index('data-pool="Rack 0"')  # by name
    assert page.count('class="group"') == 5  # own agents, Rack 0, More 1..3
    assert "The master of pool Rack 0 cannot be reached." in page  # a lost pool is shown


def test_pools_pages_for_a_read_only_user_show_no_credentials(client, readonly_user):
    (pool,) = make_pools(1, 2)
    client.force_login(readonly_user)
    page = client.get("/pools/").content.decode()
    assert "Rack 0" in page and "NFS" not in page and "Add a pool" not in page
    detail = client.get(f"/pools/{pool.pk}/").content.decode()
    assert "NFS 0" in detail and "cannot be reached" in detail
    assert "Edit the connection" not in detail and 'name="username"' not in detail
    answer = api_client_for(readonly_user).get(f"/api/pools/{pool.pk}/").json()
    assert "username" not in answer and "password" not in answer
    assert answer["srs"][0]["name"] == "NFS 0" and len(answer["hosts"]) == 2
    assert api_client_for(readonly_user).post("/api/pools/", {}).status_code == 403


def test_the_pools_api_list_takes_as_many_queries_for_more_pools(admin_user):
    api = api_client_for(admin_user)
    make_pools(1, 2)
    api.get("/api/pools/")  # the user's permissions are read once per client
    with CaptureQueriesContext(connection) as few:
        assert api.get("/api/pools/").status_code == 200
    for n in range(3):
        pool = Pool.objects.create(
            name=f"More {n}", master_address=f"198.51.100.{n}", username="root",
            password_encrypted="x",
        )  # fmt: skip
        HostFactory(pool=pool)
    with CaptureQueriesContext(connection) as many:
        answer = api.get("/api/pools/").json()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert {p["name"] for p in answer["results"]} >= {"Rack 0", "More 2"}
    assert all(p["username"] == "root" for p in answer["results"])  # a pool-admin sees it


def test_a_refused_pool_on_the_page_keeps_what_was_typed_but_the_password(
    client, admin_user, settings
):
    settings.XAPI_TIMEOUT = 2.0
    client.force_login(admin_user)
    page = client.post(
        "/pools/",
        {
            "name": "Rack 9",
            "master_address": "http://127.0.0.1:9/",
            "username": "admin-user",
            "password": "typed-secret",
        },
    ).content.decode()
    assert "cannot be reached" in page
    assert 'value="Rack 9"' in page and 'value="admin-user"' in page
    assert "typed-secret" not in page
    assert not Pool.objects.exists()


def test_a_cluster_made_on_the_page_takes_its_pools_hosts_only(client, admin_user):
    (pool,) = make_pools(1, 2)
    HostFactory(hostname="own-agent")
    client.force_login(admin_user)
    answer = client.post(
        "/clusters/", {"name": "Gold", "cluster_name": "gold", "auto_join": "on", "pool": pool.pk}
    )
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    cluster = pool.clusters.get()
    members = set(cluster.memberships.values_list("hostname", flat=True))
    assert members == set(pool.hosts.values_list("hostname", flat=True))
    assert "own-agent" not in members
