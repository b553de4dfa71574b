"""What agents send unasked (reports, crash dumps), believed only when sealed by the host
they are about, with the key the console holds for it.

A host's first report introduces its key (the report is sealed with it, so whoever sent
it holds it); the host then waits for a pool-admin, who sees the key's fingerprint on
the Hosts page. From then on only that key speaks for that host. Anything else is
refused, logged, audited and alerted: someone who can reach Redis may be forging.
"""

from __future__ import annotations

import logging
import uuid as uuid_module
from typing import Any

from django.core.cache import cache
from django.db import transaction

from agent import contract, signing
from clusters.agents import OPENER, AgentCallFailed, decode_report
from clusters.models import Host
from clusters.services.hosts import host_record_report
from core.choices import AlertName, AuditOutcome
from core.services.alerts import alert_raise
from core.services.audit import audit_record

logger = logging.getLogger(__name__)

# One audit event per host and minute is enough to see a flood without becoming one.
REFUSAL_AUDIT_EVERY = 60


def open_sealed(sealed: Any, purpose: str) -> tuple[Host | None, dict]:
    """The host that sealed `sealed` for `purpose`, and the payload; SealRefused when it is
    not sealed by a host, or not with the key on record for that host."""
    signer = sealed.get("signer") if isinstance(sealed, dict) else None
    try:
        host_uuid = str(uuid_module.UUID(str(signer)))
    except ValueError:
        raise signing.SealRefused(f"sealed by {signer!r}, which is no host's identity") from None
    host = Host.objects.filter(uuid=host_uuid).first()
    key = host.public_key if host is not None and host.public_key else _introduced_key(sealed)
    payload = OPENER.open(sealed, key, signer=signer, purpose=purpose)
    if not isinstance(payload, dict):
        raise signing.SealRefused("the sealed payload is not a set of fields")
    return host, payload


def _introduced_key(sealed: dict) -> str:
    """The key a host's first report carries (only a report introduces one)."""
    payload = sealed.get("payload")
    report = payload.get("report") if isinstance(payload, dict) else None
    key = report.get("public_key") if isinstance(report, dict) else None
    if sealed.get("purpose") != contract.REPORT_PURPOSE or not key:
        raise signing.SealRefused("sealed by a host the console has no key for")
    return key


def agent_report_receive(sealed: Any) -> Host | None:
    """An agent's sealed report: record its host (a new one waits for acceptance)."""
    try:
        _host, payload = open_sealed(sealed, contract.REPORT_PURPOSE)
        identity = decode_report(payload.get("contract"), payload.get("report"))
        if identity.uuid.lower() != sealed["signer"].lower():
            raise signing.SealRefused(f"it speaks for {identity.uuid}, not for its signer")
    except signing.SealRefused as exc:
        message_refused(sealed, "report", str(exc))
        return None
    except AgentCallFailed as exc:
        logger.warning("agent report refused: %s", exc.message)
        return None
    host = host_record_report(report=contract.encode(identity))
    _refusals_record(host, payload.get("refused"))
    return host


def claimed_host(message: Any) -> str | None:
    """Whom a message from the broker says it is from: its signer, or for an unsealed
    one, the host it names."""
    if not isinstance(message, dict):
        return None
    report = message.get("report")
    named = report.get("uuid") if isinstance(report, dict) else None
    return message.get("signer") or message.get("host_uuid") or message.get("uuid") or named


def message_refused(message: Any, kind: str, reason: str) -> None:
    """Log, audit and alert a message from the broker that was not believed."""
    claimed = claimed_host(message)
    host = None
    try:
        host = Host.objects.filter(uuid=uuid_module.UUID(str(claimed))).first()
    except ValueError:
        pass
    who = str(host) if host else f"'{str(claimed)[:64]}'"
    text = (
        f"A {kind} said to come from {who} was refused: {reason}. Whoever sent it "
        "can reach Redis: check that Redis requires a password and who can reach it."
    )
    logger.warning(text)
    with transaction.atomic():  # the alert and its audit are seen together, or neither
        alert_raise(name=AlertName.AGENT_MESSAGE_REFUSED, target=host, message=text)
        if cache.add(f"refused-audit:{claimed}", 1, timeout=REFUSAL_AUDIT_EVERY):
            audit_record(
                actor=None,
                action="agent.message_refused",
                target=host,
                outcome=AuditOutcome.DENIED,
                message=text[:2000],
            )


def _refusals_record(host: Host, refused: Any) -> None:
    """Calls the host's agent refused since its last report (not sealed by the console)."""
    if not refused or not isinstance(refused, list):
        return
    latest = refused[-1] if isinstance(refused[-1], dict) else {}
    text = (
        f"{host}'s agent refused {len(refused)} call(s) that the console did not seal, the "
        f"latest {str(latest.get('call'))[:64]}: {str(latest.get('reason'))[:300]}. Someone who "
        "can reach Redis may be sending orders to hosts: check that Redis requires a "
        "password and who can reach it."
    )
    logger.warning(text)
    alert_raise(name=AlertName.AGENT_REFUSED_CALLS, target=host, message=text)
    audit_record(
        actor=None,
        action="agent.calls_refused",
        target=host,
        outcome=AuditOutcome.DENIED,
        message=text,
    )
