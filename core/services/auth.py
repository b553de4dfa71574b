"""Audit of log-ins (core.throttling counts them) and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.choices import AuditOutcome
from core.errors import ConsoleError
from core.models import ApiToken
from core.services.audit import audit_record

# Enough of a typed name to recognise it; the log-in form refuses longer ones anyway.
RECORDED_NAME_LENGTH = 150


def _recorded_name(username: str) -> str:
    if len(username) <= RECORDED_NAME_LENGTH:
        return username
    return f"{username[:RECORDED_NAME_LENGTH]}… ({len(username)} characters)"


def login_failure_record(*, username: str, address: str) -> None:
    """Audit a failed log-in (core.throttling counts it)."""
    audit_record(
        actor=None,
        action="login.failed",
        outcome=AuditOutcome.DENIED,
        message=f"Failed log-in for '{_recorded_name(username)}' from {address}.",
    )


def login_locked_out_record(*, username: str, address: str) -> None:
    """Audit a log-in refused, whatever its password, because of earlier failures."""
    audit_record(
        actor=None,
        action="login.locked_out",
        outcome=AuditOutcome.DENIED,
        message=(
            f"Log-in for '{_recorded_name(username)}' from {address} refused: "
            "too many failed log-ins."
        ),
    )


# API tokens ------------------------------------------------------------------------------


def _token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user, name: str, by_token: ApiToken | None = None, actor=None
) -> tuple[ApiToken, str]:
    """Make a named token of `user`; returns it with its key, which is never shown again.

    `by_token` is the token the request came with: a token may not mint tokens, or a
    leaked one could outlive its own revocation through the tokens it made. `actor` is
    who makes it, when not the user themselves (a pool-admin, on the Users page).
    """
    actor = user if actor is None else actor
    if by_token is not None:
        raise ConsoleError(
            "An API token cannot create tokens; log in to the console to make one.",
            status_code=403,
        )
    name = name.strip()
    if not name:
        raise ConsoleError("Give the token a name, so you know later what uses it.")
    if not user.is_active:
        raise ConsoleError(
            f"{user.get_username()} is deactivated, so a token of theirs would not work; "
            "reactivate them first."
        )
    key = secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, prefix=key[:8], key_hash=_token_hash(key))
    # Before any query: a name the database cannot hold (NUL, too long) is the caller's error.
    token.full_clean(validate_unique=False, validate_constraints=False)
    whose = "You already have" if actor == user else f"{user.get_username()} already has"
    taken = ConsoleError(f"{whose} an active token called '{name}'.")
    if user.api_tokens.filter(name=name, revoked=None).exists():
        raise taken
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError:
        raise taken from None  # made at the same moment by another request
    audit_record(
        actor=actor,
        action="token.create",
        target=token,
        message=f"Token '{token.name}' of {user.get_username()} made.",
    )
    return token, key


def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked is not None:
        return token
    token.revoked = timezone.now()
    token.save(update_fields=["revoked"])
    audit_record(
        actor=actor,
        action="token.revoke",
        target=token,
        message=f"Token '{token.name}' of {token.user.get_username()} revoked.",
    )
    return token


class TokenRefused(ConsoleError):
    status_code = 401


def api_token_authenticate(*, key: str) -> ApiToken:
    """The active token with this key, its use recorded; TokenRefused says why not."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_token_hash(key)).first()
    if token is None:
        raise TokenRefused("Unknown API token; check it, or make a new one on the tokens page.")
    if token.revoked is not None:
        when = timezone.localtime(token.revoked).strftime("%Y-%m-%d %H:%M")
        raise TokenRefused(f"This API token ('{token.name}') was revoked on {when}.")
    if not token.user.is_active:
        raise TokenRefused("This API token's user is disabled.")
    now = timezone.now()
    # Recording every request would write on every call; once a minute is enough to see use.
    if token.last_used is None or now - token.last_used > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token
