from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from core.filtersets import AlertFilterSet, AuditEventFilterSet, TaskFilterSet
from core.models import Alert, ApiToken, AuditEvent, Task
from core.permissions import ADMINISTER, OPERATE, VIEW, CanAdministerPool
from core.progress import ID_PATTERN, progress_read
from core.selectors import users_with_roles
from core.services.alerts import alert_acknowledge, alert_snooze
from core.services.auth import api_token_create, api_token_revoke
from core.services.tasks import task_cancel
from core.services.users import (
    user_create,
    user_deactivate,
    user_reactivate,
    user_set_password,
    user_set_role,
)

from .serializers import (
    AlertSerializer,
    AlertSnoozeSerializer,
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    ProgressSerializer,
    TaskSerializer,
    UserCreatedSerializer,
    UserCreateSerializer,
    UserPasswordAnswerSerializer,
    UserPasswordSerializer,
    UserRoleSerializer,
    UserSerializer,
    UserTokenSerializer,
)


def task_accepted(request, task: Task) -> Response:
    """202 with the Task's URL: the answer of every operation that touches hosts."""
    url = request.build_absolute_uri(reverse("api:task-detail", args=[task.pk]))
    return Response(
        {"task": url, "task_id": task.pk, "status": task.status},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )


class ProgressViewSet(viewsets.ViewSet):
    """The progress of your own request that waits, sent with a `Progress-Id` header.

    Send a long request (a preview that asks every host, a pool's first log-in, a test
    message) with `Progress-Id: <a UUID of yours>`, and read this from another connection
    while it runs: what it is doing now, how many of how many, when the current wait gives
    up. Kept ten minutes after its last word; only its sender reads it."""

    # Any short id reaches the view, so a refusal is about who asks (401/403), not the URL.
    lookup_value_regex = r"[^/]{1,64}"

    @extend_schema(responses=ProgressSerializer)
    def retrieve(self, request, pk=None):
        record = progress_read(request.user.pk, pk) if ID_PATTERN.fullmatch(pk) else None
        if record is None:
            raise NotFound(
                "No request of yours with this progress id ran in the last ten minutes "
                "(or it has not been authenticated yet: ask again in a moment)."
            )
        return Response(ProgressSerializer(record).data)


class TaskViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Task.objects.select_related("user", "target_type").prefetch_related("steps")
    serializer_class = TaskSerializer
    filterset_class = TaskFilterSet
    action_permissions = {"cancel": OPERATE}

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        task = task_cancel(task=self.get_object(), actor=request.user)
        return Response(TaskSerializer(task, context={"request": request}).data)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.select_related("target_type")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Alert.objects.select_related("target_type", "acknowledged_by", "snoozed_by")
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    action_permissions = {"acknowledge": OPERATE, "snooze": OPERATE}

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = alert_acknowledge(alert=self.get_object(), actor=request.user)
        return Response(AlertSerializer(alert, context={"request": request}).data)

    @extend_schema(request=AlertSnoozeSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        """No messages about the alert for `minutes` (fences are sent anyway)."""
        body = AlertSnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = alert_snooze(
            alert=self.get_object(), minutes=body.validated_data["minutes"], actor=request.user
        )
        return Response(AlertSerializer(alert, context={"request": request}).data)


class ApiTokenViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Your API tokens; a pool-admin sees and can revoke everyone's (for off-boarding)."""

    queryset = ApiToken.objects.select_related("user")
    serializer_class = ApiTokenSerializer
    action_permissions = {"create": VIEW, "revoke": VIEW}

    def get_queryset(self):
        tokens = super().get_queryset()
        if self.request.user.has_perm(ADMINISTER):
            return tokens
        return tokens.filter(user=self.request.user)

    @extend_schema(responses={201: ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = api_token_create(
            user=request.user,
            name=serializer.validated_data["name"],
            by_token=request.auth if isinstance(request.auth, ApiToken) else None,
        )
        data = ApiTokenCreatedSerializer(token, context={"request": request}).data
        data["key"] = key
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = api_token_revoke(token=self.get_object(), actor=request.user)
        return Response(self.get_serializer(token).data)


def _link(request, path: str | None) -> str | None:
    return request.build_absolute_uri(path) if path else None


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Users and their roles, for pool-admins only. A user is never deleted: deactivate."""

    queryset = users_with_roles()
    serializer_class = UserSerializer
    permission_classes = [CanAdministerPool]

    def _answer(self, user) -> Response:
        user = self.get_queryset().get(pk=user.pk)  # with its groups and token count again
        return Response(UserSerializer(user, context={"request": self.request}).data)

    def _input(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=UserCreateSerializer, responses={201: UserCreatedSerializer})
    def create(self, request, *args, **kwargs):
        user, path = user_create(actor=request.user, **self._input(UserCreateSerializer))
        user = self.get_queryset().get(pk=user.pk)
        data = UserCreatedSerializer(user, context={"request": request}).data
        data["set_password_url"] = _link(request, path)
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserRoleSerializer, responses=UserSerializer)
    @action(detail=True, methods=["post"])
    def role(self, request, pk=None):
        data = self._input(UserRoleSerializer)
        return self._answer(user_set_role(actor=request.user, user=self.get_object(), **data))

    @extend_schema(request=None, responses=UserSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        return self._answer(user_deactivate(actor=request.user, user=self.get_object()))

    @extend_schema(request=None, responses=UserSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        return self._answer(user_reactivate(actor=request.user, user=self.get_object()))

    @extend_schema(request=UserPasswordSerializer, responses=UserPasswordAnswerSerializer)
    @action(detail=True, methods=["post"])
    def password(self, request, pk=None):
        data = self._input(UserPasswordSerializer)
        user = self.get_object()
        path = user_set_password(actor=request.user, user=user, **data)
        user = self.get_queryset().get(pk=user.pk)
        return Response(
            {
                "user": UserSerializer(user, context={"request": request}).data,
                "set_password_url": _link(request, path),
            }
        )

    @extend_schema(request=UserTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    @action(detail=True, methods=["post"])
    def tokens(self, request, pk=None):
        """Make an API token for this user; its key is in this answer only."""
        token, key = api_token_create(
            user=self.get_object(),
            name=self._input(UserTokenSerializer)["name"],
            by_token=request.auth if isinstance(request.auth, ApiToken) else None,
            actor=request.user,
        )
        data = ApiTokenCreatedSerializer(token, context={"request": request}).data
        data["key"] = key
        return Response(data, status=status.HTTP_201_CREATED)
