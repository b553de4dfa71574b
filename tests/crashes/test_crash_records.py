"""Recording analysed dumps: alerts with guidance, idempotence, grouping, pages, API."""

import io
import zipfile
from hashlib import sha256

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
            # As agent.crash.trace.signature makes them: a hash of the failure, then it.
            "signature": f"{sha256(frames.encode()).hexdigest()[:12]} kernel_bug: {frames}",
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
    assert sorted(bundle.namelist()) == [
        "evidence.txt",
        "io-before.json",
        "logs/dom0.log",
        "metadata.json",
    ]
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
    assert groups[0]["count"] == 1 and groups[0]["signature"].endswith("ocfs2_inode_lock")


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


def test_a_signature_group_has_its_own_page_and_an_upload_is_no_host(client, readonly_user):
    from datetime import datetime, timedelta

    from django.utils.html import escape

    host, other = HostFactory(), HostFactory()
    first = datetime.fromisoformat("2026-11-20T08:00:00+00:00")
    crashes = []
    for name, on, when in (
        ("a", host, first),
        ("b", host, first + timedelta(days=2)),
        ("c", None, first + timedelta(days=4)),  # uploaded, naming no host
    ):
        dump = bug_dump(name)
        dump["analysis"]["crash_time"] = when.isoformat()
        crashes.append(services.crashdump_record(host=on, dump=dump, source="agent"))
    services.crashdump_record(host=other, dump=bug_dump("d", "other"), source="agent")
    client.force_login(readonly_user)
    listed = client.get(reverse("crash-list")).content.decode()
    groups = listed.split('id="bug-groups">')[1].split("</ul>")[0]
    assert "3 times on 1 host and 1 upload of no named host" in groups
    url = reverse("crash-signature", args=[crashes[0].signature_key])
    assert f'href="{url}"' in groups
    page = client.get(url).content.decode()
    assert escape(crashes[0].signature) in page
    rows = page.split('id="group-crashes">')[1]
    assert all(f'href="{c.get_absolute_url()}"' in rows for c in crashes)
    assert other.hostname not in page, "another signature's crash is not in the group"
    facts = page.split('id="group-facts">')[1].split("</dl>")[0]
    assert f"<dd>{host.hostname}; and 1 upload that named no host</dd>" in facts
    assert "<dt>First seen</dt><dd>2026-11-20 08:00:00 UTC</dd>" in facts
    assert "<dt>Last seen</dt><dd>2026-11-24 08:00:00 UTC</dd>" in facts
    detail = client.get(crashes[0].get_absolute_url()).content.decode()
    assert f'href="{url}"' in detail, "a crash links to its group"
    assert client.get(reverse("crash-signature", args=["0123456789ab"])).status_code == 404
    api = api_client_for(readonly_user)
    listed = {g["key"]: g for g in api.get("/api/bug-signatures/").json()["results"]}
    assert (
        listed[crashes[0].signature_key]["hosts"],
        listed[crashes[0].signature_key]["without_host"],
    ) == (1, 1)
    group = api.get(f"/api/bug-signatures/{crashes[0].signature_key}/").json()
    assert group["host_names"] == [host.hostname] and group["count"] == 3
    assert sorted(c["id"] for c in group["crashes"]) == sorted(c.pk for c in crashes)


def test_the_bundle_carries_every_log_read_the_peers_timeline_and_the_io_before(
    tmp_path, client, readonly_user, peer_logs
):
    """A sandbox-like dump: dom0.log holds the fence, xen.log only that dom0 crashed; the
    bundle holds both, what the peers saw, and the I/O state of the minutes before."""
    import json
    from datetime import timedelta

    from django.utils import timezone

    from agent.crashdumps import describe_dump
    from clusters.iohealth.services import io_health_record
    from tests.clusters.test_io_health import probe
    from tests.crashes.peerlogs import death_lines, one_cluster

    survivor, host = HostFactory(), HostFactory()
    one_cluster(survivor, host)
    io_health_record(host=host, probe=probe(lag_ms=52000))  # late writes, an alert, samples
    crashed = timezone.now().replace(microsecond=0) + timedelta(seconds=5)
    dump = tmp_path / f"{crashed:%Y%m%d-%H%M%S}-UTC"
    dump.mkdir()
    region = "6C0D2A4E50A1B2C3D4E5F60718293A4B"
    (dump / "dom0.log").write_text(
        f"[77120.100000] o2hb: Region {region} (dm-4) is now a quorum device\n"
        f"[77120.338811] (o2hb-{region[:10]},2001,1):o2hb_write_timeout:295 ERROR: Heartbeat "
        "write timeout to device dm-4 after 61024 milliseconds\n"
        f"[77120.338990] (o2hb-{region[:10]},2001,1):o2hb_stop_all_regions:2505 ERROR: "
        "stopping heartbeat on all active regions.\n"
        "[77120.339001] Kernel panic - not syncing: *** ocfs2 is very sorry to be fencing this "
        "system by panicing ***\n"
    )
    (dump / "xen.log").write_text(
        "(XEN) [77123.4] Hardware Dom0 crashed: rebooting machine in 5 seconds.\n"
    )
    (dump / "xen-crashdump-analyser.log").write_text("xen-crashdump-analyser: done\n")
    (dump / "xen-memory-dump").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(4089))
    crash = services.crashdump_record(host=host, dump=describe_dump(dump), source="agent")
    assert crash.cause == "o2cb" and crash.time == crashed
    death_lines(peer_logs, survivor, host, 1, crashed - timedelta(seconds=30), region)
    services.incident_collect(crash=crash)
    client.force_login(readonly_user)
    bundle = zipfile.ZipFile(
        io.BytesIO(client.get(reverse("crash-bundle", args=[crash.pk])).content)
    )
    assert sorted(bundle.namelist()) == [
        "evidence.txt",
        "io-before.json",
        "logs/dom0.log",
        "logs/xen-crashdump-analyser.log",
        "logs/xen.log",
        "metadata.json",
        "timeline.txt",
    ]
    assert "Hardware Dom0 crashed" in bundle.read("logs/xen.log").decode()
    timeline = bundle.read("timeline.txt").decode()
    assert f"o2cb: o2dlm has evicted node 1 from domain {region}" in timeline
    assert f"{survivor.hostname} (survivor, about {host.hostname})" in timeline
    io_before = json.loads(bundle.read("io-before.json"))
    assert io_before["verdict"]["from_before_the_crash"] is True
    assert "O2CB_HEARTBEAT_DELAYED" in {a["name"] for a in io_before["alerts"]}
    lags = [s for s in io_before["samples"] if s["metric"] == "heartbeat_lag_ms"]
    assert lags and lags[0]["value"] == 52000
    metadata = json.loads(bundle.read("metadata.json"))
    assert metadata["incident"]["hosts"] == [host.hostname]
