from django.urls import path

from . import views

urlpatterns = [
    path("hosts/<int:pk>/remove/", views.host_remove, name="host-remove"),
    path(
        "clusters/<int:pk>/rolling-restart/",
        views.cluster_rolling_restart,
        name="cluster-rolling-restart",
    ),
    path("clusters/<int:pk>/storage/add/", views.storage_add, name="storage-add"),
    path("hosts/<int:pk>/maintenance/", views.host_maintenance, name="host-maintenance"),
    path(
        "hosts/<int:pk>/maintenance/<str:operation>/",
        views.host_maintenance_run,
        name="host-maintenance-run",
    ),
]
