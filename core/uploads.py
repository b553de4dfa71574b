"""Request bodies are refused before they are read: who, then size, then a streaming limit.

A view that takes a file declares its gate (`upload_gate` on a page view, `upload_gates`
per action on an API view set); `UploadGateMiddleware` enforces it ahead of everything that
reads the body (the CSRF check reads a POST's form). Every other request may carry at most
`DATA_UPLOAD_MAX_MEMORY_SIZE` bytes, so only a gated view ever spools a file to disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http import JsonResponse, UnreadablePostError
from django.shortcuts import render
from django.urls import Resolver404, resolve
from rest_framework import exceptions

from .authentication import ApiTokenAuthentication
from .permissions import VIEW
from .selectors import no_role_message

logger = logging.getLogger(__name__)

# Room for the multipart boundaries, part headers and small fields beside the file.
MULTIPART_OVERHEAD = 64 * 1024
BODY_METHODS = {"POST", "PUT", "PATCH"}


class UploadTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"uploads are limited to {limit:,} bytes")
        self.limit = limit


@dataclass(frozen=True)
class UploadGate:
    """Who may send a file to a view, and how large (the name of the setting, read per
    request)."""

    permission: str
    limit_setting: str

    @property
    def limit(self) -> int:
        return int(getattr(settings, self.limit_setting))


def upload_gate(*, permission: str, limit_setting: str):
    """Declare a page view's upload gate (its POST body is only read once it passed)."""

    def decorator(view):
        view.upload_gate = UploadGate(permission=permission, limit_setting=limit_setting)
        return view

    return decorator


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Spools files to FILE_UPLOAD_TEMP_DIR and stops, removing what it wrote, as soon as
    more than `limit` file bytes arrived (a client that lies about its length or sends more
    than it said)."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def new_file(self, *args, **kwargs):
        if settings.FILE_UPLOAD_TEMP_DIR:
            Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.upload_interrupted()
            raise UploadTooLarge(self.limit)
        return super().receive_data_chunk(raw_data, start)


def gate_for(request) -> UploadGate | None:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    gate = getattr(match.func, "upload_gate", None)
    view_set, actions = getattr(match.func, "cls", None), getattr(match.func, "actions", None)
    if gate is None and view_set is not None and actions:
        gate = getattr(view_set, "upload_gates", {}).get(actions.get(request.method.lower()))
    return gate


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def _user(request):
    """Who sends the request, without reading its body: an API token, else the session."""
    if _is_api(request):
        found = ApiTokenAuthentication().authenticate(request)
        if found is not None:
            return found[0]
    return request.user


def refusal(request, status: int, message: str):
    if _is_api(request):
        response = JsonResponse({"message": message, "detail": None}, status=status)
        if status == 401:
            response["WWW-Authenticate"] = "Token"
    else:
        response = render(
            request,
            "core/request_refused.html",
            {"message": message, "back": request.path},
            status=status,
        )
    return response


def _content_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _limit_text(limit: int) -> str:
    return f"{limit:,} bytes ({limit / 2**20:g} MiB)"


def _gate_refusal(request, gate: UploadGate):
    """The refusal of a gated request, checked in this order without reading the body."""
    try:
        user = _user(request)
    except exceptions.AuthenticationFailed as exc:
        return refusal(request, 401, str(exc.detail))
    if not user.is_authenticated:
        return refusal(request, 401, "Log in (or send an API token) to upload a file.")
    if not user.has_perm(VIEW):
        return refusal(request, 403, no_role_message(user))
    if not user.has_perm(gate.permission):
        return refusal(request, 403, "Your role does not allow uploading files here.")
    length = _content_length(request)
    if length is None and request.META.get("HTTP_TRANSFER_ENCODING"):
        # Django would read none of it; say so rather than answer "no file".
        return refusal(request, 411, "Send the upload with a Content-Length header.")
    if (length or 0) > gate.limit + MULTIPART_OVERHEAD:
        return refusal(
            request,
            413,
            f"The upload is {length:,} bytes; uploads are limited to {_limit_text(gate.limit)}. "
            "Upload the logs (xen.log, dom0.log) rather than the memory image.",
        )
    return None


def _read_within(request, limit: int):
    """Read the form through the limited handler; a refusal if it stopped, else None."""
    handler = LimitedUploadHandler(request, limit=limit)
    # A small body's file stays in memory (no more than its Content-Length, checked above).
    request.upload_handlers = [MemoryFileUploadHandler(request), handler]
    try:
        request.POST  # noqa: B018 - parse the form now, under the limit
    except (UploadTooLarge, RequestDataTooBig):
        return refusal(request, 413, f"The file is larger than the limit of {_limit_text(limit)}.")
    except UnreadablePostError:
        handler.upload_interrupted()  # the client went away mid-upload
        logger.info("upload to %s interrupted after %s bytes", request.path, handler.received)
        return refusal(request, 400, "The upload was interrupted before it was complete.")
    except BaseException:
        handler.upload_interrupted()
        raise
    return None


class UploadGateMiddleware:
    """Must come after AuthenticationMiddleware and before anything that reads the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in BODY_METHODS:
            answer = self.check(request)
            if answer is not None:
                return answer
        return self.get_response(request)

    def check(self, request):
        gate = gate_for(request)
        if gate is not None:
            return _gate_refusal(request, gate) or _read_within(request, gate.limit)
        length = _content_length(request) or 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return refusal(
                request,
                413,
                f"The request is {length:,} bytes; "
                f"this address takes at most {_limit_text(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}.",
            )
        return None
