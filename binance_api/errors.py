"""The facade's errors: Binance's shape ``{"code": -1121, "msg": "Invalid symbol."}``, its
codes and its HTTP statuses, for every error of /api/v3 (docs/binance-api.md).

Binance answers 4xx with a negative code in the body: 400 for a bad request or a
rejected order, 401 for a key it refuses (-2014, -2015), 429 past a rate limit (-1003,
with Retry-After); 5xx when the outcome is unknown. The views of this app use
``exception_handler`` below instead of the project's (settings.REST_FRAMEWORK), so
/api/v1 keeps its own shape. Our errors (apikit.errors, the engine's reject
reasons) are translated here, in one table each."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from apikit.errors import ExchangeError
from engine_worker.core.types import RejectReason

logger = logging.getLogger(__name__)

# -- Binance's codes (binance-spot-api-docs, errors.md) ------------------------------------
UNKNOWN = -1000
DISCONNECTED = -1001
TOO_MANY_REQUESTS = -1003
TIMEOUT = -1007
INVALID_MESSAGE = -1013
UNSUPPORTED_OPERATION = -1020
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
TOO_MANY_PARAMETERS = -1101
MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
PARAM_NOT_REQUIRED = -1106
PARAM_OVERFLOW = -1108
BAD_PRECISION = -1111
INVALID_TIF = -1115
INVALID_ORDER_TYPE = -1116
INVALID_SIDE = -1117
BAD_INTERVAL = -1120
BAD_SYMBOL = -1121
OPTIONAL_PARAMS_BAD_COMBO = -1128
INVALID_PARAMETER = -1130
INVALID_JSON = -1135
INVALID_NEW_ORDER_RESP_TYPE = -1136
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015

# Binance's messages, where clients match them (ccxt maps the last three to its
# OrderNotFound, OrderImmediatelyFillable and InsufficientFunds exceptions)
INVALID_SYMBOL_MSG = "Invalid symbol."
UNKNOWN_ORDER_MSG = "Unknown order sent."
NO_SUCH_ORDER_MSG = "Order does not exist."
WOULD_TAKE_MSG = "Order would immediately match and take."
INSUFFICIENT_BALANCE_MSG = "Account has insufficient balance for requested action."
DUPLICATE_ORDER_MSG = "Duplicate order sent."
MARKET_CLOSED_MSG = "Market is closed."
REJECTED_KEY_MSG = "Invalid API-key, IP, or permissions for action."


class BinanceError(Exception):
    """An error of the facade, rendered as ``{"code", "msg"}`` with ``status``."""

    def __init__(self, code: int, msg: str, *, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def filter_failure(name: str, *, code: int = INVALID_MESSAGE) -> BinanceError:
    return BinanceError(code, f"Filter failure: {name}")


# -- the engine's reject reasons on POST order (all -2010: the engine refused it) ----------
_REJECTED: dict[str, str] = {
    RejectReason.INSUFFICIENT_BALANCE: INSUFFICIENT_BALANCE_MSG,
    RejectReason.POST_ONLY_WOULD_TAKE: WOULD_TAKE_MSG,
    RejectReason.MARKET_HALTED: MARKET_CLOSED_MSG,
    RejectReason.MARKET_CANCEL_ONLY: MARKET_CLOSED_MSG,
    RejectReason.FOK_NOT_FILLED: "Order could not be filled in full at once (FOK).",
    RejectReason.MIN_NOTIONAL: "Filter failure: NOTIONAL",
    RejectReason.MIN_QUANTITY: "Filter failure: LOT_SIZE",
    RejectReason.MAX_QUANTITY: "Filter failure: LOT_SIZE",
    RejectReason.INVALID_QUANTITY: "Filter failure: LOT_SIZE",
    RejectReason.MAX_PRICE: "Filter failure: PRICE_FILTER",
    RejectReason.INVALID_PRICE: "Filter failure: PRICE_FILTER",
    RejectReason.TOO_MANY_OPEN_ORDERS: "Filter failure: MAX_NUM_ORDERS",
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: DUPLICATE_ORDER_MSG,
    "duplicate_request": DUPLICATE_ORDER_MSG,
}

# -- our edge's own refusals (apikit.errors codes), before the engine ---------------
_EDGE: dict[str, tuple[int, str]] = {
    "invalid_price": (INVALID_MESSAGE, "Filter failure: PRICE_FILTER"),
    "invalid_quantity": (INVALID_MESSAGE, "Filter failure: LOT_SIZE"),
    "invalid_interval": (BAD_INTERVAL, "Invalid interval."),
    "invalid_range": (OPTIONAL_PARAMS_BAD_COMBO, "startTime is after endTime."),
    "unknown_market": (BAD_SYMBOL, INVALID_SYMBOL_MSG),
    "unknown_order": (NO_SUCH_ORDER, NO_SUCH_ORDER_MSG),
    "order_not_open": (CANCEL_REJECTED, UNKNOWN_ORDER_MSG),
    "malformed_request": (MANDATORY_PARAM_EMPTY_OR_MALFORMED, "Malformed request body."),
    "payload_too_large": (TOO_MANY_PARAMETERS, "Too many parameters sent for this endpoint."),
    "engine_unavailable": (
        DISCONNECTED,
        "Internal error; unable to process your request. Please try again.",
    ),
    "engine_timeout": (
        TIMEOUT,
        "Timeout waiting for response from backend server. "
        "Send status unknown; execution status unknown.",
    ),
}


def from_exchange_error(exc: ExchangeError, *, placing: bool = False) -> BinanceError:
    """Our error as Binance's. An engine refusal (409, 422) is a -2010 NEW_ORDER_REJECTED
    when ``placing`` an order, else a -2011 CANCEL_REJECTED, with Binance's message where
    it has one."""
    status = exc.http_status
    if exc.code in ("engine_unavailable", "engine_timeout"):
        code, msg = _EDGE[exc.code]
        return BinanceError(code, msg, status=status)
    if status in (409, 422):
        code = NEW_ORDER_REJECTED if placing else CANCEL_REJECTED
        return BinanceError(code, _REJECTED.get(exc.code, exc.message))
    if exc.code in _EDGE:
        code, msg = _EDGE[exc.code]
        return BinanceError(code, msg, status=413 if status == 413 else 400)
    if status == 429:
        return BinanceError(TOO_MANY_REQUESTS, exc.message, status=429)
    if status == 404:
        return BinanceError(UNSUPPORTED_OPERATION, exc.message, status=404)
    return BinanceError(ILLEGAL_CHARS if status == 400 else UNKNOWN, exc.message, status=status)


def _from_drf(exc: drf_exceptions.APIException) -> BinanceError:
    if isinstance(exc, drf_exceptions.NotAuthenticated):
        return BinanceError(BAD_API_KEY_FMT, "API-key format invalid.", status=401)
    if isinstance(exc, drf_exceptions.AuthenticationFailed | drf_exceptions.PermissionDenied):
        return BinanceError(REJECTED_MBX_KEY, REJECTED_KEY_MSG, status=401)
    if isinstance(exc, drf_exceptions.Throttled):
        return BinanceError(
            TOO_MANY_REQUESTS, "Too many requests; please slow down.", status=exc.status_code
        )
    if isinstance(exc, drf_exceptions.ParseError):
        return BinanceError(MANDATORY_PARAM_EMPTY_OR_MALFORMED, "Malformed request body.")
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return BinanceError(
            UNSUPPORTED_OPERATION,
            "Send parameters in the query string or as application/x-www-form-urlencoded.",
            status=exc.status_code,
        )
    if isinstance(exc, drf_exceptions.ValidationError):
        return BinanceError(ILLEGAL_CHARS, "Illegal characters found in a parameter.")
    return BinanceError(UNSUPPORTED_OPERATION, str(exc.detail), status=exc.status_code)


def as_binance(exc: Exception) -> BinanceError | None:
    """Any error a view of the facade raises, as a BinanceError; None for a bug (a 500)."""
    if isinstance(exc, BinanceError):
        return exc
    binance_code = getattr(exc, "binance_code", None)  # a signed request refused (apikeys)
    if isinstance(exc, ExchangeError) and isinstance(binance_code, int):
        return BinanceError(binance_code, exc.message, status=exc.http_status)
    if isinstance(exc, ExchangeError):
        return from_exchange_error(exc)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if isinstance(exc, drf_exceptions.APIException):
        return _from_drf(exc)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The facade's DRF exception handler (its views' get_exception_handler)."""
    error = as_binance(exc)
    if error is None:
        return None  # a bug: Django's 500 handler logs it (binance_500 renders it)
    headers: dict[str, str] = {}
    wait = getattr(exc, "wait", None)  # Throttled's seconds
    if wait:
        headers["Retry-After"] = str(int(wait))
    return Response(error.as_dict(), status=error.status, headers=headers)


def response(error: BinanceError) -> JsonResponse:
    """A plain Django response of an error, for what answers before a view (middleware,
    unknown paths)."""
    return JsonResponse(error.as_dict(), status=error.status)


PREFIX = "/api/v3/"  # the facade's paths: their errors are Binance's, whoever answers


def is_facade_request(request: Any) -> bool:
    return str(getattr(request, "path_info", "")).startswith(PREFIX)


def binance_404(request: Any, exception: Exception | None = None) -> JsonResponse:
    """An unknown path under /api/v3."""
    return response(BinanceError(UNSUPPORTED_OPERATION, "Not found.", status=404))


def binance_500(request: Any) -> JsonResponse:
    return response(
        BinanceError(UNKNOWN, "An unknown error occurred while processing the request.", status=500)
    )


def unstorable_text(where: str) -> JsonResponse:
    """The middleware's refusal of NUL or a lone surrogate outside the body."""
    return response(
        BinanceError(ILLEGAL_CHARS, f"Illegal characters found in parameter '{where}'.")
    )


def body_too_large(limit: int) -> JsonResponse:
    return response(
        BinanceError(TOO_MANY_PARAMETERS, f"The request body is over {limit} bytes.", status=413)
    )
