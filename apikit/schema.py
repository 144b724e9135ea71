"""OpenAPI (drf-spectacular) descriptions of the project's own serializer fields, and the
one error response every operation documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers


class DecimalStringExtension(OpenApiSerializerFieldExtension):
    """marketdata.fields.DecimalString: a decimal number as a string."""

    target_class = "marketdata.fields.DecimalString"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {
            "type": "string",
            "format": "decimal",
            "pattern": r"^[0-9]{1,30}(\.[0-9]{1,18})?$",
            "example": "0.01",
        }


class DecimalTextExtension(OpenApiSerializerFieldExtension):
    """marketdata.fields.DecimalText: a decimal string in a response."""

    target_class = "marketdata.fields.DecimalText"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: docs/api.md, Errors.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.DictField(help_text="Field errors, request_id, order_id, ...")


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every error of the API (apikit/errors.py)."""

    error = ErrorDetailSerializer()


_ERROR_WHEN = {
    400: "Invalid input (invalid_input, invalid_price, ...)",
    401: "Not authenticated (not_authenticated, invalid_credentials)",
    403: "Permission denied (a session request without its CSRF token)",
    404: "Not found (unknown_market, unknown_order)",
    409: "Conflict (duplicate_client_order_id, duplicate_request, username_taken)",
    422: "Rejected by the engine: the code is the reason (insufficient_balance, ...)",
    429: "Throttled or locked out (Retry-After)",
    503: "The engine is not running (engine_unavailable)",
    504: "No engine reply in time (engine_timeout; details.request_id)",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, each in the contract's one error shape."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_WHEN[code]) for code in statuses
    }
