from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from console import services
from console.filtersets import AlertFilterSet, AuditEventFilterSet, TaskFilterSet
from console.models import Alert, AuditEvent, Task
from console.permissions import OPERATE

from .serializers import AlertSerializer, AuditEventSerializer, TaskSerializer


def task_accepted(request, task: Task) -> Response:
    """202 with the Task's URL: the answer of every operation that touches hosts."""
    url = request.build_absolute_uri(reverse("api:task-detail", args=[task.pk]))
    return Response(
        {"task": url, "task_id": task.pk, "status": task.status},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )


class TaskViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Task.objects.select_related("user", "target_type").prefetch_related("steps")
    serializer_class = TaskSerializer
    filterset_class = TaskFilterSet
    action_permissions = {"cancel": OPERATE}

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        task = services.task_cancel(task=self.get_object(), actor=request.user)
        return Response(TaskSerializer(task, context={"request": request}).data)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.select_related("target_type")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Alert.objects.select_related("target_type", "acknowledged_by")
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    action_permissions = {"acknowledge": OPERATE}

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = services.alert_acknowledge(alert=self.get_object(), actor=request.user)
        return Response(AlertSerializer(alert, context={"request": request}).data)
