from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import metrics, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("core.urls")),
    path("", include("clusters.urls")),
    path("", include("crashes.urls")),
    path("", include("maintenance.urls")),
    path("", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL, so the docs work under our strict CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("console.api.urls")),
]

handler400 = "console.views.error_400"
handler403 = "console.views.error_403"
handler404 = "console.views.error_404"
handler500 = "console.views.error_500"
