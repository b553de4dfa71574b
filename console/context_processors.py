from clusters.selectors import restart_banners

from .permissions import can_administer, can_operate, can_view


def console(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_view": can_view(user),
        "can_operate": can_operate(user),
        "can_administer": can_administer(user),
        "restart_banners": restart_banners() if can_view(user) else [],
    }
