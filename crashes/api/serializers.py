from rest_framework import serializers

from clusters.models import Host
from core.api.fields import DetailUrlField
from core.errors import ConsoleError
from crashes.models import CrashIncident, HostCrashdump
from crashes.selectors import signature_key
from crashes.services import stated_crash_time


class EvidenceSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField()
    text = serializers.CharField()


class HostCrashdumpSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api:hostcrashdump-detail")
    evidence = EvidenceSerializer(many=True, read_only=True)
    verdict = serializers.CharField(
        read_only=True,
        help_text="The cause as the pages say it; a `bug` with no crash signature found says so",
    )

    class Meta:
        model = HostCrashdump
        fields = [
            "id",
            "url",
            "uuid",
            "host",
            "hostname",
            "name",
            "source",
            "time",
            "received",
            "size",
            "files",
            "cause",
            "verdict",
            "explanation",
            "evidence",
            "details",
            "signature",
            "incident",
            "acknowledged",
        ]
        read_only_fields = fields


class CrashUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A log or an archive of a crash dump directory")
    host = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), required=False, allow_null=True
    )
    crashed_at = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="When it crashed, ISO 8601, UTC unless it carries an offset; used only if "
        "the dump gives no time of its own. Without a time it joins no incident.",
    )

    def validate_crashed_at(self, value):
        try:
            return stated_crash_time(value)
        except ConsoleError as exc:
            raise serializers.ValidationError(exc.message) from None


class CrashIncidentSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrashIncident
        fields = ["id", "time", "cause", "summary", "timeline", "crashes"]
        read_only_fields = fields


class BugSignatureSerializer(serializers.Serializer):
    key = serializers.SerializerMethodField(help_text="Names the group: /api/bug-signatures/<key>/")
    signature = serializers.CharField()
    count = serializers.IntegerField()
    hosts = serializers.IntegerField(help_text="Hosts it happened on")
    without_host = serializers.IntegerField(help_text="Uploads that named no host")
    first = serializers.DateTimeField(help_text="First seen: the earliest crash time")
    last = serializers.DateTimeField(help_text="Last seen")

    def get_key(self, group) -> str:
        return signature_key(group["signature"])


class BugSignatureGroupSerializer(BugSignatureSerializer):
    host_names = serializers.ListField(child=serializers.CharField(), source="hosts_named")
    crashes = HostCrashdumpSerializer(many=True)
