from rest_framework import serializers

from clusters.models import (
    LUN,
    PBD,
    SR,
    VDI,
    VM,
    Cluster,
    ClusterHostStatus,
    Host,
    Membership,
)


class HostSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:host-detail")

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
    url = serializers.HyperlinkedIdentityField(view_name="api:membership-detail")

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


class ClusterSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:cluster-detail")
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
