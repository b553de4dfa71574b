"""Uploaded dumps are analysed by a real worker in a task: the API answers 202 with it,
the page shows it, and a failed analysis keeps nothing."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from core.choices import TaskStatus
from core.models import Task
from crashes.models import HostCrashdump
from tests.conftest import token_client_for, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FENCE_LOG = (
    b"Nov 25 10:00:00 h kernel: [ 9.0] (o2hb-AB,2917,2):o2hb_write_timeout:290 ERROR: "
    b"Heartbeat write timeout to device dm-3 after 60000 milliseconds\n"
    b"Nov 25 10:00:00 h kernel: [ 9.1] *** ocfs2 is very sorry to be fencing this system "
    b"by restarting ***\n"
)


def finished(task_id: int) -> Task | None:
    task = Task.objects.get(pk=task_id)
    return task if task.is_finished else None


def kept_files(settings) -> list[Path]:
    uploads = Path(settings.CRASH_STORE) / "uploads"
    return [f for f in uploads.rglob("*") if f.is_file()] if uploads.exists() else []


def test_an_api_upload_answers_202_and_a_worker_analyses_it(
    console_worker, operator_user, settings
):
    api = token_client_for(operator_user)
    answer = api.post(
        "/api/crashdumps/", {"file": SimpleUploadedFile("kern.log", FENCE_LOG)}, format="multipart"
    )
    assert answer.status_code == 202, answer.content
    assert answer["Location"] == answer.json()["task"]
    task = wait_for(lambda: finished(answer.json()["task_id"]), 30)
    assert task.status == TaskStatus.SUCCEEDED, task.error
    followed = api.get(answer.json()["task"]).json()
    assert followed["progress"] == 1.0
    assert [step["status"] for step in followed["steps"]] == ["succeeded", "succeeded"]
    crash = HostCrashdump.objects.get(pk=followed["result"]["crash"])
    assert crash.cause == "o2cb" and crash.source == "upload" and crash.details["device"] == "dm-3"
    assert api.get(f"/api/crashdumps/{crash.pk}/").json()["cause"] == "o2cb"
    assert len(kept_files(settings)) == 1, "the analysed dump is kept"
    assert not list(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("*")), "moved out of the spool"


def test_a_failed_analysis_removes_the_kept_file(console_worker, operator_user, settings):
    api = token_client_for(operator_user)
    memory_image = SimpleUploadedFile("vmcore", bytes(range(256)) * 16_384)  # 4 MiB, spooled
    answer = api.post("/api/crashdumps/", {"file": memory_image}, format="multipart")
    assert answer.status_code == 202, answer.content
    task = wait_for(lambda: finished(answer.json()["task_id"]), 30)
    assert task.status == TaskStatus.FAILED and "no readable log" in task.error
    assert kept_files(settings) == [], "a failed analysis keeps nothing"
    assert not list(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("*"))
    assert not HostCrashdump.objects.exists()


def test_a_page_upload_shows_its_task_and_then_the_crash(console_worker, client, operator_user):
    client.force_login(operator_user)
    response = client.post("/crashes/", {"file": SimpleUploadedFile("kern.log", FENCE_LOG)})
    assert response.status_code == 302 and response["Location"].startswith("/tasks/")
    task = Task.objects.get(kind="crashes.upload")
    assert response["Location"] == f"/tasks/{task.pk}/"
    assert "the analysis follows here" in client.get(response["Location"]).content.decode()
    wait_for(lambda: finished(task.pk), 30)
    crash = HostCrashdump.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert f'href="{crash.get_absolute_url()}" id="task-result"' in page


def test_refusals_before_the_body_answer_the_api_error_shape(client, readonly_user):
    api = APIClient()
    upload = {"file": SimpleUploadedFile("kern.log", FENCE_LOG)}
    anonymous = api.post("/api/crashdumps/", upload, format="multipart")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    assert set(anonymous.json()) == {"message", "detail"}
    upload = {"file": SimpleUploadedFile("kern.log", FENCE_LOG)}
    reader = token_client_for(readonly_user).post("/api/crashdumps/", upload, format="multipart")
    assert reader.status_code == 403 and "role" in reader.json()["message"]
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token nope")
    upload = {"file": SimpleUploadedFile("kern.log", FENCE_LOG)}
    assert bad_token.post("/api/crashdumps/", upload, format="multipart").status_code == 401
    client.force_login(readonly_user)
    page = client.post("/crashes/", {"file": SimpleUploadedFile("kern.log", FENCE_LOG)})
    assert page.status_code == 403 and "does not allow uploading" in page.content.decode()
    assert not Task.objects.exists()


def test_an_upload_states_when_it_crashed_through_the_api_and_the_page(
    console_worker, client, operator_user
):
    """A log with dmesg stamps only (seconds since boot) has no time of its own: the admin
    says when, in UTC."""
    dmesg = (
        Path(__file__).parents[1] / "agent/fixtures/crash/o2cb_disk_dmesg_reset.txt"
    ).read_bytes()
    api = token_client_for(operator_user)
    refused = api.post(
        "/api/crashdumps/",
        {"file": SimpleUploadedFile("console.txt", dmesg), "crashed_at": "last night"},
        format="multipart",
    )
    assert refused.status_code == 400 and "is not a time" in str(refused.json())
    answer = api.post(
        "/api/crashdumps/",
        {"file": SimpleUploadedFile("console.txt", dmesg), "crashed_at": "2026-11-25T06:10:00Z"},
        format="multipart",
    )
    assert answer.status_code == 202, answer.content
    task = wait_for(lambda: finished(answer.json()["task_id"]), 30)
    crash = HostCrashdump.objects.get(pk=task.result["crash"])
    assert crash.time.isoformat() == "2026-11-25T06:10:00+00:00"
    assert crash.details["time_stated_by"] == operator_user.username
    assert not crash.name.startswith("20"), "named after the upload, not a time"

    client.force_login(operator_user)
    upload = {"file": SimpleUploadedFile("console.txt", dmesg), "crashed_at": "25/11/2026"}
    page = client.post("/crashes/", upload)
    assert page.status_code == 200 and "is not a time" in page.content.decode()
    upload = {"file": SimpleUploadedFile("console.txt", dmesg), "crashed_at": "2026-11-25T07:00"}
    assert client.post("/crashes/", upload).status_code == 302
    task = wait_for(
        lambda: finished(Task.objects.filter(kind="crashes.upload").latest("pk").pk), 30
    )
    assert HostCrashdump.objects.get(pk=task.result["crash"]).time.hour == 7
