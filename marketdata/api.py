"""Market catalogue, depth and market data endpoints (public)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikit.schema import error_responses
from infra.deepbook import MAX_LEVELS
from marketdata import selectors
from marketdata.fields import (
    WHOLE_RE,
    CappedLimit,
    DecimalString,
    DecimalText,
    MomentField,
)


class MarketSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    base = serializers.CharField(source="base.symbol")
    quote = serializers.CharField(source="quote.symbol")
    tick_size = DecimalString()
    lot_size = DecimalString()
    min_quantity = DecimalString()
    max_quantity = DecimalString()
    max_price = DecimalString()
    min_notional = DecimalString()
    maker_fee_bps = serializers.IntegerField()
    taker_fee_bps = serializers.IntegerField()
    status = serializers.CharField()


class MarketListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: MarketSerializer(many=True), **error_responses(401, 429)})
    def get(self, request: Request) -> Response:
        return Response(MarketSerializer(selectors.market_list(), many=True).data)


class DepthLimit(serializers.Field):
    """Levels a side: a whole number from 1 to deepbook.MAX_LEVELS, or ``all`` for the
    whole book (None)."""

    default_error_messages = {
        "invalid": f'Must be a whole number of levels from 1 to {MAX_LEVELS}, or "all".'
    }

    def to_internal_value(self, data: object) -> int | None:
        text = str(data)
        if text.lower() == "all":
            return None
        if not (WHOLE_RE.fullmatch(text) and len(text) <= 6):
            self.fail("invalid")
        levels = int(text)
        if not 1 <= levels <= MAX_LEVELS:
            self.fail("invalid")
        return levels

    def to_representation(self, value: int | None) -> object:
        return "all" if value is None else value


class DepthSerializer(serializers.Serializer):
    """A market's depth at one point of the book (docs/api.md, "Depth")."""

    symbol = serializers.CharField()
    sequence = serializers.IntegerField(help_text="the market's depth sequence")
    bids = serializers.ListField(
        child=serializers.ListField(child=DecimalText(), min_length=2, max_length=2),
        help_text="[price, quantity] levels, best (highest) first",
    )
    asks = serializers.ListField(
        child=serializers.ListField(child=DecimalText(), min_length=2, max_length=2),
        help_text="[price, quantity] levels, best (lowest) first",
    )


class DepthApi(APIView):
    """A market's depth, best levels first: the top 50 by default, up to 5,000 a side, or
    the whole book with ``limit=all`` (docs/market-data.md)."""

    permission_classes = [AllowAny]

    class Query(serializers.Serializer):
        limit = DepthLimit(default=50)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit",
                str,
                required=False,
                description=f'Levels a side: 1-{MAX_LEVELS} (default 50), or "all" for the '
                "whole book.",
            )
        ],
        responses={200: DepthSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request, symbol: str) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.depth_get(symbol, limit=query.validated_data["limit"]))


class TradeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    price = DecimalText()
    quantity = DecimalText()
    quote_quantity = DecimalText()
    taker_side = serializers.ChoiceField(choices=["buy", "sell"])
    time = serializers.DateTimeField()
    time_ms = serializers.IntegerField()


class MarketTradeListApi(APIView):
    """A market's latest trades, newest first."""

    permission_classes = [AllowAny]

    class Query(serializers.Serializer):
        limit = CappedLimit(cap=1000, default=100)

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, required=False, description="1-1000, 100")],
        responses={200: TradeSerializer(many=True), **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request, symbol: str) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.trade_list(symbol, limit=query.validated_data["limit"]))


class KlineSerializer(serializers.Serializer):
    open_time = serializers.DateTimeField()
    open_time_ms = serializers.IntegerField()
    open = DecimalText()
    high = DecimalText()
    low = DecimalText()
    close = DecimalText()
    volume = DecimalText()
    quote_volume = DecimalText()
    trades = serializers.IntegerField()


class KlineListApi(APIView):
    """Candles whose open time is in [start, end], oldest first; from ``start`` when given,
    else the newest up to ``end`` (or now). Buckets without trades are left out."""

    permission_classes = [AllowAny]

    class Query(serializers.Serializer):
        interval = serializers.CharField()
        start = MomentField(required=False)
        end = MomentField(required=False)
        limit = CappedLimit(cap=1000, default=500)

    @extend_schema(
        parameters=[
            OpenApiParameter("interval", str, enum=["1m", "5m", "15m", "1h", "4h", "1d"]),
            OpenApiParameter("start", str, required=False, description="epoch ms or ISO 8601"),
            OpenApiParameter("end", str, required=False, description="epoch ms or ISO 8601"),
            OpenApiParameter("limit", int, required=False, description="1-1000, 500"),
        ],
        responses={200: KlineSerializer(many=True), **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request, symbol: str) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.kline_list(symbol, **query.validated_data))


class TickerSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    last = DecimalText(allow_null=True)
    open = DecimalText(allow_null=True)
    high = DecimalText(allow_null=True)
    low = DecimalText(allow_null=True)
    volume = DecimalText()
    quote_volume = DecimalText()
    trades = serializers.IntegerField()
    change_percent = DecimalText(allow_null=True)
    best_bid = DecimalText(allow_null=True)
    best_ask = DecimalText(allow_null=True)


class TickerApi(APIView):
    """A market's 24 h rolling ticker."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: TickerSerializer, **error_responses(401, 404, 429)})
    def get(self, request: Request, symbol: str) -> Response:
        return Response(selectors.ticker_get(symbol))


class TickerListApi(APIView):
    """The 24 h rolling tickers of every market."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: TickerSerializer(many=True), **error_responses(401, 429)})
    def get(self, request: Request) -> Response:
        return Response(selectors.ticker_list())
