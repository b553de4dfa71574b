from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clusters.models import ClusterHostStatus, Membership
from clusters.services.memberships import membership_create, membership_destroy
from core.models import Task
from tests.conftest import api_client_for

from .factories import ClusterFactory, HostFactory, hold_every_number


def make_cluster(host_count=3, name="Pool"):
    cluster = ClusterFactory(name=name, cluster_name=name.lower())
    hosts = HostFactory.create_batch(host_count, boot_time=timezone.now())
    for host in hosts:
        membership_create(cluster=cluster, host=host, actor=None)
    return cluster, hosts


def report_restart_needed(cluster, hosts, departed: Membership):
    for host in hosts:
        ClusterHostStatus.objects.update_or_create(
            cluster=cluster,
            host=host,
            defaults={
                "reachable": True,
                "running": True,
                "needs_restart": True,
                "restart_reasons": [
                    f"node {departed.number} ({departed.hostname}) was removed "
                    "from cluster.conf but is still in the running cluster"
                ],
                "peers": [
                    {"number": departed.number, "hostname": departed.hostname, "state": "alive"}
                ],
            },
        )


def test_cluster_page_shows_members_beliefs_and_departed_nodes(client, readonly_user):
    cluster, hosts = make_cluster()
    leaving = Membership.objects.get(host=hosts[1])
    membership_destroy(membership=leaving, actor=None)
    survivors = [hosts[0], hosts[2]]
    report_restart_needed(cluster, survivors, leaving)
    client.force_login(readonly_user)
    html = client.get(reverse("cluster-detail", args=[cluster.pk])).content.decode()
    assert "3 of 255 node numbers held (1 by hosts that left)" in html
    assert f"after {hosts[0].hostname}, {hosts[2].hostname} restart" in html
    assert 'id="peer-matrix"' in html
    assert "Remove from cluster" not in html  # read-only: no buttons


def test_needs_restart_banner_is_on_every_page(client, readonly_user):
    cluster, hosts = make_cluster()
    leaving = Membership.objects.get(host=hosts[1])
    membership_destroy(membership=leaving, actor=None)
    report_restart_needed(cluster, [hosts[0], hosts[2]], leaving)
    client.force_login(readonly_user)
    for name in ["dashboard", "host-list", "task-list", "alert-list", "audit-list"]:
        html = client.get(reverse(name)).content.decode()
        assert "Pool needs a cluster restart" in html, name
        assert f"Node {leaving.number} ({leaving.hostname}) left" in html
        assert "rolling restart" in html


def test_membership_api_answers_202_with_the_task(admin_user):
    cluster = ClusterFactory()
    host = HostFactory()
    client = api_client_for(admin_user)
    response = client.post("/api/memberships/", {"cluster": cluster.pk, "host": host.pk})
    assert response.status_code == 202
    task = Task.objects.get(pk=response.json()["task_id"])
    assert response["Location"].endswith(f"/api/tasks/{task.pk}/")
    membership = Membership.objects.get(host=host)
    response = client.delete(f"/api/memberships/{membership.pk}/")
    assert response.status_code == 202
    membership.refresh_from_db()
    assert membership.left is not None


def test_operators_cannot_change_memberships(operator_user):
    cluster, hosts = make_cluster(1)
    client = api_client_for(operator_user)
    assert (
        client.post(
            "/api/memberships/", {"cluster": cluster.pk, "host": HostFactory().pk}
        ).status_code
        == 403
    )
    membership = Membership.objects.get(host=hosts[0])
    assert client.delete(f"/api/memberships/{membership.pk}/").status_code == 403
    membership.refresh_from_db()
    assert membership.left is None


def test_too_many_nodes_is_a_clear_api_error(admin_user):
    cluster = ClusterFactory()
    hold_every_number(cluster)
    response = api_client_for(admin_user).post(
        "/api/memberships/", {"cluster": cluster.pk, "host": HostFactory().pk}
    )
    assert response.status_code == 409
    assert "Restart the cluster" in response.json()["message"]


def test_a_256th_member_is_refused_through_the_api_by_o2cbs_limit(admin_user):
    cluster = ClusterFactory()
    hold_every_number(cluster, departed=0)
    response = api_client_for(admin_user).post(
        "/api/memberships/", {"cluster": cluster.pk, "host": HostFactory().pk}
    )
    assert response.status_code == 409
    body = response.json()
    assert "as many as O2CB allows in one cluster (O2NM_MAX_NODES" in body["message"]
    assert "hosts that left" not in body["message"]
    assert body["detail"]["limit"] == 255


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_queries_do_not_grow_with_the_pool(client, admin_user):
    make_cluster(3)
    api = api_client_for(admin_user)
    client.force_login(admin_user)
    urls = [
        "/api/hosts/",
        "/api/clusters/",
        "/api/memberships/",
        reverse("dashboard"),
        reverse("host-list"),
        reverse("cluster-list"),
    ]
    for url in urls:  # warm the per-user permission cache
        _queries(api if url.startswith("/api/") else client, url)
    small = {url: _queries(api if url.startswith("/api/") else client, url) for url in urls}
    cluster = make_cluster(0, name="Big")[0]
    for host in HostFactory.create_batch(20, boot_time=timezone.now()):
        membership_create(cluster=cluster, host=host, actor=None)
    large = {url: _queries(api if url.startswith("/api/") else client, url) for url in urls}
    assert large == small


def test_operations_asked_through_the_api_are_audited(admin_user):
    from core.models import AuditEvent

    cluster, _ = make_cluster(2)
    client = api_client_for(admin_user)
    assert client.post(f"/api/clusters/{cluster.pk}/reconcile/").status_code == 202
    assert client.post("/api/hosts/check/").status_code == 202
    assert client.post(f"/api/clusters/{cluster.pk}/start/").status_code == 202
    actions = set(
        AuditEvent.objects.filter(actor_name=admin_user.username).values_list("action", "outcome")
    )
    assert {
        ("cluster.check", "accepted"),
        ("hosts.check", "accepted"),
        ("cluster.start", "accepted"),
    } <= actions


def test_cluster_counts_are_not_multiplied_by_host_statuses(client, readonly_user):
    cluster, hosts = make_cluster(3)
    leaving = Membership.objects.get(host=hosts[2])
    membership_destroy(membership=leaving, actor=None)
    report_restart_needed(cluster, hosts[:2], leaving)
    client.force_login(readonly_user)
    text = " ".join(client.get(reverse("dashboard")).content.decode().split())
    assert "2 members, 3 of 255 node numbers held" in text


def test_a_pool_admin_creates_a_cluster_from_its_page_and_others_cannot(
    client, admin_user, readonly_user
):
    from clusters.models import Cluster

    HostFactory.create_batch(2)
    client.force_login(readonly_user)
    assert 'id="new-cluster"' not in client.get(reverse("cluster-list")).content.decode()
    assert (
        client.post(reverse("cluster-list"), {"name": "X", "cluster_name": "x"}).status_code == 403
    )
    client.force_login(admin_user)
    bad = client.post(reverse("cluster-list"), {"name": "Y", "cluster_name": "no spaces!"})
    assert "An O2CB cluster name is 1 to 16 letters and digits" in bad.content.decode()
    response = client.post(
        reverse("cluster-list"), {"name": "Storage", "cluster_name": "storage", "auto_join": "on"}
    )
    cluster = Cluster.objects.get(cluster_name="storage")
    assert response.url == cluster.get_absolute_url()
    assert sorted(cluster.memberships.values_list("number", flat=True)) == [0, 1]


def test_the_api_refuses_a_second_cluster_for_a_host_naming_host_and_cluster(admin_user):
    cluster, hosts = make_cluster(1, name="Pool")
    other = ClusterFactory(name="Other", auto_join=False)
    response = api_client_for(admin_user).post(
        "/api/memberships/", {"cluster": other.pk, "host": hosts[0].pk}
    )
    assert response.status_code == 409
    body = response.json()
    assert f"{hosts[0].hostname} is already node 0 of cluster Pool" in body["message"]
    assert body["detail"]["hostname"] == hosts[0].hostname
    assert body["detail"]["cluster"] == cluster.pk
    assert not other.memberships.exists()


def test_the_api_refuses_a_second_auto_join_cluster(admin_user):
    make_cluster(2, name="Pool")
    response = api_client_for(admin_user).post(
        "/api/clusters/", {"name": "Second", "cluster_name": "second"}, format="json"
    )
    assert response.status_code == 409
    assert "Pool already takes every new host" in response.json()["message"]


def test_the_cluster_page_refuses_a_second_auto_join_cluster_in_its_form(client, admin_user):
    from clusters.models import Cluster

    make_cluster(2, name="Pool")
    client.force_login(admin_user)
    response = client.post(
        reverse("cluster-list"), {"name": "Second", "cluster_name": "second", "auto_join": "on"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    form = html[html.index('id="new-cluster"') :]
    assert "Pool already takes every new host" in form, "the refusal is in the form"
    assert 'value="Second"' in form and 'value="second"' in form, "what was typed is kept"
    assert not Cluster.objects.filter(cluster_name="second").exists()


def test_the_cluster_page_offers_only_hosts_in_no_cluster(client, admin_user):
    _pool, hosts = make_cluster(1, name="Pool")
    other = ClusterFactory(name="Other", auto_join=False)
    free = HostFactory()
    client.force_login(admin_user)
    html = client.get(reverse("cluster-detail", args=[other.pk])).content.decode()
    assert f'<option value="{free.pk}">' in html
    assert f'<option value="{hosts[0].pk}">' not in html
    response = client.post(
        reverse("membership-create", args=[other.pk]), {"host": hosts[0].pk}, follow=True
    )
    assert f"{hosts[0].hostname} is already node 0 of cluster Pool" in response.content.decode()
    assert not other.memberships.exists()


def test_the_api_refuses_to_remove_a_running_member_with_409_and_the_next_step(admin_user):
    from .test_services import active_member

    _cluster, host, membership = active_member()
    response = api_client_for(admin_user).delete(f"/api/memberships/{membership.pk}/")
    assert response.status_code == 409
    body = response.json()
    assert "O2CB cannot remove a node that is still active" in body["message"]
    assert "Put sandbox-02 into maintenance first" in body["message"]
    assert body["detail"]["hostname"] == "sandbox-02" and body["detail"]["running"] is True
    assert body["detail"]["maintenance_page"] == reverse("host-maintenance", args=[host.pk])
    membership.refresh_from_db()
    assert membership.left is None


def test_the_removal_page_refuses_a_running_member_and_links_to_maintenance(client, admin_user):
    from .test_services import active_member

    _cluster, host, membership = active_member()
    client.force_login(admin_user)
    url = reverse("membership-destroy", args=[membership.pk])
    html = client.get(url).content.decode()
    assert 'id="removal-refused"' in html
    assert "Put sandbox-02 into maintenance first" in html
    assert f'href="{reverse("host-maintenance", args=[host.pk])}"' in html
    assert "Remove node 0 from the cluster" not in html, "no button for what is refused"
    response = client.post(url, follow=True)
    text = response.content.decode()
    assert "Put sandbox-02 into maintenance first" in text
    assert f'href="{reverse("host-maintenance", args=[host.pk])}"' in text
    membership.refresh_from_db()
    assert membership.left is None
