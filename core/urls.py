from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from . import views
from .decorators import single_sign_on_only
from .forms import ConsoleLoginForm

urlpatterns = [
    # Throttled by django-axes (core.throttling), as /admin/login/ is.
    path("login/", views.LoginView.as_view(authentication_form=ConsoleLoginForm), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    # Single sign-on (OpenID Connect); the names are mozilla-django-oidc's own.
    path(
        "oidc/authenticate/",
        single_sign_on_only(OIDCAuthenticationRequestView.as_view()),
        name="oidc_authentication_init",
    ),
    path(
        "oidc/callback/",
        single_sign_on_only(OIDCAuthenticationCallbackView.as_view()),
        name="oidc_authentication_callback",
    ),
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("audit/", views.audit_list, name="audit-list"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("tokens/", views.token_list, name="token-list"),
    path("users/", views.user_list, name="user-list"),
    path("users/<int:pk>/", views.user_detail, name="user-detail"),
    path("set-password/<uidb64>/<token>/", views.PasswordSetView.as_view(), name="password-set"),
    path("set-password/done/", views.password_set_done, name="password-set-done"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("alerts/<int:pk>/snooze/", views.alert_snooze, name="alert-snooze"),
]
