"""Incidents and restarts told from what the surviving hosts' kernels logged: each line
about the hosts it names, used once, and a crash joined to another only on evidence."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from core.models import Alert, AuditEvent
from crashes import services
from crashes.models import CrashIncident, HostCrashdump
from tests.clusters.factories import HostFactory
from tests.crashes.peerlogs import death_lines, departure_lines, one_cluster
from tests.crashes.test_crash_records import O2CB_DUMP, upload_and_analyse

pytestmark = pytest.mark.django_db

REGION = "6C0D2A4E50A1B2C3D4E5F60718293A4B"
OTHER_REGION = "0A1B2C3D4E5F60718293A4B6C0D2A4E5"
FIXTURES = "tests/agent/fixtures/crash"


def now():
    return timezone.now().replace(microsecond=0)


def fenced_dump(name: str, at, region: str = REGION) -> dict:
    """What a host's agent sends for a disk heartbeat fence with a dump."""
    return {
        **O2CB_DUMP,
        "name": name,
        "analysis": {
            **O2CB_DUMP["analysis"],
            "crash_time": at.isoformat(),
            "details": {**O2CB_DUMP["analysis"]["details"], "region": region},
        },
    }


def verdicts(host) -> list[str]:
    return list(
        AuditEvent.objects.filter(action="crash.restart_check", target_id=str(host.pk))
        .order_by("id")
        .values_list("message", flat=True)
    )


def test_a_restart_its_peers_saw_die_is_a_crash_seen_by_them(peer_logs):
    survivor, victim = HostFactory(), HostFactory()
    one_cluster(survivor, victim)
    died = now() - timedelta(minutes=3)
    death_lines(peer_logs, survivor, victim, 1, died, REGION)
    crash = services.reboot_check(
        host=victim, previous_boot=died - timedelta(days=2), boot=died + timedelta(seconds=70)
    )
    assert crash.source == "peers" and crash.cause == "o2cb"
    assert crash.time == died, "from the first line about it"
    assert f"o2cb: o2dlm has evicted node 1 from domain {REGION}" in crash.explanation
    assert crash.details["regions"] == [REGION]
    assert Alert.objects.filter(name="HOST_FENCED_BY_O2CB").count() == 1


def test_a_clean_departure_seen_by_the_peers_is_no_crash(peer_logs):
    """A host that stops O2CB before it reboots: the peers log that it left, not that it
    died (real kernels log "leaves domain" and "No longer connected" for it)."""
    survivor, host = HostFactory(), HostFactory()
    one_cluster(survivor, host)
    left = now() - timedelta(minutes=2)
    departure_lines(peer_logs, survivor, host, 1, left, REGION)
    boot = left + timedelta(minutes=1)
    assert (
        services.reboot_check(host=host, previous_boot=left - timedelta(days=1), boot=boot) is None
    )
    assert not HostCrashdump.objects.exists()
    assert "no peer saw it die" in verdicts(host)[-1]


def test_lines_that_explained_one_restart_never_explain_the_next(peer_logs):
    """Fenced by reset, back at once (before the survivors finished recovering it), then
    restarted again minutes later: the survivors' lines of the fence are the first
    restart's, never the second's."""
    survivor, victim = HostFactory(), HostFactory()
    one_cluster(survivor, victim)
    died = now() - timedelta(minutes=6)
    death_lines(peer_logs, survivor, victim, 1, died, REGION)
    back = died + timedelta(seconds=61)  # the eviction, recovery and replay came after
    first = services.reboot_check(host=victim, previous_boot=died - timedelta(days=1), boot=back)
    assert first is not None
    services.incident_collect(crash=first)
    again = services.reboot_check(host=victim, previous_boot=back, boot=back + timedelta(minutes=4))
    assert again is None, "the old lines explained a second crash"
    assert HostCrashdump.objects.count() == 1
    assert Alert.objects.filter(name="HOST_FENCED_BY_O2CB").count() == 1
    assert "no peer saw it die" in verdicts(victim)[-1]


def test_a_planned_restart_is_never_a_crash(peer_logs):
    survivor, victim = HostFactory(), HostFactory()
    one_cluster(survivor, victim)
    died = now() - timedelta(minutes=1)
    death_lines(peer_logs, survivor, victim, 1, died, REGION)
    boot = died + timedelta(seconds=90)
    assert (
        services.reboot_check(
            host=victim, previous_boot=died - timedelta(days=1), boot=boot, planned=True
        )
        is None
    )
    assert not HostCrashdump.objects.exists()
    assert "a planned reboot" in verdicts(victim)[-1]


def test_an_incident_timeline_holds_its_own_hosts_lines_once(peer_logs, client, readonly_user):
    """Survivors log each kernel message in kern.log, syslog and messages; another host's
    fence minutes later, on another region, is another story."""
    survivor, victim, other = HostFactory(), HostFactory(), HostFactory()
    one_cluster(survivor, victim, other)
    died = now() - timedelta(minutes=20)
    death_lines(peer_logs, survivor, victim, 1, died, REGION)
    death_lines(peer_logs, other, victim, 1, died, REGION, master=2)
    death_lines(peer_logs, survivor, other, 2, died + timedelta(minutes=3), OTHER_REGION)
    crash = services.reboot_check(
        host=victim, previous_boot=died - timedelta(days=1), boot=died + timedelta(seconds=70)
    )
    incident = services.incident_collect(crash=crash)
    lines = [(e["host"], e["time"], e["text"]) for e in incident.timeline]
    assert len(lines) == len(set(lines)), "a line shown twice"
    assert {e["role"] for e in incident.timeline} == {"survivor"}, "evidence shown again"
    assert {e["about"] for e in incident.timeline} == {victim.hostname}
    assert len(lines) == 18, "nine lines from each of the two survivors"
    assert not any(OTHER_REGION in text or "node 2" in text for _host, _at, text in lines)
    assert incident.summary == (
        f"{victim.hostname} went down (fenced by o2cb); {survivor.hostname}, {other.hostname} "
        "saw it die and recovered its locks and journal."
    )
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[crash.pk])).content.decode()
    shown = page.split('id="timeline"')[1]
    assert shown.count(f"o2cb: o2dlm has evicted node 1 from domain {REGION}") == 2
    assert shown.count("<tr class=") == 18


def test_hosts_fenced_together_on_one_region_are_one_incident(peer_logs):
    """A storage outage: two hosts lose the same heartbeat region and fence within the
    dead time of each other."""
    survivor, first, second = HostFactory(), HostFactory(), HostFactory()
    one_cluster(survivor, first, second)
    at = now() - timedelta(minutes=10)
    for number, host, when in ((1, first, at), (2, second, at + timedelta(seconds=20))):
        death_lines(peer_logs, survivor, host, number, when - timedelta(seconds=64), REGION)
        crash = services.crashdump_record(
            host=host, dump=fenced_dump(f"{when:%Y%m%d-%H%M%S}-UTC", when), source="agent"
        )
        incident = services.incident_collect(crash=crash)
    assert CrashIncident.objects.count() == 1
    assert sorted(incident.crashes.values_list("hostname", flat=True)) == sorted(
        [first.hostname, second.hostname]
    )
    assert {e["about"] for e in incident.timeline if e["role"] == "survivor"} == {
        first.hostname,
        second.hostname,
    }
    assert incident.summary.endswith("saw them die and recovered their locks and journal.")


def test_unrelated_fences_minutes_apart_are_separate_incidents(peer_logs):
    """Three minutes apart on the same region (it worked for the second host meanwhile),
    or thirty seconds apart on another region: three stories, not one outage."""
    survivor, first, second, third = HostFactory(), HostFactory(), HostFactory(), HostFactory()
    one_cluster(survivor, first, second, third)
    at = now() - timedelta(minutes=30)
    crashes = [
        services.crashdump_record(
            host=host, dump=fenced_dump(f"{when:%Y%m%d-%H%M%S}-UTC", when, region), source="agent"
        )
        for host, when, region in (
            (first, at, REGION),
            (second, at + timedelta(minutes=3), REGION),
            (third, at + timedelta(seconds=30), OTHER_REGION),
        )
    ]
    incidents = [services.incident_collect(crash=crash) for crash in crashes]
    assert len({incident.pk for incident in incidents}) == 3
    assert [incident.summary for incident in incidents] == [
        f"{host.hostname} went down (fenced by o2cb)." for host in (first, second, third)
    ]


def test_an_upload_without_a_time_joins_no_incident_and_explains_no_restart(
    peer_logs, client, readonly_user
):
    """An old console log of another host (dmesg stamps only) uploaded just after a fence:
    it must not join that fence, nor count as the dump of that host's next restart."""
    survivor, fenced, other = HostFactory(), HostFactory(), HostFactory()
    one_cluster(survivor, fenced, other)
    at = now() - timedelta(minutes=1)
    death_lines(peer_logs, survivor, fenced, 1, at - timedelta(seconds=64), REGION)
    crash = services.crashdump_record(
        host=fenced, dump=fenced_dump(f"{at:%Y%m%d-%H%M%S}-UTC", at), source="agent"
    )
    incident = services.incident_collect(crash=crash)
    summary, cause = incident.summary, incident.cause
    previous_boot = now() - timedelta(days=1)

    with open(f"{FIXTURES}/o2cb_disk_dmesg_reset.txt", "rb") as log:
        upload = upload_and_analyse(SimpleUploadedFile("console.txt", log.read()), host=other)
    assert upload.time is None, "dmesg stamps count seconds since boot: no time of its own"
    assert services.incident_collect(crash=upload) is None  # were the worker asked to
    upload.refresh_from_db()
    incident.refresh_from_db()
    assert upload.incident is None
    assert (incident.summary, incident.cause) == (summary, cause)
    assert list(incident.crashes.all()) == [crash]
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[upload.pk])).content.decode()
    assert "When it crashed is unknown: the dump gives no time and none was stated" in page
    listed = client.get(reverse("crash-list")).content.decode()
    assert "time unknown" in listed.split(f'data-crash="{upload.pk}"')[1].split("</tr>")[0]

    died = now() + timedelta(seconds=5)
    death_lines(peer_logs, survivor, other, 2, died, REGION)
    restart = services.reboot_check(
        host=other, previous_boot=previous_boot, boot=died + timedelta(seconds=70)
    )
    assert restart is not None and restart.source == "peers", "the upload hid a crash"


def test_an_upload_takes_its_time_from_its_content_or_from_the_admin(client, readonly_user):
    from datetime import UTC, datetime

    from core.errors import ConsoleError
    from tests.crashes.test_uploads import FENCE_LOG

    with open(f"{FIXTURES}/o2cb_disk_dmesg_reset.txt", "rb") as log:
        dmesg = log.read()
    stated = upload_and_analyse(
        SimpleUploadedFile("console.txt", dmesg), crashed_at="2026-11-25 06:10:00"
    )
    assert stated.time == datetime(2026, 11, 25, 6, 10, tzinfo=UTC)
    client.force_login(readonly_user)
    page = client.get(reverse("crash-detail", args=[stated.pk])).content.decode()
    assert "Crashed at 2026-11-25 06:10:00 UTC (as the uploader stated" in page
    own = upload_and_analyse(
        SimpleUploadedFile("kern.log", FENCE_LOG), crashed_at="2026-11-25T06:10:00+00:00"
    )
    assert (own.time.month, own.time.day, own.time.hour) == (11, 25, 10), "the log's own time"
    assert own.details["stated_time"] == "2026-11-25T06:10:00+00:00"
    for wrong, message in (("yesterday", "is not a time"), ("2999-01-01 00:00", "future")):
        with pytest.raises(ConsoleError, match=message):
            upload_and_analyse(SimpleUploadedFile("console.txt", dmesg), crashed_at=wrong)


def test_a_host_fenced_twice_in_one_outage_is_one_host_in_the_summary(peer_logs):
    """Back within a minute while the region still stalls, it fences again."""
    survivor, host = HostFactory(), HostFactory()
    one_cluster(survivor, host)
    at = now() - timedelta(minutes=10)
    for when in (at, at + timedelta(seconds=90)):
        death_lines(peer_logs, survivor, host, 1, when - timedelta(seconds=64), REGION)
        crash = services.crashdump_record(
            host=host, dump=fenced_dump(f"{when:%Y%m%d-%H%M%S}-UTC", when), source="agent"
        )
        incident = services.incident_collect(crash=crash)
    assert incident.crashes.count() == 2
    assert incident.summary == (
        f"{host.hostname} went down (fenced by o2cb); {survivor.hostname} saw it die and "
        "recovered its locks and journal."
    )
