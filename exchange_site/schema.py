"""OpenAPI (drf-spectacular) descriptions of the project's own serializer fields."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension


class DecimalStringExtension(OpenApiSerializerFieldExtension):
    """exchange_site.fields.DecimalString: a decimal number as a string."""

    target_class = "exchange_site.fields.DecimalString"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {
            "type": "string",
            "format": "decimal",
            "pattern": r"^[0-9]{1,30}(\.[0-9]{1,18})?$",
            "example": "0.01",
        }
