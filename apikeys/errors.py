"""Refusals of a signed request, each with Binance's code and message (the
Binance-compatible facade renders them as ``{"code": ..., "msg": ...}``) and one of our
own codes (the /api/v1 contract renders them as ``{"error": {...}}``, with
``details.binance_code``). The HTTP status is Binance's: 401 for the key, 400 for the
request's parameters."""

from __future__ import annotations

from typing import Any

from apikit.errors import ExchangeError


class ApiKeyError(ExchangeError):
    """A signed request refused. ``binance_code`` and ``message`` are Binance's;
    ``code`` and ``http_status`` ours."""

    def __init__(
        self,
        binance_code: int,
        message: str,
        *,
        code: str,
        http_status: int,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, code=code, details={"binance_code": binance_code, **(details or {})}
        )
        self.binance_code = binance_code
        self.http_status = http_status

    def binance_body(self) -> dict[str, Any]:
        """The error as Binance's API writes it."""
        return {"code": self.binance_code, "msg": self.message}


def key_format_invalid() -> ApiKeyError:
    """-2014: no X-MBX-APIKEY, or not the shape of one of our keys."""
    return ApiKeyError(-2014, "API-key format invalid.", code="api_key_format", http_status=401)


def key_rejected() -> ApiKeyError:
    """-2015: an unknown or revoked key, an address outside its allowlist, a scope it
    lacks, or an endpoint API keys may not use. One message for all, as Binance's."""
    return ApiKeyError(
        -2015,
        "Invalid API-key, IP, or permissions for action.",
        code="api_key_rejected",
        http_status=401,
    )


def timestamp_outside_window(*, ahead: bool) -> ApiKeyError:
    """-1021: ``timestamp`` older than ``recvWindow``, or more than 1 s ahead."""
    message = (
        "Timestamp for this request was 1000ms ahead of the server's time."
        if ahead
        else "Timestamp for this request is outside of the recvWindow."
    )
    return ApiKeyError(-1021, message, code="timestamp_outside_window", http_status=400)


def signature_invalid() -> ApiKeyError:
    """-1022: the HMAC does not match."""
    return ApiKeyError(
        -1022, "Signature for this request is not valid.", code="invalid_signature", http_status=400
    )


def parameter_missing(name: str) -> ApiKeyError:
    """-1102: ``timestamp`` or ``signature`` not sent, or empty."""
    return ApiKeyError(
        -1102,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
        code="missing_parameter",
        http_status=400,
        details={"parameter": name},
    )


def illegal_characters(name: str, legal: str) -> ApiKeyError:
    """-1100: ``timestamp`` or ``recvWindow`` not a number of the legal form."""
    return ApiKeyError(
        -1100,
        f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.",
        code="illegal_characters",
        http_status=400,
        details={"parameter": name},
    )


def recv_window_too_large() -> ApiKeyError:
    """-1131: ``recvWindow`` above 60000 (RECV_WINDOW_MAX)."""
    return ApiKeyError(
        -1131, "recvWindow must be less than 60000", code="invalid_recv_window", http_status=400
    )
