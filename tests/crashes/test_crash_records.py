"""Recording analysed dumps: alerts with guidance, idempotence, grouping, pages, API."""

import io
import zipfile

import pytest
from django.urls import reverse

from clusters.models import HostIOHealth
from core.models import Alert
from crashes import services
from crashes.models import HostCrashdump
from tests.clusters.factories import HostFactory
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

O2CB_DUMP = {
    "name": "20261125-061000-UTC",
    "size": 4096,
    "files": [{"name": "dom0.log", "size": 2048}, {"name": "xen.log", "size": 2048}],
    "analysis": {
        "cause": "o2cb",
        "explanation": "O2CB fenced the host: its disk heartbeat to dm-3 stalled for 60000 ms.",
        "evidence": [
            {"file": "dom0.log", "line": 2, "text": "o2hb_write_timeout: Heartbeat write timeout"},
        ],
        "crash_time": "2026-11-25T06:10:00+00:00",
        "details": {"mechanism": "disk_heartbeat", "device": "dm-3", "fence_method": "panic"},
    },
    "logs": {"dom0.log": "line one\no2hb_write_timeout: Heartbeat write timeout\nline 3\n"},
}


def bug_dump(name, frames="ocfs2_dlm_lock<-ocfs2_inode_lock"):
    return {
        "name": name,
        "analysis": {
            "cause": "bug",
            "explanation": "A kernel BUG in ocfs2.",
            "evidence": [{"file": "dom0.log", "line": 7, "text": "<script>alert(1)</script>"}],
            "crash_time": None,
            "details": {"failure": "kernel BUG at fs/ocfs2/dlmglue.c:1234!"},
            "signature": f"abc123 {frames}",
        },
    }


def test_an_o2cb_fence_is_recorded_once_with_its_alert_and_logs(django_capture_on_commit_callbacks):
    host = HostFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        crash = services.crashdump_record(host=host, dump=O2CB_DUMP, source="agent")
    assert len(callbacks) == 1, "the incident is collected once the row is committed"
    again = services.crashdump_record(host=host, dump=O2CB_DUMP, source="agent")
    assert again.pk == crash.pk and HostCrashdump.objects.count() == 1
    assert crash.cause == "o2cb" and crash.time.isoformat() == "2026-11-25T06:10:00+00:00"
    alert = Alert.objects.get(name="HOST_FENCED_BY_O2CB")
    assert alert.priority == 2
    assert "dm-3" in alert.message and "multipath" in alert.message
    assert crash.stored_logs == [{"name": "dom0.log", "file": "dom0.log", "first_line": 1}]


def test_bugs_are_grouped_by_signature(client, readonly_user):
    hosts = [HostFactory(), HostFactory()]
    services.crashdump_record(host=hosts[0], dump=bug_dump("a"), source="agent")
    services.crashdump_record(host=hosts[1], dump=bug_dump("b"), source="agent")
    services.crashdump_record(host=hosts[1], dump=bug_dump("c", "other"), source="agent")
    client.force_login(readonly_user)
    page = client.get(reverse("crash-list")).content.decode()
    assert "2 times on 2 hosts" in page
    assert "1 time on 1 host" in page


def test_after_a_crash_page_escapes_log_text_and_recommends(client, readonly_user):
    host = HostFactory()
    crash = services.crashdump_record(host=host, dump=bug_dump("x"), source="agent")
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "bug report bundle" in page


def test_after_a_crash_page_highlights_the_cited_log_lines(client, readonly_user):
    crash = services.crashdump_record(host=HostFactory(), dump=O2CB_DUMP, source="agent")
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    assert '<span class="cited"><span class="muted">     2</span> o2hb_write_timeout' in page
    assert "Fix the I/O path to dm-3" in page


def test_bug_report_bundle_holds_metadata_evidence_and_logs(client, readonly_user):
    host = HostFactory()
    HostIOHealth.objects.create(host=host, state="ok", since=host.created, checked=host.created)
    crash = services.crashdump_record(host=host, dump=O2CB_DUMP, source="agent")
    client.force_login(readonly_user)
    response = client.get(reverse("crash-bundle", args=[crash.pk]))
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(bundle.namelist()) == ["evidence.txt", "logs/dom0.log", "metadata.json"]
    assert host.hostname in bundle.read("metadata.json").decode()


def test_unanalysable_dumps_are_kept_as_bugs_to_report():
    crash = services.crashdump_record(
        host=HostFactory(),
        dump={"name": "odd", "analysis": None, "error": "truncated gzip"},
        source="agent",
    )
    assert crash.cause == "bug" and "truncated gzip" in crash.explanation


def test_api_lists_filters_and_acknowledges(operator_user, readonly_user):
    host = HostFactory()
    crash = services.crashdump_record(host=host, dump=O2CB_DUMP, source="agent")
    services.crashdump_record(host=host, dump=bug_dump("b"), source="agent")
    api = api_client_for(readonly_user)
    listed = api.get("/api/crashdumps/?cause=o2cb").json()
    assert [row["id"] for row in listed["results"]] == [crash.pk]
    assert listed["results"][0]["evidence"][0]["line"] == 2
    assert api.post(f"/api/crashdumps/{crash.pk}/acknowledge/").status_code == 403
    done = api_client_for(operator_user).post(f"/api/crashdumps/{crash.pk}/acknowledge/")
    assert done.status_code == 200 and done.json()["acknowledged"]
    groups = api.get("/api/bug-signatures/").json()["results"]
    assert groups[0]["count"] == 1 and groups[0]["signature"].startswith("abc123")


def upload_and_analyse(uploaded, host=None, crashed_at=None):
    """An upload, then its analysis as the worker runs it (tests/crashes/test_uploads.py
    runs it on a real worker)."""
    from core.services.tasks import task_claim

    stated = {"crashed_at": crashed_at} if crashed_at is not None else {}
    task = services.crashdump_upload(uploaded=uploaded, host=host, actor=None, **stated)
    return services.crashdump_upload_analyse(task=task_claim(task_id=task.pk))


def test_uploads_are_analysed_and_bad_ones_refused_with_nothing_kept(settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.errors import ConsoleError

    log = (
        b"Nov 25 10:00:00 h kernel: [ 9.0] (o2hb-AB,2917,2):o2hb_write_timeout:290 ERROR: "
        b"Heartbeat write timeout to device dm-3 after 60000 milliseconds\n"
        b"Nov 25 10:00:00 h kernel: [ 9.1] *** ocfs2 is very sorry to be fencing this system "
        b"by restarting ***\n"
    )
    crash = upload_and_analyse(SimpleUploadedFile("kern.log", log))
    assert crash.cause == "o2cb" and crash.source == "upload"
    assert crash.details["device"] == "dm-3"
    store = settings.CRASH_STORE / "uploads"
    kept = list(store.iterdir())
    for name, content, message in [
        ("core", bytes(range(256)) * 64, "no readable log"),
        ("empty.log", b"", "empty"),
    ]:
        with pytest.raises(ConsoleError, match=message):
            upload_and_analyse(SimpleUploadedFile(name, content))
    settings.CRASH_UPLOAD_MAX_BYTES = 10
    with pytest.raises(ConsoleError, match="limited to 10 bytes") as refused:
        upload_and_analyse(SimpleUploadedFile("k.log", log))
    assert refused.value.status_code == 413
    assert list(store.iterdir()) == kept, "a refused upload leaves nothing behind"


def test_an_unsafe_archive_upload_is_refused(tmp_path):
    import tarfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.errors import ConsoleError

    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        data = b"root:x:0:0\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ConsoleError, match="evil.tar"):
        upload_and_analyse(SimpleUploadedFile("evil.tar", archive.read_bytes()))


def test_a_long_logs_tail_highlights_the_lines_the_evidence_cites(tmp_path, client, readonly_user):
    """The agent keeps a long log's last 256 KiB; its lines keep their numbers in the file."""
    from pathlib import Path

    from agent.crashdumps import describe_dump

    fence = (
        Path(__file__).parents[1] / "agent/fixtures/crash/o2cb_disk_syslog_panic.log"
    ).read_text()
    dump = tmp_path / "20261125-100000-UTC"
    dump.mkdir()
    filler = "".join(
        f"Nov 25 09:{i // 600 % 60:02d}:00 xs-host-03 kernel: filler line {i}\n"
        for i in range(1, 20_001)
    )
    (dump / "dom0.log").write_text(filler + fence)
    described = describe_dump(dump)
    assert described["logs"]["dom0.log"]["first_line"] > 1, "only the tail is kept"
    crash = services.crashdump_record(host=HostFactory(), dump=described, source="agent")
    cited = next(e for e in crash.evidence if "o2hb_write_timeout" in e["text"])
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    assert f'<span class="muted">{cited["line"]:>6}</span> Nov 25 10:00:00' in page
    assert "o2hb_write_timeout" in page.split(f"{cited['line']:>6}</span>")[1].split("\n")[0]


def test_the_crash_page_draws_the_heartbeat_lag_of_the_minutes_before(client, readonly_user):
    from datetime import datetime, timedelta

    from clusters.iohealth.services import io_health_record
    from clusters.models import HealthSample
    from tests.clusters.test_io_health import probe

    host = HostFactory()
    io_health_record(host=host, probe=probe())
    region = host.io_health.probe["heartbeat"]["clusters"][0]["regions"][0]["region"]
    crash = services.crashdump_record(host=host, dump=O2CB_DUMP, source="agent")
    client.force_login(readonly_user)
    before = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    assert "no heartbeat samples of" in before
    crashed = datetime.fromisoformat(O2CB_DUMP["analysis"]["crash_time"])
    HealthSample.objects.bulk_create(
        HealthSample(
            host=host,
            metric="heartbeat_lag_ms",
            subject=region,
            time=crashed - timedelta(seconds=5 * i),
            value=2000.0 + 500 * (10 - i),
        )
        for i in range(1, 10)
    )
    page = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    assert "Disk heartbeat before the crash" in page and 'class="lag-line"' in page
    # The last 15 s bucket before the crash: samples of 6,500, 6,000 and 5,500 ms.
    assert "now 6000 ms" in page


# A log with nothing in it: a host's kern.log up to a silent end.
QUIET_LOG = (
    b"Nov 25 10:00:00 xs-host-02 kernel: [  100.000000] e1000e: eth0 NIC Link is Up 10 Gbps\n"
    b"Nov 25 10:02:30 xs-host-02 kernel: [  250.000000] device vif3.0 entered promiscuous mode\n"
)


def test_a_log_with_no_crash_signature_is_not_called_a_software_bug(client, readonly_user):
    """The design's cause stays `bug`; the pages say no signature was found and what
    evidence is missing, never that it was a bug to send to a vendor."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    crash = upload_and_analyse(SimpleUploadedFile("kern.log", QUIET_LOG), host=HostFactory())
    assert crash.cause == "bug", "the design's value for a crash nothing explains"
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    page = page.split("<main>")[1]
    assert ">No crash signature found</span>" in page and "cause-unknown" in page
    assert "Software bug" not in page and "vendor" not in page
    assert "No crash signature was found: nothing shows a software bug." in page
    missing = page.split('id="missing-evidence">')[1].split("</ul>")[0]
    assert "a crash dump: only a log was given" in missing
    assert "The logs end at" in page and "10:02:30 UTC with nothing about a crash" in page
    listed = client.get(reverse("crash-list")).content.decode()
    row = listed.split(f'data-crash="{crash.pk}"')[1].split("</tr>")[0]
    assert "No crash signature found" in row and "Software bug" not in row
    alert = Alert.objects.get(name="HOST_CRASH_UNEXPLAINED")
    assert "vendor" not in alert.message and "no crash signature" in alert.message.lower()
    assert not Alert.objects.filter(name="HOST_CRASHED_BY_A_BUG").exists()


def test_logs_that_stop_before_the_stated_crash_time_are_named_as_missing(client, readonly_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    crash = upload_and_analyse(SimpleUploadedFile("kern.log", QUIET_LOG))
    stated = crash.received.replace(month=11, day=25, hour=10, minute=20, second=0, microsecond=0)
    crash.time = stated  # as an admin stating the time would have it
    crash.save(update_fields=["time"])
    assert services.missing_evidence(crash)[-1] == (
        "the logs' last 18 minutes: they stop at 10:02:30 UTC, before the crash (10:20:00 UTC)"
    )
