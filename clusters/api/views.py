from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clusters.fencing.model import Failure, FailureKind, LayoutError
from clusters.fencing.selectors import what_if
from clusters.filtersets import (
    ClusterFilterSet,
    HostFilterSet,
    MembershipFilterSet,
    PBDFilterSet,
    SRFilterSet,
    VDIFilterSet,
    VMFilterSet,
)
from clusters.iohealth.selectors import sr_io_overview
from clusters.models import (
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
from clusters.services import pools as pool_services
from clusters.services.hosts import host_accept, hosts_check
from clusters.services.memberships import (
    cluster_check_now,
    cluster_create,
    cluster_start,
    membership_create,
    membership_destroy,
)
from core.api.serializers import TaskAcceptedSerializer
from core.api.views import task_accepted
from core.errors import ConsoleError
from core.permissions import VIEW

from .serializers import (
    ClusterSerializer,
    HostIOHealthDetailSerializer,
    HostIOHealthSerializer,
    HostSerializer,
    LUNSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    PBDSerializer,
    PoolSerializer,
    SRIOHealthSerializer,
    SRSerializer,
    VDISerializer,
    VMSerializer,
    WhatIfOutcomeSerializer,
    WhatIfSerializer,
)


class HostViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Host.objects.all()
    serializer_class = HostSerializer
    filterset_class = HostFilterSet

    @extend_schema(request=None, responses=HostSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        host = host_accept(host=self.get_object(), actor=request.user)
        return Response(self.get_serializer(host).data)

    @extend_schema(responses=HostIOHealthDetailSerializer)
    @action(detail=True, methods=["get"])
    def io(self, request, pk=None):
        """The host's I/O-path health: state, problems with fixes, and the last probe."""
        health = get_object_or_404(HostIOHealth.objects.select_related("host"), host=pk)
        return Response(HostIOHealthDetailSerializer(health).data)

    @extend_schema(request=None, responses={202: TaskAcceptedSerializer})
    @action(detail=False, methods=["post"])
    def check(self, request):
        return task_accepted(request, hosts_check(actor=request.user))


class ClusterViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Cluster.objects.prefetch_related(
        "memberships",
        Prefetch("host_statuses", queryset=ClusterHostStatus.objects.select_related("host")),
    )
    serializer_class = ClusterSerializer
    filterset_class = ClusterFilterSet
    action_permissions = {"what_if": VIEW}  # a question, which changes nothing

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cluster = cluster_create(actor=request.user, **serializer.validated_data)
        cluster = self.get_queryset().get(pk=cluster.pk)
        return Response(self.get_serializer(cluster).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: TaskAcceptedSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return task_accepted(request, cluster_start(cluster=self.get_object(), actor=request.user))

    @extend_schema(request=None, responses={202: TaskAcceptedSerializer})
    @action(detail=True, methods=["post"])
    def reconcile(self, request, pk=None):
        task = cluster_check_now(cluster=self.get_object(), actor=request.user)
        return task_accepted(request, task)

    @extend_schema(request=WhatIfSerializer, responses=WhatIfOutcomeSerializer)
    @action(detail=True, methods=["post"], url_path="what-if")
    def what_if(self, request, pk=None):
        """Which hosts O2CB would fence if this failed now, when, and by which rule."""
        cluster = self.get_object()
        asked = WhatIfSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        failure = Failure(
            **{**asked.validated_data, "kind": FailureKind(asked.validated_data["kind"])}
        )
        try:
            outcome = what_if(cluster, failure)
        except LayoutError as exc:
            raise ConsoleError(str(exc), status_code=400) from None
        data = {
            **{k: getattr(outcome, k) for k in ("description", "dead_s", "negotiation_s")},
            "network_decision_s": outcome.network_decision_s,
            "fenced": outcome.fenced,
            "survivors": outcome.survivors,
            "sr_holders": outcome.sr_holders,
            "hosts": outcome.hosts,
        }
        return Response(WhatIfOutcomeSerializer(data).data)


class MembershipViewSet(
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Membership.objects.all()
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet

    @extend_schema(request=MembershipCreateSerializer, responses={202: TaskAcceptedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = MembershipCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _membership, task = membership_create(actor=request.user, **serializer.validated_data)
        return task_accepted(request, task)

    @extend_schema(responses={202: TaskAcceptedSerializer})
    def destroy(self, request, *args, **kwargs):
        _membership, task = membership_destroy(membership=self.get_object(), actor=request.user)
        return task_accepted(request, task)


class LUNViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = LUN.objects.all()
    serializer_class = LUNSerializer


class SRViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SR.objects.all()
    serializer_class = SRSerializer
    filterset_class = SRFilterSet

    @extend_schema(responses=SRIOHealthSerializer)
    @action(detail=True, methods=["get"])
    def io(self, request, pk=None):
        """Each host's paths to the SR's LUN and its heartbeat lag on it."""
        sr = get_object_or_404(SR.objects.select_related("lun"), pk=pk)
        return Response(SRIOHealthSerializer(sr_io_overview(sr)).data)


class HostIOHealthViewSet(viewsets.ReadOnlyModelViewSet):
    """Every host's I/O-path verdict (the probes themselves: /api/hosts/{id}/io/)."""

    queryset = (
        HostIOHealth.objects.select_related("host")
        .defer("probe", "luns")
        .order_by("host__hostname")
    )
    serializer_class = HostIOHealthSerializer
    filterset_fields = ["state"]


class PBDViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = PBD.objects.all()
    serializer_class = PBDSerializer
    filterset_class = PBDFilterSet


class VDIViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = VDI.objects.all()
    serializer_class = VDISerializer
    filterset_class = VDIFilterSet


class VMViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = VM.objects.all()
    serializer_class = VMSerializer
    filterset_class = VMFilterSet


class PoolViewSet(viewsets.ModelViewSet):
    """XAPI pools. Adding one logs in on its master at once (refused with why: unreachable,
    refused, not a pool); the password is write-only and never answered."""

    queryset = Pool.objects.prefetch_related("hosts", "clusters")
    serializer_class = PoolSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pool = pool_services.pool_create(
            actor=request.user, **{"password": "", **serializer.validated_data}
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=pool.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def partial_update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        pool = pool_services.pool_update(
            pool=self.get_object(), actor=request.user, **serializer.validated_data
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=pool.pk)).data)

    def destroy(self, request, *args, **kwargs):
        pool_services.pool_destroy(pool=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
