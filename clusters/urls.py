from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("hosts/", views.host_list, name="host-list"),
    path("hosts/check/", views.hosts_check, name="hosts-check"),
    path("hosts/<int:pk>/accept/", views.host_accept, name="host-accept"),
    path("hosts/<int:pk>/io/", views.host_io, name="host-io"),
    path("srs/<int:pk>/io/", views.sr_io, name="sr-io"),
    path("faults/", views.faults, name="faults"),
    # Its address before lab guests could be given faults too.
    path("sandbox/faults/", RedirectView.as_view(pattern_name="faults"), name="sandbox-faults"),
    path("pools/", views.pool_list, name="pool-list"),
    path("pools/<int:pk>/", views.pool_detail, name="pool-detail"),
    path("pools/<int:pk>/remove/", views.pool_destroy, name="pool-destroy"),
    path("clusters/", views.cluster_list, name="cluster-list"),
    path("clusters/<int:pk>/", views.cluster_detail, name="cluster-detail"),
    path("clusters/<int:pk>/what-if/", views.cluster_what_if, name="cluster-what-if"),
    path("clusters/<int:pk>/start/", views.cluster_start, name="cluster-start"),
    path("clusters/<int:pk>/reconcile/", views.cluster_reconcile, name="cluster-reconcile"),
    path("clusters/<int:pk>/join/", views.membership_create, name="membership-create"),
    path("memberships/<int:pk>/leave/", views.membership_destroy, name="membership-destroy"),
]
