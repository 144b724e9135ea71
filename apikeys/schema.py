"""The OpenAPI security scheme of signed requests (drf-spectacular)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeySignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeySignatureAuthentication"
    name = "ApiKeySignature"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-MBX-APIKEY",
            "description": (
                "An API key (POST /api/v1/api-keys), with the query parameters timestamp "
                "(epoch ms), recvWindow (optional, ms, at most 60000) and signature (hex "
                "HMAC-SHA256 of the query string, without signature, followed by the raw "
                "body, keyed with the key's secret), as Binance's SIGNED endpoints. Only "
                "for the operations a key's scopes allow (docs/api.md, API keys)."
            ),
        }
