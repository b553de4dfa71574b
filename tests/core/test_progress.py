"""A request that waits on hosts can be watched while it waits: `Progress-Id` and
`GET /api/progress/<id>/`."""

import threading
import uuid

import pytest

from tests.conftest import token_client_for, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def slow(roots, hostname: str, seconds: float) -> None:
    root = roots[hostname]
    root.path("etc/sandbox").mkdir(parents=True, exist_ok=True)
    root.path("etc/sandbox/agent-delay").write_text(f"{seconds}\n")


def test_a_wait_on_hosts_says_who_answered_and_who_is_awaited(storage_pool, admin_user):
    cluster, roots = storage_pool
    slow(roots, "sandbox-03", 3)
    sender, watcher = token_client_for(admin_user), token_client_for(admin_user)
    progress_id = str(uuid.uuid4())
    answer = {}

    def ask():
        answer["luns"] = sender.get(
            f"/api/storage/luns/?cluster={cluster.pk}", HTTP_PROGRESS_ID=progress_id
        )

    asking = threading.Thread(target=ask)
    asking.start()
    seen = []

    def read():
        record = watcher.get(f"/api/progress/{progress_id}/")
        if record.status_code == 200:
            seen.append(record.json())
            return record.json()["state"] == "finished"
        return False

    wait_for(read, timeout=30, interval=0.1)
    asking.join()
    assert answer["luns"].status_code == 200
    while_waiting = [r for r in seen if r["state"] == "running" and r["total"] == 3]
    assert any(
        r["done"] == 2 and r["doing"] == "2 of 3 hosts answered; waiting for sandbox-03"
        for r in while_waiting
    ), [r["doing"] for r in seen]
    assert all(r["gives_up_after"] == 10 for r in while_waiting), "the agents' call timeout"
    last = seen[-1]
    assert last["status_code"] == 200 and last["path"] == "/api/storage/luns/"
    assert last["doing"] == "3 of 3 hosts answered" and last["elapsed"] >= 3
    assert [note["doing"] for note in last["notes"]][-2:] == [
        "2 of 3 hosts answered; waiting for sandbox-03",
        "3 of 3 hosts answered",
    ]


def test_only_its_sender_reads_a_requests_progress(storage_pool, admin_user, operator_user):
    cluster, _roots = storage_pool
    progress_id = uuid.uuid4().hex
    sender = token_client_for(admin_user)
    sender.get(f"/api/storage/luns/?cluster={cluster.pk}", HTTP_PROGRESS_ID=progress_id)
    assert sender.get(f"/api/progress/{progress_id}/").json()["state"] == "finished"
    other = token_client_for(operator_user).get(f"/api/progress/{progress_id}/")
    assert other.status_code == 404
    assert "No request of yours" in other.json()["message"]


def test_a_malformed_progress_id_is_refused_before_anything_is_done(admin_user):
    from clusters.models import Pool

    answer = token_client_for(admin_user).post(
        "/api/pools/",
        {"name": "a", "master_address": "x", "username": "root", "password": "p"},
        format="json",
        HTTP_PROGRESS_ID="not an id!",
    )
    assert answer.status_code == 400
    assert "16 to 64 letters" in answer.json()["message"]
    assert not Pool.objects.exists()
