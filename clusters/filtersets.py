import django_filters

from .models import PBD, SR, VDI, VM, Cluster, Host, Membership


class HostFilterSet(django_filters.FilterSet):
    hostname = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Host
        fields = ["hostname", "registration", "enabled", "sandbox"]


class ClusterFilterSet(django_filters.FilterSet):
    class Meta:
        model = Cluster
        fields = ["name", "cluster_name", "plugin", "auto_join"]


class MembershipFilterSet(django_filters.FilterSet):
    current = django_filters.BooleanFilter(
        field_name="left", lookup_expr="isnull", label="Current (not left)"
    )

    class Meta:
        model = Membership
        fields = ["cluster", "host", "number", "current"]


class SRFilterSet(django_filters.FilterSet):
    class Meta:
        model = SR
        fields = ["cluster", "format", "sm_type"]


class PBDFilterSet(django_filters.FilterSet):
    class Meta:
        model = PBD
        fields = ["host", "sr", "plugged"]


class VDIFilterSet(django_filters.FilterSet):
    class Meta:
        model = VDI
        fields = ["sr", "vdi_type", "cluster"]


class VMFilterSet(django_filters.FilterSet):
    class Meta:
        model = VM
        fields = ["resident_on", "power_state"]
