from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.api.schema import ERRORS
from core.api.serializers import TaskAcceptedSerializer
from core.api.views import task_accepted
from core.permissions import OPERATE
from core.uploads import UploadGate
from crashes import selectors, services
from crashes.bundle import bundle_response
from crashes.models import CrashIncident, HostCrashdump

from .serializers import (
    BugSignatureGroupSerializer,
    BugSignatureSerializer,
    CrashIncidentSerializer,
    CrashUploadSerializer,
    HostCrashdumpSerializer,
)


class HostCrashdumpViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Crash dumps with their cause; POST uploads one (multipart) and answers 202 with the
    task that analyses it (its result names the crash)."""

    queryset = HostCrashdump.objects.all()
    serializer_class = HostCrashdumpSerializer
    filterset_fields = ["cause", "host", "signature", "source", "incident"]
    parser_classes = [MultiPartParser, FormParser]
    action_permissions = {"create": OPERATE, "acknowledge": OPERATE}
    # Checked before the body is read (core/uploads.py).
    upload_gates = {
        "create": UploadGate(permission=OPERATE, limit_setting="CRASH_UPLOAD_MAX_BYTES")
    }

    @extend_schema(
        request=CrashUploadSerializer,
        responses={
            202: TaskAcceptedSerializer,
            411: OpenApiResponse(description=ERRORS["411"]),
            413: OpenApiResponse(description=ERRORS["413"]),
        },
    )
    def create(self, request, *args, **kwargs):
        upload = CrashUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        task = services.crashdump_upload(
            uploaded=upload.validated_data["file"],
            host=upload.validated_data.get("host"),
            crashed_at=upload.validated_data.get("crashed_at"),
            actor=request.user,
        )
        return task_accepted(request, task)

    @extend_schema(request=None, responses=HostCrashdumpSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        crash = services.crashdump_acknowledge(crash=self.get_object(), actor=request.user)
        return Response(self.get_serializer(crash).data)

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def bundle(self, request, pk=None):
        """The bug report bundle: metadata, evidence, signature, host facts and cited logs."""
        return bundle_response(self.get_object())


class CrashIncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Incidents: the hosts that went down together and what the survivors logged."""

    queryset = CrashIncident.objects.prefetch_related("crashes")
    serializer_class = CrashIncidentSerializer


class BugSignatureViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Bugs grouped by signature, most frequent first; one group by its key, with every
    crash in it."""

    serializer_class = BugSignatureSerializer
    filter_backends = []
    lookup_field = "key"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.bug_groups()

    @extend_schema(responses=BugSignatureGroupSerializer)
    def retrieve(self, request, key=None):
        group = selectors.bug_group(key)
        if group is None:
            raise NotFound("No crash has this signature.")
        group = {**group, "hosts_named": group["hosts"], "hosts": len(group["hosts"])}
        return Response(
            BugSignatureGroupSerializer(group, context=self.get_serializer_context()).data
        )
