"""Users and their roles, as a pool-admin manages them (the Users page and /api/users/).

A user holds one role or none: exactly one of the three role groups (core.services.roles).
A user is never deleted, only deactivated, so the audit keeps pointing at them. A
password is either set by the pool-admin or by the user, through a one-time link (Django's
password-reset token: it stops working once the password changes, and after
PASSWORD_RESET_TIMEOUT).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from core.choices import AuditOutcome, Role
from core.errors import ConsoleError
from core.selectors import pool_admins, user_role
from core.services.audit import audit_record
from core.services.roles import ROLE_PERMISSIONS
from core.validators import validate_plain_name

CONSOLE_PERMISSIONS = sorted({name for names in ROLE_PERMISSIONS.values() for name in names})


class InvalidUserInput(ConsoleError):
    status_code = 400


def role_from_input(value) -> Role | None:
    """A role as typed or posted: one of the three names, or empty/None for no role."""
    if value in (None, ""):
        return None
    if value not in Role.values:
        names = ", ".join(Role.values)
        raise InvalidUserInput(f"'{value}' is no role; choose one of {names}, or no role.")
    return Role(value)


def _describe(role: Role | None) -> str:
    return role.value if role else "no role"


def _set_groups(user, role: Role | None) -> None:
    # Any group granting a console permission goes with the old role, not only the three.
    user.groups.remove(
        *Group.objects.filter(
            Q(name__in=Role.values) | Q(permissions__codename__in=CONSOLE_PERMISSIONS)
        ).distinct()
    )
    # A console permission held directly would outlive the role: the role is the whole truth.
    user.user_permissions.remove(
        *Permission.objects.filter(content_type__app_label="core", codename__in=CONSOLE_PERMISSIONS)
    )
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
    for prefetched in ("groups", "user_permissions"):
        getattr(user, "_prefetched_objects_cache", {}).pop(prefetched, None)


class LastPoolAdmin(ConsoleError):
    status_code = 409


def _keep_a_pool_admin(*, actor, user, change: str) -> None:
    """Refuse a change that would leave no active pool-admin: nobody could manage users."""
    admins = list(pool_admins().select_for_update())
    if any(admin.pk != user.pk for admin in admins):
        return
    if user.pk not in {admin.pk for admin in admins}:
        return  # the user is no pool-admin now: the change takes nothing away
    who = "You are" if actor is not None and actor.pk == user.pk else f"{user.get_username()} is"
    raise LastPoolAdmin(
        f"{who} the last active pool-admin, so the console cannot {change}: nobody would be "
        "left to manage users. Make another user a pool-admin first."
    )


def _refused(*, actor, action: str, user, exc: ConsoleError) -> None:
    audit_record(
        actor=actor, action=action, target=user, outcome=AuditOutcome.DENIED, message=exc.message
    )


def _check_password(password: str, user) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise InvalidUserInput("The password is refused: " + " ".join(exc.messages)) from exc


def password_link_path(user) -> str:
    """The path of a one-time set-password link for `user` (valid until the password
    changes, or PASSWORD_RESET_TIMEOUT passes)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password-set", args=[uid, default_token_generator.make_token(user)])


def _plain(value: str, field: str, max_length: int) -> str:
    value = (value or "").strip()
    try:
        validate_plain_name(value) if value else None
    except ValidationError as exc:
        raise InvalidUserInput(f"{field}: " + " ".join(exc.messages)) from exc
    if len(value) > max_length:
        raise InvalidUserInput(f"{field}: at most {max_length} characters.")
    return value


@transaction.atomic
def user_create(
    *,
    actor,
    username: str,
    role: str | None,
    password: str = "",
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> tuple[object, str | None]:
    """Make a user with a role. With a password, they log in with it; without one, the
    answer carries the path of a one-time link where they set their own."""
    User = get_user_model()
    username = _plain(username, "User name", 150)
    if not username:
        raise InvalidUserInput("Give the user a name to log in with.")
    chosen = role_from_input(role)
    user = User(
        username=username,
        email=_plain(email, "E-mail", 254),
        first_name=_plain(first_name, "First name", 150),
        last_name=_plain(last_name, "Last name", 150),
    )
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        messages = [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
        raise InvalidUserInput("The user is not valid: " + " ".join(messages)) from exc
    # Log-in names are compared as typed; two names differing only in case confuse people.
    taken = User.objects.filter(username__iexact=username).first()
    if taken is not None:
        raise InvalidUserInput(f"A user called '{taken.get_username()}' exists already.")
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    _set_groups(user, chosen)
    how = "with a password set by the pool-admin" if password else "with a set-password link"
    audit_record(
        actor=actor,
        action="user.create",
        target=user,
        message=f"User {username} created as {_describe(chosen)}, {how}.",
    )
    return user, (None if password else password_link_path(user))


def user_set_role(*, actor, user, role: str | None):
    """Give `user` exactly this role (or none). A superuser given a lesser role stops being
    a superuser, or the new role would mean nothing."""
    chosen = role_from_input(role)
    try:
        with transaction.atomic():
            if chosen != Role.POOL_ADMIN and user.is_active:
                _keep_a_pool_admin(actor=actor, user=user, change=f"make them {_describe(chosen)}")
            before = user_role(user)
            _set_groups(user, chosen)
            note = ""
            if user.is_superuser and chosen != Role.POOL_ADMIN:
                user.is_superuser = False
                user.save(update_fields=["is_superuser"])
                note = " They are no longer a superuser."
            audit_record(
                actor=actor,
                action="user.role",
                target=user,
                message=(
                    f"{user.get_username()}: role {_describe(before)} → {_describe(chosen)}.{note}"
                ),
            )
    except LastPoolAdmin as exc:
        _refused(actor=actor, action="user.role", user=user, exc=exc)
        raise
    return user


def user_deactivate(*, actor, user):
    """The user can no longer log in, and neither their sessions nor their tokens work;
    nothing of theirs is deleted."""
    if not user.is_active:
        return user
    try:
        with transaction.atomic():
            _keep_a_pool_admin(actor=actor, user=user, change="deactivate them")
            user.is_active = False
            user.save(update_fields=["is_active"])
            audit_record(
                actor=actor,
                action="user.deactivate",
                target=user,
                message=f"{user.get_username()} deactivated: no log-in, no session, no token.",
            )
    except LastPoolAdmin as exc:
        _refused(actor=actor, action="user.deactivate", user=user, exc=exc)
        raise
    return user


@transaction.atomic
def user_reactivate(*, actor, user):
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action="user.reactivate",
        target=user,
        message=f"{user.get_username()} reactivated as {_describe(user_role(user))}.",
    )
    return user


@transaction.atomic
def user_set_password(*, actor, user, password: str = "") -> str | None:
    """With a password: it is theirs from now on. Without one: their password stops working
    at once and the answer is the path of a one-time link where they set a new one (any
    earlier link stops working too). Either way, their other sessions end."""
    if password:
        _check_password(password, user)
        user.set_password(password)
        how = "set by a pool-admin"
    else:
        user.set_unusable_password()
        how = "reset: a one-time set-password link was made"
    user.save(update_fields=["password"])
    audit_record(
        actor=actor,
        action="user.password",
        target=user,
        message=f"Password of {user.get_username()} {how}.",
    )
    return None if password else password_link_path(user)


def password_link_used(*, user) -> None:
    """Audit a user setting their password through a set-password link."""
    audit_record(
        actor=user,
        action="user.password_set",
        target=user,
        message=f"{user.get_username()} set their password through a set-password link.",
    )


def user_role_from_directory(*, user, role: Role | None):
    """Give a directory user the role their groups give them, at sign-in (core.directory).

    The directory is the truth for its users, so the last-pool-admin rule does not hold
    this back: local pool-admins are kept for the day the directory is wrong."""
    before = user_role(user)
    if before == role:
        return user
    with transaction.atomic():
        _set_groups(user, role)
        audit_record(
            actor=None,
            action="user.role",
            target=user,
            message=(
                f"{user.get_username()}: role {_describe(before)} → {_describe(role)}, "
                "from their directory groups at sign-in."
            ),
        )
    return user
