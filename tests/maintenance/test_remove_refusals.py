"""Removing a host refuses one that O2CB still counts as active, as `o2cb remove-node` does."""

from clusters.models import PBD, ClusterHostStatus, Host, Membership
from maintenance.models import HostMaintenance
from tests.clusters.test_services import active_member
from tests.conftest import api_client_for


def remove(user, host, **body):
    return api_client_for(user).post(
        "/api/maintenance/remove/",
        {"host": host.pk, "confirm_name": host.hostname, **body},
        format="json",
    )


def in_maintenance(host):
    done = ["disable", "evacuate", "unplug", "leave", "await_reboot"]
    return HostMaintenance.objects.create(host=host, state="in", done=done)


def test_a_running_host_outside_maintenance_is_refused_saying_what_runs(admin_user):
    _cluster, host, _membership = active_member()
    response = remove(admin_user, host)
    assert response.status_code == 409
    message = response.json()["message"]
    assert message.startswith("sandbox-02 still runs O2CB in Pool (as last seen at ")
    assert "has Gold plugged, and O2CB cannot remove a node that is still active." in message
    assert "Put sandbox-02 into maintenance first" in message
    assert Host.objects.filter(pk=host.pk).exists()


def test_a_host_in_maintenance_that_runs_o2cb_again_is_refused(admin_user):
    _cluster, host, membership = active_member()
    in_maintenance(host)
    PBD.objects.update(plugged=False)  # maintenance unplugged it; O2CB runs again since
    response = remove(admin_user, host)
    assert response.status_code == 409
    message = response.json()["message"]
    assert message.startswith("sandbox-02 is in maintenance, yet it still runs O2CB in Pool")
    assert "exit maintenance and enter it again" in message
    assert Host.objects.filter(pk=host.pk).exists()
    membership.refresh_from_db()
    assert membership.left is None


def test_a_host_in_maintenance_stopped_and_unplugged_is_removed(admin_user):
    _cluster, host, _membership = active_member()
    in_maintenance(host)
    PBD.objects.update(plugged=False)
    ClusterHostStatus.objects.update(running=False)
    response = remove(admin_user, host)
    assert response.status_code == 200, response.json()
    assert not Host.objects.filter(pk=host.pk).exists()
    assert Membership.objects.get(hostname="sandbox-02").left is not None


def test_the_page_says_why_and_keeps_the_host(client, admin_user):
    _cluster, host, _membership = active_member()
    client.force_login(admin_user)
    response = client.post(
        f"/hosts/{host.pk}/remove/", {"confirm_name": host.hostname}, follow=True
    )
    html = response.content.decode()
    assert "sandbox-02 still runs O2CB in Pool" in html
    assert "Put sandbox-02 into maintenance first" in html
    assert Host.objects.filter(pk=host.pk).exists()


def test_the_page_says_the_removal_is_queued_and_links_its_task(client, admin_user):
    """The other members drop the node in a task that runs after the page answers: the
    page says it is queued and links that task, instead of calling it done."""
    from core.models import Task

    cluster, host, _membership = active_member()
    in_maintenance(host)
    PBD.objects.update(plugged=False)
    ClusterHostStatus.objects.update(running=False)
    client.force_login(admin_user)
    response = client.post(
        f"/hosts/{host.pk}/remove/", {"confirm_name": host.hostname}, follow=True
    )
    task = Task.objects.get(kind="clusters.reconcile", target_id=str(cluster.pk))
    assert task.status == "pending"
    html = response.content.decode()
    assert "sandbox-02 left the pool" in html
    assert f'<a href="/tasks/{task.pk}/">task {task.pk}</a>' in html
    assert "is queued" in html and "removed from the pool" not in html
