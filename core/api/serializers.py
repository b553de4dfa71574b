from django.contrib.auth import get_user_model
from django.db import models
from rest_framework import serializers

from core.api.fields import DetailUrlField, PlainTextField
from core.choices import Role
from core.models import Alert, ApiToken, AuditEvent, Task, TaskStep
from core.selectors import user_role

User = get_user_model()


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
    snoozed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
            "snoozed_until",
            "snoozed_by",
        ]


class AlertSnoozeSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=0, max_value=7 * 24 * 60, help_text="How long no messages are sent; 0 ends it"
    )


class TaskAcceptedSerializer(serializers.Serializer):
    """The answer to an operation that runs on hosts: 202 and where to follow it."""

    task = serializers.URLField()
    task_id = serializers.IntegerField()
    status = serializers.CharField()


class ProgressNoteSerializer(serializers.Serializer):
    at = serializers.FloatField(help_text="Seconds after the request started")
    doing = serializers.CharField()


class ProgressSerializer(serializers.Serializer):
    """What a request sent with a `Progress-Id` is doing, or did."""

    id = serializers.CharField()
    method = serializers.CharField()
    path = serializers.CharField()
    state = serializers.ChoiceField(choices=["running", "finished"])
    status_code = serializers.IntegerField(
        allow_null=True, help_text="The request's answer, once finished"
    )
    doing = serializers.CharField(help_text="What it is doing now (or did last)")
    done = serializers.IntegerField(allow_null=True, help_text="How many of `total` are done")
    total = serializers.IntegerField(allow_null=True)
    gives_up_after = serializers.FloatField(
        allow_null=True, help_text="Seconds after which the current wait gives up"
    )
    since = serializers.FloatField(help_text="Seconds after the start when it began doing it")
    elapsed = serializers.FloatField(help_text="Seconds from the start to now, or to its end")
    notes = ProgressNoteSerializer(many=True, help_text="What it did, in order")


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


ROLE_CHOICES = [(role.value, role.label) for role in Role]


class UserSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api:user-detail")
    # Django keeps "" for a user without an address, which no e-mail format admits.
    email = serializers.CharField(read_only=True, help_text='The user\'s e-mail address, or "".')
    role = serializers.SerializerMethodField(help_text="pool-admin, pool-operator, read-only, null")
    active_tokens = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "url",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_active",
            "is_superuser",
            "last_login",
            "date_joined",
            "active_tokens",
        ]

    def get_role(self, user) -> str | None:
        role = user_role(user)
        return role.value if role else None

    def get_active_tokens(self, user) -> int:
        count = getattr(user, "active_tokens", None)
        return count if count is not None else user.api_tokens.filter(revoked=None).count()


class UserCreateSerializer(serializers.Serializer):
    username = PlainTextField(max_length=150)
    role = serializers.ChoiceField(choices=ROLE_CHOICES, allow_null=True)
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=4096,
        help_text="Leave it out for a one-time set-password link the user opens.",
    )
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = PlainTextField(required=False, allow_blank=True, max_length=150)
    last_name = PlainTextField(required=False, allow_blank=True, max_length=150)


class UserCreatedSerializer(UserSerializer):
    set_password_url = serializers.URLField(
        read_only=True,
        allow_null=True,
        help_text="A one-time link where the user sets their password; shown this once.",
    )

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "set_password_url"]


class UserRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=ROLE_CHOICES, allow_null=True, help_text="null takes every role away"
    )


class UserPasswordSerializer(serializers.Serializer):
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=4096,
        help_text="Leave it out to end the current password and get a set-password link.",
    )


class UserPasswordAnswerSerializer(serializers.Serializer):
    user = UserSerializer()
    set_password_url = serializers.URLField(allow_null=True)


class UserTokenSerializer(serializers.Serializer):
    name = PlainTextField(max_length=100)
