from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views
from .auth_views import ThrottledLoginView

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("audit/", views.audit_list, name="audit-list"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("tokens/", views.token_list, name="token-list"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("", include("clusters.urls")),
    path("", include("crashes.urls")),
    path("", include("maintenance.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL, so the docs work under our strict CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("console.api.urls")),
]

handler403 = "console.views.error_403"
handler404 = "console.views.error_404"
handler500 = "console.views.error_500"
