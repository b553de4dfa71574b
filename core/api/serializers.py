from django.db import models
from rest_framework import serializers

from core.api.fields import DetailUrlField, PlainTextField
from core.models import Alert, ApiToken, AuditEvent, Task, TaskStep


class PlainTextModelSerializer(serializers.ModelSerializer):
    """A model serializer whose short text fields refuse control characters."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: PlainTextField,
    }


class TargetFields(serializers.Serializer):
    target_kind = serializers.CharField(read_only=True)
    target_id = serializers.CharField(read_only=True)
    target_repr = serializers.CharField(read_only=True)


class TaskStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskStep
        fields = [
            "position",
            "key",
            "name",
            "why",
            "status",
            "message",
            "retries",
            "started",
            "finished",
        ]


class TaskSerializer(TargetFields, serializers.ModelSerializer):
    url = DetailUrlField(view_name="api:task-detail")
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    steps = TaskStepSerializer(many=True, read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "url",
            "uuid",
            "name",
            "kind",
            "status",
            "progress",
            "user",
            "target_kind",
            "target_id",
            "target_repr",
            "params",
            "result",
            "error",
            "created",
            "started",
            "finished",
            "steps",
        ]


class AuditEventSerializer(TargetFields, serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created",
            "actor_name",
            "action",
            "outcome",
            "message",
            "target_kind",
            "target_id",
            "target_repr",
            "task",
        ]


class AlertSerializer(TargetFields, serializers.ModelSerializer):
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "name",
            "priority",
            "message",
            "target_kind",
            "target_id",
            "target_repr",
            "created",
            "updated",
            "cleared",
            "acknowledged",
            "acknowledged_by",
        ]


class TaskAcceptedSerializer(serializers.Serializer):
    """The answer to an operation that runs on hosts: 202 and where to follow it."""

    task = serializers.URLField()
    task_id = serializers.IntegerField()
    status = serializers.CharField()


class ApiTokenSerializer(PlainTextModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "user", "created", "last_used", "revoked"]
        read_only_fields = ["prefix", "created", "last_used", "revoked"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown this once; keep it safe.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
