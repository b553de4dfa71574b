"""Role checks shared by pages and the API.

Roles are groups holding one of three permissions: view_pool (read-only),
operate_pool (pool-operator) and administer_pool (pool-admin).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .selectors import no_role_message

VIEW = "core.view_pool"
OPERATE = "core.operate_pool"
ADMINISTER = "core.administer_pool"


def can_view(user) -> bool:
    return user.is_authenticated and user.has_perm(VIEW)


def can_operate(user) -> bool:
    return user.is_authenticated and user.has_perm(OPERATE)


def can_administer(user) -> bool:
    return user.is_authenticated and user.has_perm(ADMINISTER)


class CanViewPool(BasePermission):
    """Reading needs the read-only role; changing needs what the view declares.

    A view sets `change_permission` (default: pool-admin) or, per action,
    `action_permissions = {"acknowledge": OPERATE}`.
    """

    message = "Your role does not allow this."
    read_needs_more = False

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.has_perm(VIEW):
            self.message = no_role_message(user)  # not a bare 403: who to ask for a role
            return False
        if request.method in SAFE_METHODS and not self.read_needs_more:
            return True
        needed = getattr(view, "action_permissions", {}).get(
            getattr(view, "action", None), getattr(view, "change_permission", ADMINISTER)
        )
        return user.has_perm(needed)


class CanAdministerPool(CanViewPool):
    """Reading too needs the pool-admin role (users and their roles)."""

    read_needs_more = True
