from django.contrib import admin

from .models import LUN, PBD, SR, VDI, VM, Cluster, ClusterHostStatus, Host, Membership

for model in (Host, Cluster, Membership, ClusterHostStatus, LUN, SR, PBD, VDI, VM):
    admin.site.register(model)
