from django.conf import settings

from clusters.models import Host
from clusters.selectors.clusters import restart_banners
from core.permissions import can_administer, can_operate, can_view


def console(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_view": can_view(user),
        "can_operate": can_operate(user),
        "can_administer": can_administer(user),
        "restart_banners": restart_banners() if can_view(user) else [],
        # An htmx poll of a live part: its answer carries the banners too (out of band).
        "live_refresh": bool(request.headers.get("HX-Request")),
        # Evaluated by the template only where it is asked for (the admin's menu).
        "drill_hosts": lambda: bool(settings.LAB_DIR) or Host.objects.filter(sandbox=True).exists(),
    }
