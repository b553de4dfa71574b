"""Adding OCFS2 storage with the real worker, the real agent, mkfs.ocfs2 and o2cb."""

import pytest

from clusters.agents import agent
from clusters.models import PBD, SR, VDI, Host, Membership
from core.models import Task
from tests.clusters.factories import HostFactory
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import api_client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def add(user, cluster, luns, **extra):
    return api_client_for(user).post(
        "/api/storage/add/", {"cluster": cluster.pk, "luns": luns, **extra}, format="json"
    )


def test_two_luns_become_two_srs_heartbeating_and_plugged_everywhere(storage_pool, admin_user):
    cluster, _roots = storage_pool
    candidates = api_client_for(admin_user).get(f"/api/storage/luns/?cluster={cluster.pk}").json()
    assert len(candidates["luns"]) == 4 and candidates["silent_hosts"] == []
    first, second = (lun["scsi_id"] for lun in candidates["luns"][:2])
    luns = [{"scsi_id": first, "name": "Gold"}, {"scsi_id": second, "name": "Silver"}]

    preview = add(admin_user, cluster, luns, dry_run=True).json()
    assert preview["refusals"] == [] and len(preview["steps"]) == 8
    assert not SR.objects.exists(), "a dry run changes nothing"

    accepted = add(admin_user, cluster, luns)
    assert accepted.status_code == 202
    task = finished(Task.objects.get(pk=accepted.json()["task_id"]), timeout=120)
    assert task.status == "succeeded", (task.error, [s.message for s in task.steps.all()])
    assert sorted(SR.objects.values_list("name", flat=True)) == ["Gold", "Silver"]
    assert PBD.objects.filter(plugged=True).count() == 6
    assert VDI.objects.filter(cluster=cluster, vdi_type="o2cb_statefile").count() == 1
    for host in Host.objects.all():
        heartbeat = agent(host).io_probe().heartbeat
        assert heartbeat["summary"]["regions"] == 2, host
        formatted = {lun.scsi_id: lun.filesystem for lun in agent(host).lun_list()}
        assert formatted[first] == formatted[second] == "ocfs2"


def test_refusals(storage_pool, admin_user, operator_user, settings):
    cluster, roots = storage_pool
    candidates = api_client_for(admin_user).get(f"/api/storage/luns/?cluster={cluster.pk}").json()
    lun = candidates["luns"][2]["scsi_id"]
    assert add(operator_user, cluster, [{"scsi_id": lun, "name": "X"}]).status_code == 403

    # A LUN one member does not see.
    hidden = roots["sandbox-03"].path("etc/sandbox/hidden-luns")
    hidden.parent.mkdir(parents=True, exist_ok=True)
    hidden.write_text(lun + "\n")
    refused = add(admin_user, cluster, [{"scsi_id": lun, "name": "X"}])
    assert refused.status_code == 409 and "some members do not see it" in refused.json()["message"]
    hidden.write_text("")

    # A LUN that already holds a filesystem needs its id typed again.
    agent(Host.objects.first()).lun_format(lun, cluster="other", label="old", slots=4)
    refused = add(admin_user, cluster, [{"scsi_id": lun, "name": "X"}], dry_run=True).json()
    assert any("already holds a ocfs2 filesystem labelled old" in r for r in refused["refusals"])
    confirmed = add(
        admin_user,
        cluster,
        [{"scsi_id": lun, "name": "X", "confirm_overwrite": lun}],
        dry_run=True,
    ).json()
    assert confirmed["refusals"] == []

    # An SR name longer than an OCFS2 volume label (the SR's name is its label): refused
    # before anything is formatted, saying the limit, never cut to fit.
    refused = add(admin_user, cluster, [{"scsi_id": lun, "name": "x" * 5000}])
    assert refused.status_code == 409
    message = refused.json()["message"]
    assert "is 5000 bytes long, and an OCFS2 volume label" in message
    assert "at most 63 bytes" in message and "Nothing was cut" in message
    assert not SR.objects.filter(lun__scsi_id=lun).exists()

    # A member that does not answer.
    settings.AGENT_CALL_TIMEOUT = 2
    ghost = HostFactory(hostname="ghost")
    Membership.objects.create(
        cluster=cluster, host=ghost, number=9, hostname="ghost", host_uuid=ghost.uuid
    )
    refused = add(admin_user, cluster, [{"scsi_id": lun, "name": "X"}], dry_run=True).json()
    assert any("ghost did not answer" in r for r in refused["refusals"])


def test_two_concurrent_workflows_end_with_one_statefile(storage_pool, admin_user):
    from maintenance.storage import storage_add

    cluster, _roots = storage_pool
    candidates = api_client_for(admin_user).get(f"/api/storage/luns/?cluster={cluster.pk}").json()
    tasks = [
        storage_add(
            cluster=cluster,
            requests=[{"scsi_id": lun["scsi_id"], "name": f"SR{i}"}],
            actor=admin_user,
        )
        for i, lun in enumerate(candidates["luns"][:2])
    ]
    for task in tasks:
        assert finished(task, timeout=120).status == "succeeded", task.error
    assert VDI.objects.filter(cluster=cluster, vdi_type="o2cb_statefile").count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_statefile_creators_meet_on_one_vdi():
    """Eight creators at once (the workflows are serialised, but a statefile must stay one
    even if they were not): one makes it, the others find it."""
    import threading

    from django.db import connection

    from clusters.models import LUN, SR
    from maintenance.storage import statefile_find_or_create
    from tests.clusters.factories import ClusterFactory

    if connection.vendor != "postgresql":
        pytest.skip("concurrent inserts are checked on PostgreSQL (CI)")
    cluster = ClusterFactory()
    srs = [
        SR.objects.create(
            name=f"S{i}", cluster=cluster, lun=LUN.objects.create(scsi_id=f"36{i}", size=1)
        )
        for i in range(8)
    ]
    results, barrier = [], threading.Barrier(len(srs))

    def create(sr):
        try:
            barrier.wait()
            results.append(statefile_find_or_create(cluster=cluster, sr=sr))
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(sr,)) for sr in srs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({vdi.pk for vdi, _made in results}) == 1 and len(results) == 8
    assert [made for _vdi, made in results].count(True) == 1
    assert VDI.objects.filter(cluster=cluster, vdi_type="o2cb_statefile").count() == 1
