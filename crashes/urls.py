from django.urls import path

from . import views

urlpatterns = [
    path("crashes/", views.crash_list, name="crash-list"),
    path("crashes/signatures/<str:key>/", views.bug_group, name="crash-signature"),
    path("crashes/<int:pk>/", views.crash_detail, name="crash-detail"),
    path("crashes/<int:pk>/acknowledge/", views.crash_acknowledge, name="crash-acknowledge"),
    path("crashes/<int:pk>/bundle/", views.crash_bundle, name="crash-bundle"),
]
