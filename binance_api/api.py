"""The Binance-compatible REST API under /api/v3 (docs/binance-api.md): thin views over
binance_api.selectors and binance_api.services, with Binance's error shape (errors.py)
instead of the project's. Parameters come in the query string or a form body, never
JSON, as Binance takes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.authentication import ApiKeySignatureAuthentication
from apikeys.models import ApiKey, Scope
from apikeys.permissions import api_key_required
from apikit.caller import caller_id
from binance_api import errors, selectors, services
from binance_api.params import Params

TAG = "Binance-compatible API (/api/v3)"


class BinanceErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="Binance's error code, negative: -1121, -2010, ...")
    msg = serializers.CharField()


_ERRORS = {
    400: "A bad parameter (-1100, -1102, -1121, ...) or a refused order (-2010, -2011, -2013)",
    401: "No, an unknown or a refused API key (-2014, -2015)",
    429: "Too many requests (-1003)",
    503: "The engine is not running (-1001)",
    504: "No engine reply in time (-1007): the outcome is unknown",
}


def _schema(
    summary: str,
    *,
    params: list[OpenApiParameter] | None = None,
    response: Any = OpenApiTypes.OBJECT,
    signed: bool = False,
) -> Callable[[Any], Any]:
    statuses = [400, 429] + ([401, 503, 504] if signed else [])
    responses: dict[int, Any] = {200: response}
    for status in sorted(statuses):
        responses[status] = OpenApiResponse(BinanceErrorSerializer, description=_ERRORS[status])
    return extend_schema(
        tags=[TAG], summary=summary, parameters=params or [], responses=responses, request=None
    )


def _p(name: str, type_: Any = str, *, required: bool = False, description: str = "") -> Any:
    return OpenApiParameter(name, type_, required=required, description=description)


SYMBOL = _p("symbol", required=True, description="Binance-style: BTCUSDT")
SYMBOL_OPTIONAL = _p("symbol", description="Binance-style: BTCUSDT")
SYMBOLS = _p("symbols", description='A JSON array: ["BTCUSDT","ETHUSDT"]')
SIGNATURE = [
    _p("timestamp", int, required=True, description="epoch ms"),
    _p("recvWindow", int, description="ms, default 5000, at most 60000"),
    _p("signature", required=True, description="hex HMAC-SHA256 of the query string and body"),
]


class BinanceApi(APIView):
    """A public endpoint of the facade: Binance's error shape, no credentials read."""

    authentication_classes: Sequence[Any] = ()
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return errors.exception_handler


class SignedApi(BinanceApi):
    """A SIGNED endpoint: an API key (X-MBX-APIKEY) and a signed request (apikeys), the key
    with scope ``read`` for the USER_DATA methods (GET), ``trade`` for the TRADE ones."""

    authentication_classes = [ApiKeySignatureAuthentication]

    def get_permissions(self) -> list[BasePermission]:
        scope = Scope.READ if self.request.method in ("GET", "HEAD") else Scope.TRADE
        return [api_key_required(scope)()]

    def can_trade(self, request: Request) -> bool:
        return isinstance(request.auth, ApiKey) and Scope.TRADE in request.auth.scopes


class PingApi(BinanceApi):
    @_schema("Test connectivity: {}")
    def get(self, request: Request) -> Response:
        return Response({})


class TimeApi(BinanceApi):
    @_schema("Server time: {serverTime}, epoch ms")
    def get(self, request: Request) -> Response:
        return Response({"serverTime": selectors.now_ms()})


class ExchangeInfoApi(BinanceApi):
    @_schema(
        "Markets with their filters and the rate limits",
        params=[SYMBOL_OPTIONAL, SYMBOLS, _p("symbolStatus", description="TRADING, HALT, BREAK")],
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.exchange_info(Params.of(request)))


class DepthApi(BinanceApi):
    @_schema("Order book", params=[SYMBOL, _p("limit", int, description="1-5000, default 100")])
    def get(self, request: Request) -> Response:
        return Response(selectors.depth(Params.of(request)))


class TradesApi(BinanceApi):
    @_schema(
        "Recent trades, oldest first",
        params=[SYMBOL, _p("limit", int, description="1-1000, default 500")],
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.trades(Params.of(request)))


class AggTradesApi(BinanceApi):
    @_schema(
        "Aggregate trades, oldest first: each trade is its own aggregate",
        params=[
            SYMBOL,
            _p("fromId", int),
            _p("startTime", int),
            _p("endTime", int),
            _p("limit", int, description="1-1000, default 500"),
        ],
        response=OpenApiTypes.ANY,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.agg_trades(Params.of(request)))


class KlinesApi(BinanceApi):
    @_schema(
        "Candles, oldest first",
        params=[
            SYMBOL,
            _p("interval", required=True, description=", ".join(selectors.INTERVALS)),
            _p("startTime", int),
            _p("endTime", int),
            _p("timeZone", description="0 (UTC) only"),
            _p("limit", int, description="1-1000, default 500"),
        ],
        response=OpenApiTypes.ANY,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.klines(Params.of(request)))


class Ticker24hrApi(BinanceApi):
    @_schema(
        "24 h rolling ticker: one object with symbol, else a list",
        params=[SYMBOL_OPTIONAL, SYMBOLS, _p("type", description="FULL (default) or MINI")],
        response=OpenApiTypes.ANY,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.ticker_24hr(Params.of(request)))


class TickerPriceApi(BinanceApi):
    @_schema(
        "Last price: one object with symbol, else a list",
        params=[SYMBOL_OPTIONAL, SYMBOLS],
        response=OpenApiTypes.ANY,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.ticker_price(Params.of(request)))


class BookTickerApi(BinanceApi):
    @_schema(
        "Best bid and ask: one object with symbol, else a list",
        params=[SYMBOL_OPTIONAL, SYMBOLS],
        response=OpenApiTypes.ANY,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.book_ticker(Params.of(request)))


ORDER_PARAMS = [
    SYMBOL,
    _p("side", required=True, description="BUY or SELL"),
    _p("type", required=True, description="LIMIT, LIMIT_MAKER or MARKET"),
    _p("timeInForce", description="GTC, IOC or FOK: LIMIT (required), MARKET"),
    _p("quantity", description="decimal string"),
    _p("quoteOrderQty", description="MARKET only, instead of quantity"),
    _p("price", description="LIMIT, LIMIT_MAKER"),
    _p("newClientOrderId"),
    _p("newOrderRespType", description="ACK, RESULT or FULL"),
    *SIGNATURE,
]
ORDER_ID_PARAMS = [SYMBOL, _p("orderId", int), _p("origClientOrderId"), *SIGNATURE]


class OrderApi(SignedApi):
    @_schema("New order (TRADE)", params=ORDER_PARAMS, signed=True)
    def post(self, request: Request) -> Response:
        return Response(services.order_place(Params.of(request), user_id=caller_id(request)))

    @_schema("Query an order (USER_DATA)", params=ORDER_ID_PARAMS, signed=True)
    def get(self, request: Request) -> Response:
        return Response(selectors.order_get(Params.of(request), user_id=caller_id(request)))

    @_schema(
        "Cancel an order (TRADE)",
        params=[*ORDER_ID_PARAMS, _p("newClientOrderId")],
        signed=True,
    )
    def delete(self, request: Request) -> Response:
        return Response(services.order_cancel(Params.of(request), user_id=caller_id(request)))


class OpenOrdersApi(SignedApi):
    @_schema(
        "Open orders (USER_DATA)",
        params=[SYMBOL_OPTIONAL, *SIGNATURE],
        response=OpenApiTypes.ANY,
        signed=True,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.open_orders(Params.of(request), user_id=caller_id(request)))

    @_schema(
        "Cancel every open order of a symbol (TRADE)",
        params=[SYMBOL, *SIGNATURE],
        response=OpenApiTypes.ANY,
        signed=True,
    )
    def delete(self, request: Request) -> Response:
        cancelled = services.open_orders_cancel(Params.of(request), user_id=caller_id(request))
        return Response(cancelled)


class AllOrdersApi(SignedApi):
    @_schema(
        "Orders of a symbol, any status, oldest first (USER_DATA)",
        params=[
            SYMBOL,
            _p("orderId", int, description="from this order on"),
            _p("startTime", int),
            _p("endTime", int),
            _p("limit", int, description="1-1000, default 500"),
            *SIGNATURE,
        ],
        response=OpenApiTypes.ANY,
        signed=True,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.all_orders(Params.of(request), user_id=caller_id(request)))


class MyTradesApi(SignedApi):
    @_schema(
        "The caller's trades of a symbol, oldest first (USER_DATA)",
        params=[
            SYMBOL,
            _p("orderId", int),
            _p("fromId", int, description="from this trade id on"),
            _p("startTime", int),
            _p("endTime", int),
            _p("limit", int, description="1-1000, default 500"),
            *SIGNATURE,
        ],
        response=OpenApiTypes.ANY,
        signed=True,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.my_trades(Params.of(request), user_id=caller_id(request)))


class AccountApi(SignedApi):
    @_schema(
        "Balances and commissions (USER_DATA)",
        params=[_p("omitZeroBalances", bool), *SIGNATURE],
        signed=True,
    )
    def get(self, request: Request) -> Response:
        body = selectors.account(
            Params.of(request), user_id=caller_id(request), can_trade=self.can_trade(request)
        )
        return Response(body)
