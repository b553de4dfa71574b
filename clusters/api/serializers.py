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
    Pool,
)
from core.api.fields import DetailUrlField
from core.api.serializers import PlainTextModelSerializer
from core.permissions import can_administer


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
            "pool",
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
            "pool",
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


class WhatIfSerializer(serializers.Serializer):
    """A failure to judge: what breaks, and whose part (a path set, NIC or bond)."""

    kind = serializers.ChoiceField(
        choices=["host", "lun", "path_set", "segment", "nic", "bond", "array_pause", "array_error"],
        help_text="host, lun, path_set, segment (a switch or link), nic, bond, array_pause "
        "(every write hangs for `seconds`), array_error (every I/O fails)",
    )
    target = serializers.CharField(
        max_length=253,
        help_text="The host name, LUN WWID, path set, segment, NIC, bond or array",
    )
    host = serializers.CharField(
        max_length=253,
        required=False,
        allow_null=True,
        default=None,
        help_text="Whose path set, NIC or bond (a path set without a host: on every host)",
    )
    seconds = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=86400,
        help_text="How long an array pause lasts",
    )


class FenceEventSerializer(serializers.Serializer):
    at_s = serializers.FloatField(help_text="Seconds after the failure")
    what = serializers.CharField()
    rule = serializers.CharField(help_text="The kernel function whose rule applies")


class HostFateSerializer(serializers.Serializer):
    host = serializers.CharField()
    number = serializers.IntegerField(help_text="O2CB node number")
    fate = serializers.ChoiceField(choices=["failed", "fenced", "survives", "idle"])
    at_s = serializers.FloatField(allow_null=True, help_text="When it fences (or fails)")
    rule = serializers.CharField(help_text="What decided its fate")
    why = serializers.CharField()
    events = FenceEventSerializer(many=True)
    srs = serializers.ListField(child=serializers.CharField(), help_text="SRs it keeps")


class WhatIfOutcomeSerializer(serializers.Serializer):
    description = serializers.CharField()
    dead_s = serializers.FloatField(help_text="(O2CB_HEARTBEAT_THRESHOLD - 1) x 2 s")
    negotiation_s = serializers.FloatField(help_text="Half the dead time: the first warning")
    network_decision_s = serializers.FloatField(
        help_text="Idle timeout plus the quorum delay: when a network split is decided"
    )
    fenced = serializers.ListField(child=serializers.CharField())
    survivors = serializers.ListField(child=serializers.CharField())
    sr_holders = serializers.ListField(
        child=serializers.CharField(), help_text="Survivors with SRs plugged"
    )
    hosts = HostFateSerializer(many=True)


class PoolSerializer(serializers.ModelSerializer):
    """A pool as everyone with a role reads it: no password ever, the user name only for
    pool-admins. On a write the password is taken and never answered."""

    url = DetailUrlField(view_name="api:pool-detail")
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write only; empty on an edit keeps the one on record.",
    )  # fmt: skip
    hosts = serializers.SerializerMethodField()
    clusters = serializers.SerializerMethodField()
    srs = serializers.SerializerMethodField()

    class Meta:
        model = Pool
        fields = [
            "id", "url", "name", "uuid", "master_address", "tls_verify", "username",
            "password", "state", "error", "failures", "retry_at", "last_event", "created",
            "hosts", "clusters", "srs",
        ]  # fmt: skip
        read_only_fields = [
            "uuid", "state", "error", "failures", "retry_at", "last_event", "created",
        ]  # fmt: skip

    def to_representation(self, pool):
        data = super().to_representation(pool)
        request = self.context.get("request")
        if request is None or not can_administer(request.user):
            data.pop("username", None)
        return data

    def get_hosts(self, pool) -> list[int]:
        return [host.pk for host in pool.hosts.all()]

    def get_clusters(self, pool) -> list[int]:
        return [cluster.pk for cluster in pool.clusters.all()]

    def get_srs(self, pool) -> list[dict]:
        return [
            {k: v for k, v in sr.items() if k != "pbds"}
            for sr in sorted((pool.srs or {}).values(), key=lambda sr: sr["name"])
        ]
