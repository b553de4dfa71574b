"""Writes for I/O-path health: samples, their roll-ups, and each round's verdict and alerts."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from agent.contract import encode
from clusters.agents import agent, agent_call_many
from clusters.choices import HostRegistration, IOHealthState
from clusters.iohealth import rules
from clusters.models import HealthRollup, HealthSample, Host, HostIOHealth
from core.choices import AlertName
from core.services.alerts import alert_sync

SAMPLE_BATCH = 5000


def samples_record(*, host: Host, time, values) -> int:
    """Store one collection round of a host: (metric, subject, value) triples at `time`.

    Samples are many and plain, so they skip model instances: PostgreSQL takes them
    with COPY, other databases with one executemany.
    """
    rows = [(host.pk, metric, subject, time, float(value)) for metric, subject, value in values]
    if not rows:
        return 0
    table = HealthSample._meta.db_table
    columns = "host_id, metric, subject, time, value"
    # Table and column names come from the model, never from input.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            time_value = connection.ops.adapt_datetimefield_value(time)
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                [(h, m, s, time_value, v) for h, m, s, _t, v in rows],
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


def io_health_record(
    *, host: Host, probe: dict | None, error: str | None = None
) -> HostIOHealth | None:
    """Store one collection round of a host: samples, the verdict, and its alerts (None:
    the host was forgotten meanwhile, nothing is stored).

    `probe` is the agent's answer; None with `error` means the agent did not answer.
    """
    now = timezone.now()
    verdict = rules.unreachable(error or "no answer") if probe is None else rules.evaluate(probe)
    with transaction.atomic():
        # The host's row lock holds off its removal until this round's record is written;
        # a host forgotten while it was being probed has nothing to record.
        if not Host.objects.select_for_update().filter(pk=host.pk).exists():
            return None
        if probe is not None:
            samples_record(host=host, time=now, values=rules.samples(probe))
        health = HostIOHealth.objects.select_for_update().filter(host=host).first()
        if health is None:
            health = HostIOHealth(host=host, since=now)
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
        health.save()
        if probe is None:
            return health
        findings = verdict.problems + verdict.config_warnings
        for kind, name in IO_ALERTS.items():
            mine = [f for f in findings if f.kind == kind]
            message = "\n".join(f"{f.message} What to do: {f.fix}" for f in mine) if mine else None
            severity = rules.worst(f.severity for f in mine) if mine else IOHealthState.OK
            alert_sync(
                name=name,
                target=host,
                priority=_alert_priority(kind, severity),
                message=f"{host}: {message}" if message else None,
            )
    return health


def io_health_collect(*, timeout: float) -> dict[Host, str]:
    """One collection round: probe every accepted host's I/O paths at once and judge them.

    Returns each host's new state. A host that does not answer within `timeout` is
    critical ("not heard from") until its next answer.
    """
    hosts = list(Host.objects.filter(registration=HostRegistration.ACCEPTED))
    answers = agent_call_many(hosts, lambda host: agent(host, timeout=timeout).io_probe())
    states = {}
    for host, answer in answers.items():
        if isinstance(answer, Exception):
            health = io_health_record(
                host=host, probe=None, error=str(getattr(answer, "message", answer))
            )
        else:
            # Stored and judged as the JSON the agent sent (the rules read its parts).
            health = io_health_record(host=host, probe=encode(answer))
        if health is not None:
            states[host] = health.state
    return states
