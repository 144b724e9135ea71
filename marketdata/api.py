"""Market catalogue and depth endpoints (public)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange_site.fields import DecimalString
from marketdata import selectors


class MarketSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    base = serializers.CharField(source="base.symbol")
    quote = serializers.CharField(source="quote.symbol")
    tick_size = DecimalString()
    lot_size = DecimalString()
    min_quantity = DecimalString()
    max_quantity = DecimalString()
    min_notional = DecimalString()
    maker_fee_bps = serializers.IntegerField()
    taker_fee_bps = serializers.IntegerField()
    status = serializers.CharField()


class MarketListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: MarketSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(MarketSerializer(selectors.market_list(), many=True).data)


class DepthApi(APIView):
    permission_classes = [AllowAny]

    class Query(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=100, default=50)

    @extend_schema(parameters=[OpenApiParameter("limit", int, required=False)])
    def get(self, request: Request, symbol: str) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.depth_get(symbol, limit=query.validated_data["limit"]))
