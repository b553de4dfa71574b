"""From an alert's change to its message: which rules take it, which targets get it, and
whether an admin held it (acknowledged, snoozed, a host silenced in maintenance)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from clusters.models import Cluster, Host
from core.models import Alert
from core.services.tasks import enqueue_on_commit
from core.signals import ALERT_CLEARED, ALERT_ESCALATED

from ..choices import ALWAYS_SENT, NotificationEvent
from ..models import Delivery, HostSilence, Notification, NotificationRule, NotificationTarget
from .body import alert_body

log = logging.getLogger(__name__)


@dataclass
class Scope:
    """The hosts and pools an alert is about, and the one host when there is one."""

    host: Host | None = None
    host_ids: set[int] = field(default_factory=set)
    pool_ids: set[int] = field(default_factory=set)
    hostnames: set[str] = field(default_factory=set)
    poolnames: set[str] = field(default_factory=set)


def alert_scope(alert: Alert) -> Scope:
    target = None
    if alert.target_type_id:
        model = alert.target_type.model_class()
        target = model.objects.filter(pk=alert.target_id).first() if model else None
    hosts: list[Host] = []
    pools = set()
    single = None
    if isinstance(target, Host):
        single = target
    elif isinstance(target, Cluster):
        hosts = list(Host.objects.filter(memberships__cluster=target, memberships__left=None))
        if target.pool is not None:
            pools.add(target.pool)
    elif isinstance(getattr(target, "host", None), Host):  # a crash dump, a host's record
        single = target.host
    if single is not None:
        hosts = [single]
    pools.update(host.pool for host in hosts if host.pool is not None)
    return Scope(
        host=single,
        host_ids={h.pk for h in hosts},
        pool_ids={p.pk for p in pools},
        hostnames={h.hostname for h in hosts},
        poolnames={p.name for p in pools},
    )


def rule_takes(rule: NotificationRule, alert: Alert, scope: Scope) -> bool:
    if rule.alert_names and alert.name not in rule.alert_names:
        return False
    if alert.priority > rule.priority_at_least and alert.name not in ALWAYS_SENT:
        return False
    pools = {p.pk for p in rule.pools.all()}
    hosts = {h.pk for h in rule.hosts.all()}
    if pools or hosts:
        return bool(pools & scope.pool_ids or hosts & scope.host_ids)
    return True


def _targets_for(alert: Alert, event: str, scope: Scope) -> list[NotificationTarget]:
    if event == ALERT_CLEARED:
        # The clearing goes to whoever was told of the alert, whatever the rules say now.
        told = NotificationTarget.objects.filter(
            deliveries__notification__alert=alert, enabled=True
        )
        return list(told.distinct())
    rules = NotificationRule.objects.filter(enabled=True).prefetch_related(
        "pools", "hosts", "targets"
    )
    chosen: dict[int, NotificationTarget] = {}
    for rule in rules:
        if rule_takes(rule, alert, scope):
            chosen.update({t.pk: t for t in rule.targets.all() if t.enabled})
    return sorted(chosen.values(), key=lambda t: t.name)


def hold_reason(alert: Alert, event: str, scope: Scope) -> str:
    """Why an admin said not to send this change now; empty: send it."""
    if alert.name in ALWAYS_SENT:
        return ""
    now = timezone.now()
    if alert.snoozed_until and alert.snoozed_until > now:
        return f"snoozed until {alert.snoozed_until:%Y-%m-%d %H:%M} UTC"
    if scope.host is not None and HostSilence.objects.filter(maintenance__host=scope.host).exists():
        return f"{scope.host} is silenced in maintenance"
    if alert.acknowledged and event != ALERT_ESCALATED:
        escalated_since = alert.notifications.filter(
            event=NotificationEvent.ESCALATED, created__gt=alert.acknowledged
        ).exists()
        if not escalated_since:  # an escalation lifts the acknowledgement
            return f"acknowledged by {alert.acknowledged_by or 'someone'}"
    return ""


def notification_for_alert(
    *, alert: Alert, event: str, previous_priority: int | None
) -> Notification | None:
    """One message for one change of an alert, to every target a rule routes it to; the
    deliveries are queued when the change commits."""
    scope = alert_scope(alert)
    targets = _targets_for(alert, event, scope)
    if not targets:
        return None
    notification = Notification.objects.create(
        alert=alert,
        event=event,
        priority=alert.priority,
        body=alert_body(alert=alert, event=event, previous_priority=previous_priority, scope=scope),
        held=hold_reason(alert, event, scope),
    )
    if notification.held:
        return notification
    deliveries = Delivery.objects.bulk_create(
        [Delivery(notification=notification, target=target) for target in targets]
    )
    for delivery in deliveries:
        enqueue_on_commit("notifications.deliver", args=[delivery.pk])
    return notification


def snoozes_ended_notify() -> int:
    """One message for each open alert whose snooze has ended: it is still open, as the
    snooze promised to say. The snooze is then over (so it is said once); a new snooze set
    before the end moved the end, and a cleared alert is never reminded. An acknowledged
    one is recorded as held, as any change of it would be. Answers how many ended."""
    now = timezone.now()
    ended = Alert.objects.filter(
        snoozed_until__isnull=False, snoozed_until__lte=now, cleared__isnull=True
    )
    count = 0
    for alert in ended.select_related("target_type"):
        with transaction.atomic():
            # Taken under a row lock, so two beats cannot both remind of the same snooze.
            taken = Alert.objects.filter(
                pk=alert.pk, snoozed_until=alert.snoozed_until, cleared__isnull=True
            ).update(snoozed_until=None, snoozed_by=None)
            if not taken:
                continue
            alert.snoozed_until = alert.snoozed_by = None
            notification_for_alert(
                alert=alert, event=NotificationEvent.STILL_OPEN, previous_priority=None
            )
            count += 1
    return count


def alert_changed_notify(sender, *, alert, event, previous_priority=None, **kwargs) -> None:
    """core.signals.alert_changed's receiver. A failure here must not fail the health
    round that raised the alert: it is logged, and the alert stands."""
    try:
        with transaction.atomic():
            notification_for_alert(alert=alert, event=event, previous_priority=previous_priority)
    except Exception:
        log.exception("Could not route the %s of alert %s to its targets.", event, alert.pk)
