"""Orders and fills endpoints: thin views over orders.services and selectors."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.models import Scope
from apikit.caller import caller_id
from apikit.schema import error_responses
from apikit.serializers import SharedFields
from engine_worker.core.types import STOP_TYPES, OrderType
from marketdata.fields import DecimalString, DecimalText, column_length, whole_number
from orders import selectors, services
from orders.models import Order

SYMBOL_LENGTH = column_length(Order, "symbol")
CLIENT_ORDER_ID_LENGTH = column_length(Order, "client_order_id")
ORDER_TYPES = [t.value for t in OrderType]


class OrderSerializer(serializers.Serializer):
    """An order (docs/api.md, "Orders"); also the user channel's order events."""

    id = serializers.IntegerField()
    client_order_id = serializers.CharField(allow_null=True)
    user_id = serializers.IntegerField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    type = serializers.ChoiceField(choices=ORDER_TYPES)
    time_in_force = serializers.ChoiceField(choices=["GTC", "IOC", "FOK"])
    post_only = serializers.BooleanField()
    price = DecimalText(allow_null=True, help_text="null for a market or stop-market order")
    stop_price = DecimalText(allow_null=True, help_text="a stop order's trigger; null for others")
    quantity = DecimalText()
    filled_quantity = DecimalText()
    filled_quote_quantity = DecimalText()
    average_price = DecimalText(allow_null=True, help_text="null before the first fill")
    status = serializers.ChoiceField(choices=Order.Status.values)
    order_list_id = serializers.IntegerField(allow_null=True, help_text="its OCO list, or null")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_at_ms = serializers.IntegerField()
    updated_at_ms = serializers.IntegerField()
    sequence = serializers.IntegerField(help_text="engine sequence of the latest change")


class FillSerializer(serializers.Serializer):
    """The caller's side of a trade (docs/api.md, "Fills")."""

    id = serializers.IntegerField()
    trade_id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    role = serializers.ChoiceField(choices=["maker", "taker"])
    price = DecimalText()
    quantity = DecimalText()
    quote_quantity = DecimalText()
    fee = DecimalText()
    fee_asset = serializers.CharField()
    time = serializers.DateTimeField()
    time_ms = serializers.IntegerField()


class OrderPlacedSerializer(serializers.Serializer):
    order = OrderSerializer()
    fills = FillSerializer(many=True)


class OrderListSerializer(serializers.Serializer):
    """An OCO list (docs/api.md, "Order lists"): its id and its two orders."""

    id = serializers.IntegerField(help_text="the list's limit order's id")
    orders = OrderSerializer(many=True, help_text="the limit order, then the stop order")


class _PageSerializer(serializers.Serializer):
    """ListPagination's body: a page of ``results`` with the total and neighbour links."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class OrderPageSerializer(_PageSerializer):
    results = OrderSerializer(many=True)


class FillPageSerializer(_PageSerializer):
    results = FillSerializer(many=True)


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, required=False, description="1-1000 (more is 1000), 100"),
    OpenApiParameter("offset", int, required=False, description="0"),
]


class ListPagination(LimitOffsetPagination):
    """limit and offset as ASCII digits (marketdata.fields.WholeNumber); anything else
    is a 400, where DRF's own parsing takes "1_0" and "\u0661\u0660" and serves the default
    for what int() refuses."""

    default_limit = 100
    max_limit = 1000

    def get_limit(self, request: Request) -> int:
        text = request.query_params.get(self.limit_query_param)
        if not text:
            return self.default_limit
        return min(whole_number(text, name=self.limit_query_param, min_value=1), self.max_limit)

    def get_offset(self, request: Request) -> int:
        text = request.query_params.get(self.offset_query_param)
        return whole_number(text, name=self.offset_query_param) if text else 0

    def paginate_window(
        self, request: Request, fetch: Callable[..., tuple[int, list[Any]]]
    ) -> list[Any]:
        """Like paginate_queryset, for a selector that counts and slices by itself:
        ``fetch(limit=, offset=) -> (count, page)``."""
        self.request = request
        self.limit = self.get_limit(request) or self.default_limit
        self.offset = self.get_offset(request)
        self.count, page = fetch(limit=self.limit, offset=self.offset)
        return page


def _paginated(view: APIView, request: Request, items: list[Any]) -> Response:
    paginator = ListPagination()
    # DRF's LimitOffsetPagination counts and slices any sequence; its stubs say QuerySet.
    page: list[Any] | None = paginator.paginate_queryset(items, request, view=view)  # type: ignore[arg-type]
    return paginator.get_paginated_response(page)


def _paginated_window(request: Request, fetch: Callable[..., tuple[int, list[Any]]]) -> Response:
    paginator = ListPagination()
    page = paginator.paginate_window(request, fetch)
    return paginator.get_paginated_response(page)


class OrderCollectionApi(APIView):
    """POST places an order, GET lists the caller's orders, DELETE cancels them all."""

    api_key_scopes = {"GET": Scope.READ, "POST": Scope.TRADE, "DELETE": Scope.TRADE}

    class PlaceSerializer(SharedFields):
        symbol = serializers.CharField(max_length=SYMBOL_LENGTH)
        side = serializers.ChoiceField(choices=["buy", "sell"])
        type = serializers.ChoiceField(choices=ORDER_TYPES)
        quantity = DecimalString()
        price = DecimalString(required=False, allow_null=True, default=None)
        stop_price = DecimalString(required=False, allow_null=True, default=None)
        time_in_force = serializers.ChoiceField(choices=["GTC", "IOC", "FOK"], default="GTC")
        post_only = serializers.BooleanField(default=False)
        client_order_id = serializers.RegexField(
            rf"^[A-Za-z0-9_.:-]{{1,{CLIENT_ORDER_ID_LENGTH}}}$",
            max_length=CLIENT_ORDER_ID_LENGTH,
            required=False,
            allow_null=True,
            default=None,
        )

        def validate(self, attrs: dict) -> dict:
            kind = attrs["type"]
            if kind in ("limit", "stop_limit") and attrs.get("price") is None:
                raise serializers.ValidationError({"price": ["A limit order needs a price."]})
            if kind in ("market", "stop_market") and attrs.get("post_only"):
                raise serializers.ValidationError({"post_only": ["Market orders always take."]})
            if kind in STOP_TYPES and attrs.get("stop_price") is None:
                raise serializers.ValidationError(
                    {"stop_price": ["A stop order needs a stop_price."]}
                )
            if kind not in STOP_TYPES and attrs.get("stop_price") is not None:
                raise serializers.ValidationError(
                    {"stop_price": ["Only a stop order has a stop_price."]}
                )
            return attrs

    class ListFilter(SharedFields):
        status = serializers.ChoiceField(choices=["open", "closed", "all"], default="open")
        symbol = serializers.CharField(required=False, max_length=SYMBOL_LENGTH)
        client_order_id = serializers.CharField(required=False, max_length=CLIENT_ORDER_ID_LENGTH)

    @extend_schema(
        request=PlaceSerializer,
        responses={
            201: OrderPlacedSerializer,
            **error_responses(400, 401, 403, 404, 409, 422, 429, 503, 504),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.PlaceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        placed = services.order_place(user_id=caller_id(request), **data.validated_data)
        return Response(placed, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="v1_orders_list",
        parameters=[ListFilter, *PAGE_PARAMETERS],
        responses={200: OrderPageSerializer, **error_responses(400, 401, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        query = self.ListFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        if "client_order_id" in params:
            order = selectors.order_get_by_client_id(
                user_id=caller_id(request), client_order_id=params["client_order_id"]
            )
            return _paginated(self, request, [order])
        if params["status"] == "open":  # the read model holds every open order
            orders = selectors.order_list(
                user_id=caller_id(request), status="open", symbol=params.get("symbol")
            )
            return _paginated(self, request, orders)
        return _paginated_window(  # history: the database, the read model laid over it
            request,
            partial(
                selectors.order_history,
                user_id=caller_id(request),
                status=params["status"],
                symbol=params.get("symbol"),
            ),
        )

    @extend_schema(
        operation_id="v1_orders_cancel_all",
        parameters=[OpenApiParameter("symbol", str, required=False)],
        responses={
            200: OrderSerializer(many=True),
            **error_responses(401, 403, 404, 422, 429, 503, 504),
        },
    )
    def delete(self, request: Request) -> Response:
        symbol = request.query_params.get("symbol") or None
        return Response(services.order_cancel_all(user_id=caller_id(request), symbol=symbol))


class OrderDetailApi(APIView):
    """GET one of the caller's orders, PATCH amends it, DELETE cancels it."""

    api_key_scopes = {"GET": Scope.READ, "PATCH": Scope.TRADE, "DELETE": Scope.TRADE}

    class AmendSerializer(serializers.Serializer):
        # not SharedFields: shared fields keep the root they were first bound to, and the
        # schema generator binds a PATCH body's serializer as partial, where DRF applies no
        # defaults: every later amend then missed its defaults (KeyError, a 500)
        quantity = DecimalString(required=False, allow_null=True, default=None)
        price = DecimalString(required=False, allow_null=True, default=None)

        def validate(self, attrs: dict) -> dict:
            if attrs.get("quantity") is None and attrs.get("price") is None:
                raise serializers.ValidationError(
                    {"quantity": ["Give a quantity, a price or both."]}
                )
            return attrs

    @extend_schema(responses={200: OrderSerializer, **error_responses(401, 404, 429)})
    def get(self, request: Request, order_id: int) -> Response:
        return Response(selectors.order_get(user_id=caller_id(request), order_id=order_id))

    @extend_schema(
        responses={
            200: OrderSerializer,
            **error_responses(400, 401, 403, 404, 422, 429, 503, 504),
        }
    )
    def delete(self, request: Request, order_id: int) -> Response:
        return Response(services.order_cancel(user_id=caller_id(request), order_id=order_id))

    @extend_schema(
        request=AmendSerializer,
        responses={
            200: OrderSerializer,
            **error_responses(400, 401, 403, 404, 422, 429, 503, 504),
        },
    )
    def patch(self, request: Request, order_id: int) -> Response:
        data = self.AmendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            services.order_amend(
                user_id=caller_id(request), order_id=order_id, **data.validated_data
            )
        )


class OrderListCollectionApi(APIView):
    """POST places an OCO list."""

    api_key_scopes = {"POST": Scope.TRADE}

    class PlaceSerializer(SharedFields):
        symbol = serializers.CharField(max_length=SYMBOL_LENGTH)
        side = serializers.ChoiceField(choices=["buy", "sell"])
        quantity = DecimalString()
        price = DecimalString(help_text="the limit order's (post-only)")
        stop_price = DecimalString(help_text="the stop order's trigger")
        stop_limit_price = DecimalString(
            required=False,
            allow_null=True,
            default=None,
            help_text="the stop order's limit price: a stop-limit; absent: a stop-market",
        )

    @extend_schema(
        request=PlaceSerializer,
        responses={
            201: OrderListSerializer,
            **error_responses(400, 401, 403, 404, 409, 422, 429, 503, 504),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.PlaceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        placed = services.order_list_place(user_id=caller_id(request), **data.validated_data)
        return Response(placed, status=status.HTTP_201_CREATED)


class OrderListDetailApi(APIView):
    """GET one of the caller's OCO lists, DELETE cancels it."""

    api_key_scopes = {"GET": Scope.READ, "DELETE": Scope.TRADE}

    @extend_schema(responses={200: OrderListSerializer, **error_responses(401, 404, 429)})
    def get(self, request: Request, list_id: int) -> Response:
        return Response(services.order_list_get(user_id=caller_id(request), list_id=list_id))

    @extend_schema(
        responses={
            200: OrderListSerializer,
            **error_responses(400, 401, 403, 404, 422, 429, 503, 504),
        }
    )
    def delete(self, request: Request, list_id: int) -> Response:
        return Response(services.order_list_cancel(user_id=caller_id(request), list_id=list_id))


class FillListApi(APIView):
    api_key_scopes = {"GET": Scope.READ}

    @extend_schema(
        operation_id="v1_trades_list",
        parameters=[OpenApiParameter("symbol", str, required=False), *PAGE_PARAMETERS],
        responses={200: FillPageSerializer, **error_responses(401, 429)},
    )
    def get(self, request: Request) -> Response:
        symbol = request.query_params.get("symbol") or None
        return _paginated_window(
            request, partial(selectors.fill_history, user_id=caller_id(request), symbol=symbol)
        )
