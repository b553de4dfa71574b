import django_filters

from .models import Alert, AuditEvent, Task


class TaskFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Task
        fields = ["status", "kind", "name", "target_id"]


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name")
    action = django_filters.CharFilter(lookup_expr="startswith")
    target = django_filters.CharFilter(field_name="target_repr", lookup_expr="icontains")
    since = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "outcome", "target", "since", "until"]


class AlertFilterSet(django_filters.FilterSet):
    open = django_filters.BooleanFilter(
        method="filter_open", label="Open (not cleared or acknowledged)"
    )

    class Meta:
        model = Alert
        fields = ["name", "priority", "open"]

    def filter_open(self, queryset, name, value):
        is_open = {"acknowledged__isnull": True, "cleared__isnull": True}
        return queryset.filter(**is_open) if value else queryset.exclude(**is_open)
