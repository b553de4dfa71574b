"""Writes for I/O-path health: samples, their roll-ups, and each round's verdicts and alerts
(the rounds themselves, cut into shards: rounds.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from agent.contract import IoProbe
from clusters.agents import agent, agent_call_many
from clusters.choices import HostRegistration, IOHealthState
from clusters.iohealth import rules
from clusters.models import HealthRollup, HealthSample, Host, HostIOHealth
from core.choices import AlertName
from core.services.alerts import alerts_sync_many

SAMPLE_BATCH = 5000


def samples_record(*, host: Host, time, values) -> int:
    """Store one collection round of a host: (metric, subject, value) triples at `time`."""
    return samples_record_many(time=time, values_by_host={host.pk: values})


def samples_record_many(*, time, values_by_host: dict[int, list]) -> int:
    """Store one collection round of many hosts: per host id, (metric, subject, value)
    triples at `time`.

    Samples are many and plain, so they skip model instances: PostgreSQL takes them
    with one COPY, other databases with one executemany.
    """
    rows = [
        (host_id, metric, subject, float(value))
        for host_id, values in values_by_host.items()
        for metric, subject, value in values
    ]
    if not rows:
        return 0
    table = HealthSample._meta.db_table
    columns = "host_id, metric, subject, time, value"
    # Table and column names come from the model, never from input.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for host_id, metric, subject, value in rows:
                    copy.write_row((host_id, metric, subject, time, value))
        else:
            time_value = connection.ops.adapt_datetimefield_value(time)
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                [(h, m, s, time_value, v) for h, m, s, v in rows],
            )
    return len(rows)


@transaction.atomic
def samples_roll_up(*, full_resolution_for, keep_rollups_for) -> int:
    """Fold samples older than `full_resolution_for` into hourly rollups, then drop them.

    Whole hours only, so a rollup never sees half an hour; a late sample for an hour
    already rolled up is merged into it. Rollups older than `keep_rollups_for` go.
    """
    now = timezone.now()
    cutoff = (now - full_resolution_for).replace(minute=0, second=0, microsecond=0)
    old = HealthSample.objects.filter(time__lt=cutoff)
    buckets = (
        old.annotate(hour=TruncHour("time"))
        .values("host_id", "metric", "subject", "hour")
        .annotate(n=Count("id"), low=Min("value"), high=Max("value"), avg=Avg("value"))
    )
    rollups = {
        (b["host_id"], b["metric"], b["subject"], b["hour"]): HealthRollup(
            host_id=b["host_id"],
            metric=b["metric"],
            subject=b["subject"],
            hour=b["hour"],
            count=b["n"],
            minimum=b["low"],
            maximum=b["high"],
            mean=b["avg"],
        )
        for b in buckets
    }
    if rollups:
        hours = {key[3] for key in rollups}
        for existing in HealthRollup.objects.filter(hour__in=hours):
            key = (existing.host_id, existing.metric, existing.subject, existing.hour)
            if key in rollups:
                _merge_rollup(rollups[key], existing)
        HealthRollup.objects.bulk_create(
            rollups.values(),
            batch_size=SAMPLE_BATCH,
            update_conflicts=True,
            unique_fields=["host", "metric", "subject", "hour"],
            update_fields=["count", "minimum", "maximum", "mean"],
        )
    old.delete()
    HealthRollup.objects.filter(hour__lt=now - keep_rollups_for).delete()
    return len(rollups)


def _merge_rollup(new: HealthRollup, existing: HealthRollup) -> None:
    total = new.count + existing.count
    new.mean = (new.mean * new.count + existing.mean * existing.count) / total
    new.count = total
    new.minimum = min(new.minimum, existing.minimum)
    new.maximum = max(new.maximum, existing.maximum)


# One alert per kind of finding and host.
IO_ALERTS = {
    "multipath": AlertName.MULTIPATH_PERIODIC_ALERT,
    "bonding": AlertName.BOND_STATUS_CHANGED,
    "heartbeat": AlertName.O2CB_HEARTBEAT_DELAYED,
    "queueing": AlertName.MULTIPATH_QUEUEING_OUTLASTS_FENCE,
    "ha_timeout": AlertName.HA_TIMEOUT_RACES_O2CB,
    "fence_method": AlertName.O2CB_FENCE_LEAVES_NO_DUMP,
}


def _alert_priority(kind: str, severity: str) -> int:
    if kind in rules.CONFIG_KINDS:
        return 4
    if severity == IOHealthState.CRITICAL:
        return 1 if kind == "heartbeat" else 2
    return 3


@dataclass(frozen=True)
class ProbeResult:
    """What one host's agent answered a round: its probe (JSON, as sent) or, when it did
    not answer, None and why."""

    host: Host
    probe: dict | None
    error: str | None = None


def io_health_record(
    *, host: Host, probe: dict | None, error: str | None = None
) -> HostIOHealth | None:
    """Store one collection round of a host: samples, the verdict, and its alerts (None:
    the host was forgotten meanwhile, nothing is stored).

    `probe` is the agent's answer; None with `error` means the agent did not answer.
    """
    return io_health_record_many([ProbeResult(host, probe, error)]).get(host.pk)


# Every field a round writes, and those a host that did not answer keeps as they are: its
# last probe, the LUN views from it and the config warnings read from it.
HEALTH_FIELDS = [
    "state",
    "since",
    "checked",
    "problems",
    "config_warnings",
    "time_to_fence",
    "probe",
    "luns",
]
KEPT_WITHOUT_ANSWER = {"config_warnings", "probe", "luns"}


def io_health_record_many(results: list[ProbeResult]) -> dict[int, HostIOHealth]:
    """`io_health_record` for many hosts at once (a shard of a round), in a fixed number of
    queries whatever the number of hosts: one lock, one COPY of the samples, one read and
    one upsert of the verdicts, and the alerts' read and writes.

    Returns each recorded host's verdict by host id; a host forgotten meanwhile is left out.
    """
    now = timezone.now()
    # Judging is pure: done before the transaction, so the rows stay locked only for writes.
    judged = {
        result.host.pk: (
            result,
            rules.unreachable(result.error or "no answer")
            if result.probe is None
            else rules.evaluate(result.probe),
        )
        for result in results
    }
    if not judged:
        return {}
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction:
            _commit_without_waiting_for_disk()
        alive = _lock_hosts(judged)
        samples_record_many(
            time=now,
            values_by_host={
                pk: rules.samples(result.probe)
                for pk, (result, _verdict) in judged.items()
                if pk in alive and result.probe is not None
            },
        )
        stored = {
            health.host_id: health
            for health in HostIOHealth.objects.select_for_update()
            .filter(host_id__in=alive)
            .only("state", "since")  # the old probes are only overwritten or kept
        }
        healths, alerts = {}, []
        for pk in sorted(alive):
            result, verdict = judged[pk]
            health = stored.get(pk) or HostIOHealth(host=result.host, since=now)
            _health_update(health, result.probe, verdict, now)
            healths[pk] = health
            if result.probe is not None:
                alerts.extend(_io_alerts(result.host, verdict))
        answered = [healths[pk] for pk in healths if judged[pk][0].probe is not None]
        silent = [healths[pk] for pk in healths if judged[pk][0].probe is None]
        _healths_write(answered, HEALTH_FIELDS)
        _healths_write(silent, [f for f in HEALTH_FIELDS if f not in KEPT_WITHOUT_ANSWER])
        # No news from a host: its alerts stay open as they are.
        alerts_sync_many(alerts)
    return healths


def _lock_hosts(pks) -> set[int]:
    """Lock these hosts' rows; returns those still there. The locks hold off a host's
    removal until this round's record is written; a host forgotten while it was being
    probed has nothing to record."""
    rows = Host.objects.select_for_update().filter(pk__in=pks).order_by("pk")
    return set(rows.values_list("pk", flat=True))


def _commit_without_waiting_for_disk() -> None:
    # What a round writes is measured again in one interval: its commit need not wait for
    # the disk (a crash loses at most the last rounds' records, never consistency).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _healths_write(healths: list[HostIOHealth], update_fields: list[str]) -> None:
    """Insert these verdicts, or update `update_fields` of those stored, in one statement.

    On PostgreSQL the rows travel as one JSON document the database unpacks
    (jsonb_populate_recordset): Django's bulk upsert quotes every probe into an array
    literal, which took longer than the rest of the round."""
    if not healths:
        return
    if connection.vendor != "postgresql":
        HostIOHealth.objects.bulk_create(
            healths, update_conflicts=True, unique_fields=["host"], update_fields=update_fields
        )
        return
    meta = HostIOHealth._meta
    rows = []
    for health in healths:
        # A field not loaded is one kept as stored: its value here only fills a new row.
        deferred = health.get_deferred_fields()
        row = {
            name: meta.get_field(name).get_default() if name in deferred else getattr(health, name)
            for name in HEALTH_FIELDS
        }
        row.update(host_id=health.host_id, since=health.since.isoformat())
        row["checked"] = health.checked.isoformat()
        rows.append(row)
    columns = ", ".join(["host_id", *HEALTH_FIELDS])
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in update_fields)
    with connection.cursor() as cursor:
        # Table and column names come from the model, never from input.
        cursor.execute(
            f"INSERT INTO {meta.db_table} ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM jsonb_populate_recordset(NULL::{meta.db_table}, %s::jsonb) "
            f"ON CONFLICT (host_id) DO UPDATE SET {updates}",
            [json.dumps(rows)],
        )


def _health_update(health: HostIOHealth, probe: dict | None, verdict, now) -> None:
    if health.state != verdict.state:
        health.since = now
    fields = verdict.as_fields()
    if probe is None:
        # No news: the page keeps the last probe and its settings, the alerts stay open.
        del fields["config_warnings"]
    for name, value in fields.items():
        setattr(health, name, value)
    health.checked = now
    if probe is not None:
        health.probe = probe
        health.luns = rules.lun_views(probe)


def _io_alerts(host: Host, verdict) -> list[tuple]:
    """The (name, target, message, priority) of each I/O alert of `host` after `verdict`:
    a message when its kind has findings, None to clear it."""
    findings = verdict.problems + verdict.config_warnings
    alerts = []
    for kind, name in IO_ALERTS.items():
        mine = [f for f in findings if f.kind == kind]
        message = "\n".join(f"{f.message} What to do: {f.fix}" for f in mine) if mine else None
        severity = rules.worst(f.severity for f in mine) if mine else IOHealthState.OK
        alerts.append(
            (
                name,
                host,
                f"{host}: {message}" if message else None,
                _alert_priority(kind, severity),
            )
        )
    return alerts


def _probe_json(answer: IoProbe) -> dict:
    """The probe as the JSON the agent sent: what `contract.encode` gives, one level deep,
    since IoProbe's fields are that JSON's own dicts and lists (decoding keeps them)."""
    return dict(answer._asdict())


def io_health_collect_hosts(hosts, *, timeout: float) -> dict[Host, str]:
    """Probe these hosts' I/O paths at once (the agent calls in threads) and judge them
    together. Returns each host's new state; a host that does not answer within `timeout`
    is critical ("not heard from") until its next answer."""
    hosts = list(hosts)
    answers = agent_call_many(hosts, lambda host: agent(host, timeout=timeout).io_probe())
    results = [
        ProbeResult(host, None, str(getattr(answer, "message", answer)))
        if isinstance(answer, Exception)
        # Stored and judged as the JSON the agent sent (the rules read its parts).
        else ProbeResult(host, _probe_json(answer))
        for host, answer in answers.items()
    ]
    healths = io_health_record_many(results)
    return {host: healths[host.pk].state for host in hosts if host.pk in healths}


def io_health_collect(*, timeout: float) -> dict[Host, str]:
    """One whole round in this process, every accepted host at once: what a test or a lab
    run that wants every verdict now calls (the beat's rounds are cut into shards,
    rounds.py). Returns each host's new state."""
    hosts = Host.objects.filter(registration=HostRegistration.ACCEPTED)
    return io_health_collect_hosts(hosts, timeout=timeout)
