"""Role checks shared by pages and the API.

Roles are groups holding one of three permissions: view_pool (read-only),
operate_pool (pool-operator) and administer_pool (pool-admin).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

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

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.has_perm(VIEW)):
            return False
        if request.method in SAFE_METHODS:
            return True
        needed = getattr(view, "action_permissions", {}).get(
            getattr(view, "action", None), getattr(view, "change_permission", ADMINISTER)
        )
        return user.has_perm(needed)
