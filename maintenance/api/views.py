from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from clusters.models import Cluster, Host
from core.api.serializers import TaskAcceptedSerializer
from core.api.views import task_accepted
from core.permissions import ADMINISTER, OPERATE
from maintenance import services, storage
from maintenance.models import HostMaintenance


class HostOnlySerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())


class MaintenanceRequestSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())
    dry_run = serializers.BooleanField(
        default=False, help_text="Only say what would happen (the wizard's preview)"
    )
    confirm_others = serializers.BooleanField(
        default=False,
        help_text="Enter even though another host of the same cluster is in maintenance",
    )


class AddressesSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())
    addresses = serializers.ListField(
        child=serializers.IPAddressField(protocol="IPv4"), min_length=1
    )


class HostMaintenanceSerializer(serializers.ModelSerializer):
    hostname = serializers.CharField(source="host.hostname", read_only=True)

    class Meta:
        model = HostMaintenance
        fields = ["host", "hostname", "state", "boot_time_at_entry", "done", "started", "updated"]
        read_only_fields = fields


class RemoveHostSerializer(serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())
    confirm_name = serializers.CharField(
        required=False, default="", allow_blank=True, help_text="The host's name, typed again"
    )
    powered_off = serializers.BooleanField(
        default=False, help_text="The host is dead and powered off: forget it"
    )
    dry_run = serializers.BooleanField(default=False)


class RollingRestartSerializer(serializers.Serializer):
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    dry_run = serializers.BooleanField(default=False)


class MaintenanceViewSet(viewsets.ReadOnlyModelViewSet):
    """Hosts in (or on their way into or out of) maintenance, and the workflows.

    POST with `dry_run` answers the preview (steps, VMs that move, storage unplugged,
    quorum impact, refusals) and changes nothing; otherwise 202 and the Task."""

    queryset = HostMaintenance.objects.select_related("host")
    serializer_class = HostMaintenanceSerializer
    change_permission = OPERATE
    action_permissions = {"remove": ADMINISTER}

    @extend_schema(request=RemoveHostSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def remove(self, request):
        """Remove a host from the pool (Pool.eject); pool-admins only."""
        body = RemoveHostSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if data.pop("dry_run"):
            return Response(
                services.host_remove_preview(data["host"], powered_off=data["powered_off"])
            )
        return Response(services.host_remove(actor=request.user, **data))

    @extend_schema(
        request=RollingRestartSerializer,
        responses={200: OpenApiTypes.OBJECT, 202: TaskAcceptedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="rolling-restart")
    def rolling_restart(self, request):
        """Restart a cluster's hosts one at a time through maintenance."""
        body = RollingRestartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["dry_run"]:
            return Response(services.rolling_restart_preview(body.validated_data["cluster"]))
        return task_accepted(
            request,
            services.rolling_restart(cluster=body.validated_data["cluster"], actor=request.user),
        )

    def _workflow(self, request, preview, start):
        body = MaintenanceRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        host, data = body.validated_data["host"], body.validated_data
        if data["dry_run"]:
            return Response(preview(host, data))
        return task_accepted(request, start(host, data))

    @extend_schema(
        request=MaintenanceRequestSerializer,
        responses={200: OpenApiTypes.OBJECT, 202: TaskAcceptedSerializer},
    )
    @action(detail=False, methods=["post"])
    def enter(self, request):
        return self._workflow(
            request,
            lambda host, d: services.enter_preview(host, confirm_others=d["confirm_others"]),
            lambda host, d: services.maintenance_enter(
                host=host, actor=request.user, confirm_others=d["confirm_others"]
            ),
        )

    @extend_schema(
        request=MaintenanceRequestSerializer,
        responses={200: OpenApiTypes.OBJECT, 202: TaskAcceptedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="exit")
    def exit_(self, request):
        return self._workflow(
            request,
            lambda host, d: services.exit_preview(host),
            lambda host, d: services.maintenance_exit(host=host, actor=request.user),
        )

    def _host(self, request) -> Host:
        body = HostOnlySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data["host"]

    @extend_schema(request=HostOnlySerializer, responses={202: TaskAcceptedSerializer})
    @action(detail=False, methods=["post"])
    def retry(self, request):
        """Run an unfinished enter or exit again, from the step that failed."""
        host = self._host(request)
        return task_accepted(request, services.maintenance_retry(host=host, actor=request.user))

    @extend_schema(request=HostOnlySerializer, responses={202: TaskAcceptedSerializer})
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        """Undo an unfinished enter."""
        host = self._host(request)
        return task_accepted(request, services.maintenance_rollback(host=host, actor=request.user))

    @extend_schema(request=HostOnlySerializer, responses={202: TaskAcceptedSerializer})
    @action(detail=False, methods=["post"])
    def reboot(self, request):
        """Reboot a host in maintenance (the only way out of it) and wait for it to come
        back; a host part-way out leaves its clusters cleanly first."""
        host = self._host(request)
        return task_accepted(request, services.maintenance_reboot(host=host, actor=request.user))

    @extend_schema(request=AddressesSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def addresses(self, request):
        """Change a host's management addresses: only while it is in maintenance."""
        body = AddressesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        host = body.validated_data["host"]
        services.host_addresses_change(
            host=host, addresses=body.validated_data["addresses"], actor=request.user
        )
        return Response({"host": host.pk, "addresses": body.validated_data["addresses"]})


class StorageLUNSerializer(serializers.Serializer):
    scsi_id = serializers.CharField()
    # Also the volume's label: its limit (63 bytes) and the reason are the service's to say.
    name = serializers.CharField(help_text="The SR's name, also its OCFS2 volume label")
    format = serializers.ChoiceField(choices=["vhd", "raw"], default="vhd")
    confirm_overwrite = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The LUN's id typed again, to format a LUN that holds a filesystem",
    )


class StorageAddSerializer(serializers.Serializer):
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    luns = StorageLUNSerializer(many=True)
    dry_run = serializers.BooleanField(default=False)


class ClusterQuerySerializer(serializers.Serializer):
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())


class StorageViewSet(viewsets.ViewSet):
    """Add OCFS2 storage: one SR per SAN LUN that every member of the cluster sees."""

    @extend_schema(
        parameters=[OpenApiParameter("cluster", int, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def luns(self, request):
        """The LUNs every member of `cluster` sees, with their signatures."""
        query = ClusterQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(storage.lun_candidates(query.validated_data["cluster"]))

    @extend_schema(
        request=StorageAddSerializer,
        responses={200: OpenApiTypes.OBJECT, 202: TaskAcceptedSerializer},
    )
    @action(detail=False, methods=["post"])
    def add(self, request):
        body = StorageAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cluster, luns = body.validated_data["cluster"], body.validated_data["luns"]
        if body.validated_data["dry_run"]:
            return Response(storage.storage_add_preview(cluster=cluster, requests=luns))
        return task_accepted(
            request, storage.storage_add(cluster=cluster, requests=luns, actor=request.user)
        )
