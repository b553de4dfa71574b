from rest_framework import serializers

from clusters.choices import IOHealthState
from clusters.models import (
    CLUSTER_NAME_LENGTH_WHY,
    LUN,
    PBD,
    SR,
    VDI,
    VM,
    Cluster,
    ClusterHostStatus,
    Host,
    HostIOHealth,
    Membership,
)
from core.api.fields import DetailUrlField
from core.api.serializers import PlainTextModelSerializer


class HostSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api:host-detail")

    class Meta:
        model = Host
        fields = [
            "id",
            "url",
            "uuid",
            "hostname",
            "addresses",
            "enabled",
            "registration",
            "sandbox",
            "boot_time",
            "last_heard",
            "agent_version",
            "created",
        ]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api:membership-detail")

    class Meta:
        model = Membership
        fields = [
            "id",
            "url",
            "cluster",
            "host",
            "host_uuid",
            "hostname",
            "number",
            "created",
            "left",
        ]
        read_only_fields = ["number", "host_uuid", "hostname", "created", "left"]


class MembershipCreateSerializer(serializers.Serializer):
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())


class ClusterHostStatusSerializer(serializers.ModelSerializer):
    host = serializers.SlugRelatedField(slug_field="hostname", read_only=True)

    class Meta:
        model = ClusterHostStatus
        fields = [
            "host",
            "reachable",
            "running",
            "enabled",
            "needs_restart",
            "restart_reasons",
            "peers",
            "drift",
            "error",
            "queried",
        ]


class ClusterSerializer(PlainTextModelSerializer):
    url = DetailUrlField(view_name="api:cluster-detail")
    needs_restart = serializers.SerializerMethodField()
    members = serializers.SerializerMethodField()
    host_statuses = ClusterHostStatusSerializer(many=True, read_only=True)

    class Meta:
        model = Cluster
        fields = [
            "id",
            "url",
            "name",
            "plugin",
            "heartbeat_mode",
            "cluster_name",
            "auto_join",
            "created",
            "needs_restart",
            "members",
            "host_statuses",
        ]
        read_only_fields = ["plugin", "heartbeat_mode", "created"]
        extra_kwargs = {"cluster_name": {"length_why": CLUSTER_NAME_LENGTH_WHY}}

    def get_needs_restart(self, cluster) -> bool:
        return any(status.needs_restart for status in cluster.host_statuses.all())

    def get_members(self, cluster) -> list[dict]:
        return [
            {"number": m.number, "hostname": m.hostname, "host": m.host_id, "left": m.left}
            for m in cluster.memberships.all()
        ]


class LUNSerializer(serializers.ModelSerializer):
    class Meta:
        model = LUN
        fields = ["id", "scsi_id", "size", "vendor", "model"]


class SRSerializer(serializers.ModelSerializer):
    class Meta:
        model = SR
        fields = ["id", "uuid", "name", "sm_type", "format", "lun", "cluster", "created"]


class PBDSerializer(serializers.ModelSerializer):
    class Meta:
        model = PBD
        fields = ["id", "uuid", "host", "sr", "plugged"]


class VDISerializer(serializers.ModelSerializer):
    class Meta:
        model = VDI
        fields = ["id", "uuid", "sr", "name", "vdi_type", "size", "cluster"]


class VMSerializer(serializers.ModelSerializer):
    class Meta:
        model = VM
        fields = ["id", "uuid", "name", "resident_on", "memory", "power_state"]


class FindingSerializer(serializers.Serializer):
    kind = serializers.CharField()
    subject = serializers.CharField()
    severity = serializers.ChoiceField(choices=IOHealthState.choices)
    message = serializers.CharField()
    fix = serializers.CharField()


class HostIOHealthSerializer(serializers.ModelSerializer):
    hostname = serializers.CharField(source="host.hostname", read_only=True)
    problems = FindingSerializer(many=True, read_only=True)
    config_warnings = FindingSerializer(many=True, read_only=True)
    time_to_fence = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Seconds before O2CB fences the host, if so"
    )

    class Meta:
        model = HostIOHealth
        fields = [
            "host",
            "hostname",
            "state",
            "since",
            "checked",
            "time_to_fence",
            "problems",
            "config_warnings",
        ]
        read_only_fields = fields


class HostIOHealthDetailSerializer(HostIOHealthSerializer):
    class Meta(HostIOHealthSerializer.Meta):
        fields = [*HostIOHealthSerializer.Meta.fields, "probe"]
        read_only_fields = fields


class SRHostIOSerializer(serializers.Serializer):
    host = serializers.IntegerField(source="host.pk")
    hostname = serializers.CharField(source="host.hostname")
    state = serializers.ChoiceField(choices=IOHealthState.choices)
    paths_up = serializers.IntegerField(allow_null=True)
    paths_total = serializers.IntegerField(allow_null=True)
    heartbeat_lag_ms = serializers.IntegerField(source="lag_ms", allow_null=True)
    dead_ms = serializers.IntegerField(allow_null=True)
    plugged = serializers.BooleanField(allow_null=True)
    problems = FindingSerializer(many=True)


class SRIOHealthSerializer(serializers.Serializer):
    sr = serializers.IntegerField(source="sr.pk")
    state = serializers.ChoiceField(choices=IOHealthState.choices)
    hosts = SRHostIOSerializer(many=True, source="rows")
