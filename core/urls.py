from django.urls import path

from . import views
from .auth_views import ThrottledLoginView

urlpatterns = [
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("audit/", views.audit_list, name="audit-list"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("tokens/", views.token_list, name="token-list"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
]
