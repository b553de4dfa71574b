from rest_framework import serializers

from clusters.models import Host, Pool
from core.api.fields import PlainTextField
from core.choices import AlertName, AlertPriority

from ..choices import TargetKind
from ..models import Delivery, DeliveryAttempt, HostSilence, NotificationRule, NotificationTarget


class NotificationTargetSerializer(serializers.ModelSerializer):
    """A target; `secret` is write-only: answers say only whether one is set."""

    name = PlainTextField(max_length=100)
    kind = serializers.ChoiceField(choices=TargetKind.choices)
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, max_length=50
    )
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    secret = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Signs web-hook bodies (HMAC-SHA256); never shown again. Left out: unchanged",
    )
    has_secret = serializers.BooleanField(read_only=True)
    last_delivery = serializers.SerializerMethodField()

    class Meta:
        model = NotificationTarget
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "recipients",
            "url",
            "secret",
            "has_secret",
            "last_delivery",
            "created",
            "updated",
        ]

    def get_last_delivery(self, target) -> dict | None:
        last = target.deliveries.order_by("-created", "-id").first()
        if last is None:
            return None
        return {"id": last.pk, "status": last.status, "answer": last.last_answer}


class NotificationRuleSerializer(serializers.ModelSerializer):
    name = PlainTextField(max_length=100)
    alert_names = serializers.ListField(
        child=serializers.ChoiceField(choices=AlertName.choices), required=False
    )
    priority_at_least = serializers.ChoiceField(
        choices=AlertPriority.choices, required=False, default=AlertPriority.INFO
    )
    pools = serializers.PrimaryKeyRelatedField(
        queryset=Pool.objects.all(), many=True, required=False
    )
    hosts = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), many=True, required=False
    )
    targets = serializers.PrimaryKeyRelatedField(
        queryset=NotificationTarget.objects.all(), many=True
    )

    class Meta:
        model = NotificationRule
        fields = [
            "id",
            "name",
            "enabled",
            "alert_names",
            "priority_at_least",
            "pools",
            "hosts",
            "targets",
            "created",
            "updated",
        ]


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "at", "ok", "answer", "retry_in"]


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="notification.event", read_only=True)
    alert = serializers.IntegerField(source="notification.alert_id", read_only=True)
    alert_name = serializers.SerializerMethodField()
    tries = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "target",
            "event",
            "alert",
            "alert_name",
            "status",
            "attempts",
            "last_answer",
            "next_attempt",
            "delivered",
            "created",
            "tries",
        ]

    def get_alert_name(self, delivery) -> str | None:
        alert = delivery.notification.alert
        return alert.name if alert else None


class HostSilenceSerializer(serializers.ModelSerializer):
    host = serializers.PrimaryKeyRelatedField(source="maintenance.host", read_only=True)
    hostname = serializers.CharField(source="maintenance.host.hostname", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = HostSilence
        fields = ["host", "hostname", "created_by", "created"]


class HostSilenceCreateSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())
