from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clusters.models import Host
from core.permissions import CanAdministerPool

from ..models import Delivery, HostSilence, NotificationRule, NotificationTarget
from ..services.config import (
    host_silence,
    host_unsilence,
    rule_create,
    rule_delete,
    rule_update,
    target_create,
    target_delete,
    target_test,
    target_update,
)
from .serializers import (
    DeliverySerializer,
    HostSilenceCreateSerializer,
    HostSilenceSerializer,
    NotificationRuleSerializer,
    NotificationTargetSerializer,
)


class NotificationTargetViewSet(viewsets.ModelViewSet):
    """Where alerts are sent (pool-admins). `secret` is write-only."""

    queryset = NotificationTarget.objects.all()
    serializer_class = NotificationTargetSerializer
    permission_classes = [CanAdministerPool]

    def perform_create(self, serializer):
        serializer.instance = target_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.setdefault("secret", None)  # left out: unchanged
        serializer.instance = target_update(
            actor=self.request.user, target=serializer.instance, **data
        )

    def perform_destroy(self, instance):
        target_delete(actor=self.request.user, target=instance)

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a test message now and answer with what the target said."""
        delivery = target_test(actor=request.user, target=self.get_object())
        return Response(DeliverySerializer(delivery).data)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The target's delivery log, newest first: each try and what the target said."""
        rows = (
            Delivery.objects.filter(target=self.get_object())
            .select_related("notification__alert")
            .prefetch_related("tries")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class NotificationRuleViewSet(viewsets.ModelViewSet):
    """Which alerts (names, priority at or above, pools or hosts) go to which targets."""

    queryset = NotificationRule.objects.prefetch_related("pools", "hosts", "targets")
    serializer_class = NotificationRuleSerializer
    permission_classes = [CanAdministerPool]

    def perform_create(self, serializer):
        serializer.instance = rule_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = rule_update(
            actor=self.request.user, rule=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        rule_delete(actor=self.request.user, rule=instance)


class HostSilenceViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Hosts silenced while in maintenance, by host id; fences are sent anyway."""

    queryset = HostSilence.objects.select_related("maintenance__host", "created_by")
    serializer_class = HostSilenceSerializer
    permission_classes = [CanAdministerPool]
    lookup_url_kwarg = "id"  # a silence's key is its host's (HostMaintenance's is the host)

    @extend_schema(request=HostSilenceCreateSerializer, responses={201: HostSilenceSerializer})
    def create(self, request):
        body = HostSilenceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        silence = host_silence(actor=request.user, host=body.validated_data["host"])
        return Response(HostSilenceSerializer(silence).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, id=None):  # noqa: A002 (the URL's name)
        host_unsilence(actor=request.user, host=get_object_or_404(Host, pk=id))
        return Response(status=status.HTTP_204_NO_CONTENT)
