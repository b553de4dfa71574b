"""What pool-admins change: targets, rules and host silences, each change audited. A
target's secret is encrypted here (core.secrets) and never read back out (API and pages
show only whether one is set)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from clusters.models import Host
from core.choices import AlertName, AlertPriority
from core.errors import ConsoleError
from core.progress import progress_note
from core.secrets import secret_encrypt
from core.services.audit import audit_record
from core.validators import too_long, validate_plain_name
from maintenance.models import HostMaintenance

from ..choices import NotificationEvent, TargetKind
from ..models import Delivery, HostSilence, Notification, NotificationRule, NotificationTarget
from ..transports import send
from .body import test_body
from .delivery import delivery_record

TARGET_FIELDS = ("name", "kind", "enabled", "recipients", "url")
SECRET_MAX = 200
RULE_FIELDS = ("name", "enabled", "alert_names", "priority_at_least")


def _refuse(message: str):
    raise ConsoleError(message, status_code=400)


def _check_name(name: str, what: str) -> None:
    if not name.strip():
        _refuse(f"A {what} needs a name.")
    try:
        validate_plain_name(name)
    except ValidationError as exc:
        _refuse(exc.messages[0])


def _check_target(target: NotificationTarget) -> None:
    _check_name(target.name, "target")
    if target.kind not in TargetKind.values:
        _refuse(f"A target is 'email' or 'webhook', not '{target.kind}'.")
    if target.kind == TargetKind.EMAIL:
        if not target.recipients:
            _refuse("An e-mail target needs at least one address.")
        for address in target.recipients:
            try:
                validate_email(address)
            except ValidationError:
                _refuse(f"'{address}' is not an e-mail address.")
        target.url, target.secret_encrypted = "", ""
    else:
        parts = urlsplit(target.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            _refuse(f"A web-hook needs an http:// or https:// URL, not '{target.url}'.")
        target.recipients = []


def _set_secret(target: NotificationTarget, secret: str) -> None:
    if len(secret) > SECRET_MAX:
        _refuse(too_long("A web-hook secret", SECRET_MAX, len(secret)))
    target.secret_encrypted = secret_encrypt(secret) if secret else ""


def _save(instance, what: str) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ConsoleError(f"A {what} named '{instance.name}' exists already.") from None


def target_create(*, actor, secret: str = "", **fields) -> NotificationTarget:
    target = NotificationTarget(**{k: v for k, v in fields.items() if k in TARGET_FIELDS})
    _set_secret(target, secret)
    _check_target(target)
    _save(target, "target")
    audit_record(actor=actor, action="notification_target.create", target=target)
    return target


def target_update(*, actor, target: NotificationTarget, **changes) -> NotificationTarget:
    """Change what is given; a secret left out (None) stays as it was."""
    for name, value in changes.items():
        if name in TARGET_FIELDS:
            setattr(target, name, value)
    if changes.get("secret") is not None:
        _set_secret(target, changes["secret"])
    _check_target(target)
    _save(target, "target")
    audit_record(
        actor=actor,
        action="notification_target.update",
        target=target,
        message=", ".join(sorted(k for k, v in changes.items() if v is not None)),
    )
    return target


def target_delete(*, actor, target: NotificationTarget) -> None:
    audit_record(actor=actor, action="notification_target.delete", target=target)
    target.delete()


def target_test(*, actor, target: NotificationTarget) -> Delivery:
    """Send a test message now, once, and answer with what the target said."""
    notification = Notification.objects.create(
        event=NotificationEvent.TEST, priority=AlertPriority.INFO, body=test_body()
    )
    delivery = Delivery.objects.create(notification=notification, target=target, attempts=1)
    progress_note(
        f"Sending a test message to {target} and waiting for its answer",
        gives_up_after=settings.NOTIFY_TIMEOUT,
    )
    answer = send(target=target, body=notification.body, delivery_id=delivery.pk)
    delivery_record(delivery=delivery, number=1, answer=answer, retries=0)
    audit_record(
        actor=actor,
        action="notification_target.test",
        target=target,
        message=answer.text,
        outcome="success" if answer.ok else "failure",
    )
    return delivery


def _check_rule(rule: NotificationRule, targets) -> None:
    _check_name(rule.name, "rule")
    unknown = [n for n in rule.alert_names if n not in AlertName.values]
    if unknown:
        _refuse(f"Not an alert the console raises: {', '.join(map(str, unknown))}.")
    if rule.priority_at_least not in AlertPriority.values:
        _refuse(f"A priority is 1 (critical) to 5, not {rule.priority_at_least}.")
    if targets is not None and not targets:
        _refuse("A rule needs at least one target.")


def _rule_save(*, actor, rule, action, pools, hosts, targets) -> NotificationRule:
    _check_rule(rule, targets)
    with transaction.atomic():
        _save(rule, "rule")
        if pools is not None:
            rule.pools.set(pools)
        if hosts is not None:
            rule.hosts.set(hosts)
        if targets is not None:
            rule.targets.set(targets)
        audit_record(actor=actor, action=action, target=rule)
    return rule


def rule_create(*, actor, pools=(), hosts=(), targets=(), **fields) -> NotificationRule:
    rule = NotificationRule(**{k: v for k, v in fields.items() if k in RULE_FIELDS})
    return _rule_save(
        actor=actor,
        rule=rule,
        action="notification_rule.create",
        pools=list(pools),
        hosts=list(hosts),
        targets=list(targets),
    )


def rule_update(
    *, actor, rule: NotificationRule, pools=None, hosts=None, targets=None, **changes
) -> NotificationRule:
    for name, value in changes.items():
        if name in RULE_FIELDS:
            setattr(rule, name, value)
    return _rule_save(
        actor=actor,
        rule=rule,
        action="notification_rule.update",
        pools=pools,
        hosts=hosts,
        targets=targets,
    )


def rule_delete(*, actor, rule: NotificationRule) -> None:
    audit_record(actor=actor, action="notification_rule.delete", target=rule)
    rule.delete()


def host_silence(*, actor, host: Host) -> HostSilence:
    """No messages about the host until its maintenance ends (fences excepted)."""
    maintenance = HostMaintenance.objects.filter(host=host).first()
    if maintenance is None:
        raise ConsoleError(
            f"{host} is not in maintenance; only a host in maintenance can be silenced."
        )
    silence, _ = HostSilence.objects.get_or_create(
        maintenance=maintenance, defaults={"created_by": actor}
    )
    audit_record(actor=actor, action="notification_silence.create", target=host)
    return silence


def host_unsilence(*, actor, host: Host) -> None:
    HostSilence.objects.filter(maintenance__host=host).delete()
    audit_record(actor=actor, action="notification_silence.delete", target=host)
