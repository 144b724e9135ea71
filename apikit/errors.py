"""One error hierarchy and one renderer for every error of the API.

Every error leaves the API as ``{"error": {"code", "message", "details"}}`` with the
status of its class: ours, DRF's and Django's alike (Zulip's JsonableError, Saleor's
error codes)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ExchangeError(Exception):
    http_status: int = status.HTTP_400_BAD_REQUEST
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(ExchangeError):
    http_status = status.HTTP_400_BAD_REQUEST
    code = "invalid_input"


class NotFound(ExchangeError):
    http_status = status.HTTP_404_NOT_FOUND
    code = "not_found"


class PayloadTooLarge(ExchangeError):
    """A request body over settings.API_MAX_BODY_BYTES: refused before it is parsed."""

    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class Conflict(ExchangeError):
    http_status = status.HTTP_409_CONFLICT
    code = "conflict"


class EngineRejected(ExchangeError):
    """The engine refused the command; ``code`` is the engine's reason code."""

    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "rejected"


class EngineUnavailable(ExchangeError):
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "engine_unavailable"


class EngineTimeout(ExchangeError):
    http_status = status.HTTP_504_GATEWAY_TIMEOUT
    code = "engine_timeout"


_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "not_authenticated",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ValidationError: "invalid_input",
}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: renders every error in the contract's shape."""
    if isinstance(exc, ExchangeError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if not isinstance(exc, drf_exceptions.APIException):
        return None  # a bug: Django's 500 handler logs it
    code = next((c for k, c in _DRF_CODES.items() if isinstance(exc, k)), "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body(code, _first_message(exc.detail), details)
    else:
        body = error_body(code, str(exc.detail))
    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)  # NotAuthenticated's challenge
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)  # Throttled's seconds
    if wait:
        headers["Retry-After"] = str(int(wait))
    return Response(body, status=exc.status_code, headers=headers)


@csrf_exempt  # an unknown /api/ path is a 404 for every method, not a CSRF page
def json_404(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request: Any) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


class LockedOut(ExchangeError):
    """Too many failed log-ins for one account (django-axes): wait for the cool-off."""

    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    code = "locked_out"


def lockout_response(
    request: Any, original_response: Any = None, credentials: Any = None
) -> JsonResponse:
    """AXES_LOCKOUT_CALLABLE: a locked-out log-in (token API or admin) as a 429 in the
    contract's shape, with Retry-After set to the cool-off."""
    from django.conf import settings

    cooloff = int(settings.AXES_COOLOFF_TIME.total_seconds())
    error = LockedOut(
        "Too many failed log-ins for this account; try again later.",
        details={"retry_after": cooloff},
    )
    if not is_api_request(request):  # the admin's log-in: a page an admin can read
        return login_refused_page(request, "Log-in locked", error.message, cooloff)
    response = JsonResponse(error.as_dict(), status=error.http_status)
    response["Retry-After"] = str(cooloff)
    return response


def is_api_request(request: Any) -> bool:
    """Whether the request is the API's (JSON errors) rather than a page's (the admin)."""
    return str(getattr(request, "path", "")).startswith("/api/")


def login_refused_page(request: Any, heading: str, message: str, retry_after: int | None) -> Any:
    """The admin's log-in refused (locked out, or throttled): a 429 admin page with the
    reason and Retry-After, instead of the API's JSON."""
    from django.template.response import TemplateResponse

    minutes = -(-(retry_after or 0) // 60)
    response = TemplateResponse(
        request,
        "admin/login_refused.html",
        {
            "heading": heading,
            "message": message,
            "retry_after": retry_after,
            "retry_minutes": max(1, minutes),
        },
        status=429,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response.render()
