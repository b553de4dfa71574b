"""One JSON shape for every API error: {"message": "...", "detail": ...}."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ConsoleError


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            text = _first_message(value)
            return text if field in ("non_field_errors", "detail") else f"{field}: {text}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, ConsoleError):
        return Response({"message": exc.message, "detail": exc.detail}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler answers (JSON under /api/)
    detail = response.data
    if isinstance(detail, dict) and set(detail) == {"detail"}:
        message, detail = str(detail["detail"]), None
    else:
        message = "The request is not valid: " + _first_message(detail)
    # A refused credential says why (a revoked token); only a missing one gets the hint.
    if isinstance(exc, exceptions.NotAuthenticated):
        message = "Log in or send an API token to use the API."
    response.data = {"message": message, "detail": detail}
    return response
