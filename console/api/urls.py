from django.urls import include, path
from rest_framework.routers import DefaultRouter

from clusters.api import views as cluster_views
from core.api import views
from crashes.api import views as crash_views
from maintenance.api import views as maintenance_views
from notifications.api import views as notification_views

app_name = "api"


class Router(DefaultRouter):
    """Every object is addressed by its integer primary key: `/hosts/x/` is no address at
    all (404 from the URL resolver), never a lookup that fails inside a view."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        lookup = getattr(viewset, "lookup_url_kwarg", None) or getattr(
            viewset, "lookup_field", "pk"
        )
        value = getattr(viewset, "lookup_value_regex", r"\d{1,18}")  # fits a 64-bit key
        return f"(?P<{lookup_prefix}{lookup}>{value})"


router = Router()
router.register("tasks", views.TaskViewSet)
router.register("progress", views.ProgressViewSet, basename="progress")
router.register("audit", views.AuditEventViewSet)
router.register("alerts", views.AlertViewSet)
router.register("tokens", views.ApiTokenViewSet, basename="apitoken")
router.register("users", views.UserViewSet, basename="user")
router.register("pools", cluster_views.PoolViewSet)
router.register("hosts", cluster_views.HostViewSet)
router.register("io-health", cluster_views.HostIOHealthViewSet)
router.register("clusters", cluster_views.ClusterViewSet)
router.register("memberships", cluster_views.MembershipViewSet)
router.register("luns", cluster_views.LUNViewSet)
router.register("srs", cluster_views.SRViewSet)
router.register("pbds", cluster_views.PBDViewSet)
router.register("vdis", cluster_views.VDIViewSet)
router.register("vms", cluster_views.VMViewSet)
router.register("maintenance", maintenance_views.MaintenanceViewSet, basename="maintenance")
router.register("storage", maintenance_views.StorageViewSet, basename="storage")
router.register("crashdumps", crash_views.HostCrashdumpViewSet)
router.register("crash-incidents", crash_views.CrashIncidentViewSet)
router.register("bug-signatures", crash_views.BugSignatureViewSet, basename="bug-signature")
router.register("notification-targets", notification_views.NotificationTargetViewSet)
router.register("notification-rules", notification_views.NotificationRuleViewSet)
router.register("notification-silences", notification_views.HostSilenceViewSet)

urlpatterns = [path("", include(router.urls))]
