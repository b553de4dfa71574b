from django.urls import path

from . import views

urlpatterns = [
    path("clusters/<int:pk>/storage/add/", views.storage_add, name="storage-add"),
    path("hosts/<int:pk>/maintenance/", views.host_maintenance, name="host-maintenance"),
    path(
        "hosts/<int:pk>/maintenance/<str:operation>/",
        views.host_maintenance_run,
        name="host-maintenance-run",
    ),
]
