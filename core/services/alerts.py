"""Alerts: messages for the admin, one row per incident, like XAPI's messages."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.choices import ALERT_PRIORITY, AlertName, AlertPriority
from core.errors import ConsoleError
from core.models import Alert
from core.services.audit import audit_record, target_fields
from core.signals import ALERT_CLEARED, ALERT_ESCALATED, ALERT_RAISED, alert_changed


def _known(name: str) -> AlertName:
    # A misspelt name would raise alerts that nothing ever clears.
    if name not in AlertName.values:
        raise ConsoleError(f"'{name}' is not an alert the console knows (core.choices.AlertName).")
    return AlertName(name)


def alert_raise(
    *, name: str, target: models.Model | None, message: str, priority: int | None = None
) -> Alert:
    """Raise an alert once per incident: an open one with the same name and target is updated.

    `priority` defaults to the catalogue's (core.choices.ALERT_PRIORITY)."""
    name = _known(name)
    priority = ALERT_PRIORITY[name] if priority is None else priority
    if priority not in AlertPriority.values:
        raise ConsoleError(f"Alert priority must be 1 to 5, not {priority}.")
    fields = target_fields(target)
    alert = (
        Alert.objects.filter(
            name=name,
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            cleared__isnull=True,
        )
        .order_by("-created")
        .first()
    )
    if alert is None:
        alert = Alert.objects.create(name=name, priority=priority, message=message, **fields)
        alerts_changed_tell(raised=[alert])
        return alert
    if alert.message != message or alert.priority != priority:
        previous = alert.priority
        # Only the round whose write changed the priority tells of the escalation, however
        # many rounds judge the same at once.
        changed = Alert.objects.filter(pk=alert.pk, priority=previous).update(
            message=message, priority=priority, updated=timezone.now()
        )
        alert.message, alert.priority = message, priority
        if changed:
            alerts_changed_tell(escalated=[(alert, previous)])
    return alert


def alerts_changed_tell(*, raised=(), escalated=(), cleared=()) -> None:
    """Tell of alert changes made in bulk (a write that bypassed alert_raise and
    alert_clear): each new alert, each (alert, previous priority) that became more urgent,
    each alert cleared (its `cleared` set). Call it once per change, after the write."""
    for alert in raised:
        alert_changed.send(sender=Alert, alert=alert, event=ALERT_RAISED, previous_priority=None)
    for alert, previous in escalated:
        if alert.priority < previous:  # 1 is the most urgent
            alert_changed.send(
                sender=Alert, alert=alert, event=ALERT_ESCALATED, previous_priority=previous
            )
    for alert in cleared:
        alert_changed.send(sender=Alert, alert=alert, event=ALERT_CLEARED, previous_priority=None)


def _clear(alerts) -> int:
    """Clear each open alert of `alerts`; tell of each one this call cleared."""
    cleared = 0
    for alert in alerts.filter(cleared__isnull=True):
        now = timezone.now()
        if Alert.objects.filter(pk=alert.pk, cleared__isnull=True).update(cleared=now):
            alert.cleared = now
            cleared += 1
            alerts_changed_tell(cleared=[alert])
    return cleared


def alert_clear(*, name: str, target: models.Model | None) -> int:
    """The condition behind an alert ended; returns how many alerts were cleared."""
    name = _known(name)
    fields = target_fields(target)
    return _clear(
        Alert.objects.filter(
            name=name, target_type=fields["target_type"], target_id=fields["target_id"]
        )
    )


def alerts_clear_about(*, target: models.Model) -> int:
    """Clear every open alert about `target`, whatever its name: the object is going away
    (a forgotten host), so no check will ever look at it again to clear them."""
    fields = target_fields(target)
    return _clear(
        Alert.objects.filter(target_type=fields["target_type"], target_id=fields["target_id"])
    )


def alert_sync(
    *, name: str, target: models.Model | None, message: str | None, priority: int | None = None
):
    """Keep one alert in step with a condition checked again and again: `message` None
    means the condition is gone (clear it), otherwise raise or update it."""
    if message is None:
        alert_clear(name=name, target=target)
        return None
    return alert_raise(name=name, target=target, priority=priority, message=message)


PRIORITIES = frozenset(AlertPriority.values)


def alerts_sync_many(wanted) -> None:
    """`alert_sync` for many (name, target, message, priority) at once, in a few queries
    whatever their number: what an I/O round keeps in step for every host of a shard.

    Each pair of name and target behaves exactly as `alert_sync` would: the newest open
    alert is updated (only when its message or priority changed), a missing one raised,
    and every open one cleared when `message` is None."""
    keys, known = {}, set()
    for name, target, message, priority in wanted:
        if target is None:  # NULL matches no `IN`: the console's own alerts one by one
            alert_sync(name=name, target=None, message=message, priority=priority)
            continue
        if name not in known:
            name = _known(name)
            known.add(name)
        if message is not None:
            priority = ALERT_PRIORITY[name] if priority is None else priority
            if priority not in PRIORITIES:
                raise ConsoleError(f"Alert priority must be 1 to 5, not {priority}.")
        fields = target_fields(target)
        key = (name, fields["target_type"].pk, fields["target_id"])
        keys[key] = (fields, message, priority)
    if not keys:
        return
    open_alerts = Alert.objects.filter(
        name__in={name for name, _t, _i in keys},
        target_type_id__in={target_type for _n, target_type, _i in keys},
        target_id__in={target_id for _n, _t, target_id in keys},
        cleared__isnull=True,
    ).order_by("created", "id")
    open_alerts = open_alerts.only("name", "target_type_id", "target_id", "message", "priority")
    newest, every = {}, defaultdict(list)
    for alert in open_alerts:
        key = (alert.name, alert.target_type_id, alert.target_id)
        if key in keys:
            newest[key] = alert  # ascending: the last one seen is the newest
            every[key].append(alert)
    now = timezone.now()
    to_clear, to_update, to_create, escalated = [], [], [], []
    for key, (fields, message, priority) in keys.items():
        if message is None:
            to_clear.extend(every.get(key, ()))
            continue
        alert = newest.get(key)
        if alert is None:
            to_create.append(Alert(name=key[0], priority=priority, message=message, **fields))
        elif alert.message != message or alert.priority != priority:
            escalated.append((alert, alert.priority))
            alert.message, alert.priority, alert.updated = message, priority, now
            to_update.append(alert)
    if to_clear:
        Alert.objects.filter(pk__in=[alert.pk for alert in to_clear]).update(cleared=now)
        for alert in to_clear:
            alert.cleared = now
    if to_update:
        Alert.objects.bulk_update(to_update, ["message", "priority", "updated"])
    if to_create:
        to_create = Alert.objects.bulk_create(to_create)
    # Written in bulk, so told in bulk: notifications hear of each change once.
    alerts_changed_tell(raised=to_create, escalated=escalated, cleared=to_clear)


def alert_was_open(*, name: str, target: models.Model | None, since, until) -> bool:
    """Whether an alert of this name on this target was open at some time in a past span."""
    fields = target_fields(target)
    return (
        Alert.objects.filter(
            name=name,
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            created__lte=until,
        )
        .filter(Q(cleared__isnull=True) | Q(cleared__gte=since))
        .exists()
    )


def alert_acknowledge(*, alert: Alert, actor) -> Alert:
    if alert.acknowledged is not None:
        return alert
    alert.acknowledged = timezone.now()
    alert.acknowledged_by = actor
    alert.save(update_fields=["acknowledged", "acknowledged_by", "updated"])
    audit_record(actor=actor, action="alert.acknowledge", target=alert, message=alert.name)
    return alert


# The longest snooze: a week; longer is forgetting, which acknowledging says honestly.
SNOOZE_MAX_MINUTES = 7 * 24 * 60


def alert_snooze(*, alert: Alert, minutes: int, actor) -> Alert:
    """No messages about the alert for `minutes` (0 ends a snooze); fences are sent anyway."""
    if not 0 <= minutes <= SNOOZE_MAX_MINUTES:
        raise ConsoleError(
            f"A snooze lasts 0 to {SNOOZE_MAX_MINUTES} minutes (a week), not {minutes}."
        )
    alert.snoozed_until = timezone.now() + timedelta(minutes=minutes) if minutes else None
    alert.snoozed_by = actor if alert.snoozed_until else None
    alert.save(update_fields=["snoozed_until", "snoozed_by", "updated"])
    audit_record(
        actor=actor,
        action="alert.snooze",
        target=alert,
        message=f"{alert.name} for {minutes} min" if minutes else f"{alert.name}: snooze ended",
    )
    return alert
