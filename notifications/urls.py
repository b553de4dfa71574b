from django.urls import path

from . import views

urlpatterns = [
    path("notifications/targets/", views.target_list, name="notification-target-list"),
    path("notifications/targets/<int:pk>/", views.target_detail, name="notification-target-detail"),
    path(
        "notifications/targets/<int:pk>/test/", views.target_test, name="notification-target-test"
    ),
    path("notifications/rules/", views.rule_list, name="notification-rule-list"),
    path("notifications/rules/<int:pk>/", views.rule_detail, name="notification-rule-detail"),
    path("notifications/deliveries/", views.delivery_list, name="notification-delivery-list"),
    path("notifications/silences/", views.silence, name="notification-silence"),
]
