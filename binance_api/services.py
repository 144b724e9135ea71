"""The facade's order commands: Binance's POST order, DELETE order and DELETE openOrders
read in Binance's terms and sent through orders.services, the one order path /api/v1
uses too (docs/binance-api.md, "Orders").

Binance's order types map onto ours: LIMIT with GTC, IOC or FOK is our limit order;
LIMIT_MAKER is our limit GTC order with ``post_only`` (refused with -2010 "Order would
immediately match and take." if it would take); MARKET by ``quantity`` is our market
order. MARKET by ``quoteOrderQty`` has no equivalent in the engine (a market order is
sized in base lots): it becomes a market order of the most lots that quote amount
buys (or sells for) along the book as it stands when the order is read (the read
model's depth); the engine then fills that quantity against the book as it is when the
order reaches it, so a book that moved in between makes the executed quote amount
differ from ``quoteOrderQty``."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Any

from apikit.errors import ExchangeError
from binance_api import errors, shapes
from binance_api.errors import BinanceError, filter_failure, from_exchange_error
from binance_api.params import Params, illegal, invalid, mandatory, not_required
from binance_api.selectors import order_of
from infra.deepbook import TOP_LEVELS
from marketdata import selectors as market
from marketdata.fields import column_length
from marketdata.units import CONTEXT
from orders import services
from orders.models import Order

SIDES = {"BUY": "buy", "SELL": "sell"}
TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
# ours (orders.api): Binance's also allows "/", and at most 36 characters
CLIENT_ORDER_ID_LENGTH = column_length(Order, "client_order_id")
CLIENT_ORDER_ID_LEGAL = rf"^[A-Za-z0-9_.:-]{{1,{CLIENT_ORDER_ID_LENGTH}}}$"
CLIENT_ORDER_ID_RE = re.compile(CLIENT_ORDER_ID_LEGAL[1:-1])
UNSUPPORTED = ("stopPrice", "icebergQty", "trailingDelta", "strategyId", "strategyType")
STP_MODES = ("EXPIRE_TAKER",)


def new_client_order_id() -> str:
    """A client order id for an order sent without one, as Binance generates them."""
    return secrets.token_urlsafe(16)[:22]


def _client_order_id(params: Params, name: str) -> str | None:
    text = params.text(name)
    if text is not None and not CLIENT_ORDER_ID_RE.fullmatch(text):
        raise illegal(name, CLIENT_ORDER_ID_LEGAL)
    return text


def _total(levels: list[list[str]]) -> Decimal:
    total = Decimal(0)
    for _, size in levels:
        total = CONTEXT.add(total, Decimal(size))
    return total


def _quote_quantity(symbol: str, side: str, quote: Decimal) -> Decimal:
    """The base quantity a MARKET order by ``quoteOrderQty`` is sent with: the most lots
    ``quote`` buys (sells for) along the current book, best level first."""
    units = market.market_units_get(symbol)
    side_key = "asks" if side == "buy" else "bids"
    levels = market.depth_get(symbol, limit=TOP_LEVELS)[side_key]
    if not levels:
        raise BinanceError(
            errors.NEW_ORDER_REJECTED, "Order book liquidity is less than symbol minimum quantity."
        )
    quantity = shapes.lots_for_quote(levels, quote, units)
    if len(levels) == TOP_LEVELS and quantity == _total(levels):
        # the snapshot's levels do not spend it all: the whole book
        levels = market.depth_get(symbol, limit=None)[side_key]
        quantity = shapes.lots_for_quote(levels, quote, units)
    if not quantity:
        raise filter_failure("LOT_SIZE")
    return quantity


def order_place(params: Params, *, user_id: int) -> dict[str, Any]:
    """POST order: the reply in the asked newOrderRespType (ACK, RESULT or FULL)."""
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    side_text = params.choice(
        "side", SIDES, BinanceError(errors.INVALID_SIDE, "Invalid side."), required=True
    )
    kind = params.choice(
        "type", TYPES, BinanceError(errors.INVALID_ORDER_TYPE, "Invalid orderType."), required=True
    )
    assert side_text is not None and kind is not None  # noqa: S101 - required
    side = SIDES[side_text]
    for name in UNSUPPORTED:
        if params.sent(name):
            raise not_required(name)
    stp = params.text("selfTradePreventionMode")
    if stp is not None and stp not in STP_MODES:
        raise invalid("selfTradePreventionMode")
    response_type = params.choice(
        "newOrderRespType",
        RESPONSE_TYPES,
        BinanceError(errors.INVALID_NEW_ORDER_RESP_TYPE, "Invalid newOrderRespType."),
    ) or ("ACK" if kind == "LIMIT_MAKER" else "FULL")
    client_order_id = _client_order_id(params, "newClientOrderId") or new_client_order_id()
    quantity = params.decimal("quantity")
    quote_quantity = params.decimal("quoteOrderQty")
    price = params.decimal("price")
    time_in_force = params.choice(
        "timeInForce",
        shapes.TIME_IN_FORCE,
        BinanceError(errors.INVALID_TIF, "Invalid timeInForce."),
    )
    if kind == "MARKET":
        if price is not None:
            raise not_required("price")
        if quantity is None and quote_quantity is None:
            raise BinanceError(
                errors.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
            )
        if quantity is not None and quote_quantity is not None:
            raise not_required("quoteOrderQty")
    else:
        if quote_quantity is not None:
            raise not_required("quoteOrderQty")
        if quantity is None:
            raise mandatory("quantity")
        if price is None:
            raise mandatory("price")
        if kind == "LIMIT" and time_in_force is None:
            raise mandatory("timeInForce")
        if kind == "LIMIT_MAKER" and time_in_force is not None:
            raise not_required("timeInForce")
        if not price:
            raise filter_failure("PRICE_FILTER")
    if quote_quantity is not None:
        if not quote_quantity:
            raise filter_failure("NOTIONAL")
        quantity = _quote_quantity(symbol, side, quote_quantity)
    assert quantity is not None  # noqa: S101 - one of the two
    if not quantity:
        raise filter_failure("MARKET_LOT_SIZE" if kind == "MARKET" else "LOT_SIZE")
    try:
        placed = services.order_place(
            user_id=user_id,
            symbol=symbol,
            side=side,
            type="market" if kind == "MARKET" else "limit",
            quantity=quantity,
            price=price if kind != "MARKET" else None,
            time_in_force=time_in_force or "GTC",
            post_only=kind == "LIMIT_MAKER",
            client_order_id=client_order_id,
        )
    except ExchangeError as exc:
        if exc.code == "invalid_quantity" and kind == "MARKET":
            raise filter_failure("MARKET_LOT_SIZE") from None
        raise from_exchange_error(exc, placing=True) from None
    return shapes.new_order(
        placed["order"],
        placed["fills"],
        response_type=response_type,
        quote_order_qty="0" if quote_quantity is None else str(quote_quantity),
    )


def order_cancel(params: Params, *, user_id: int) -> dict[str, Any]:
    """DELETE order, by orderId or origClientOrderId; -2011 for an order that is not the
    user's, not in that symbol or no longer open."""
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    new_id = _client_order_id(params, "newClientOrderId")
    try:
        order = order_of(params, user_id=user_id, symbol=symbol)
        cancelled = services.order_cancel(user_id=user_id, order_id=order["id"])
    except ExchangeError as exc:
        if exc.code == "unknown_order":
            raise BinanceError(errors.CANCEL_REJECTED, errors.UNKNOWN_ORDER_MSG) from None
        raise from_exchange_error(exc) from None
    return shapes.cancelled_order(cancelled, client_order_id=new_id)


def open_orders_cancel(params: Params, *, user_id: int) -> list[dict[str, Any]]:
    """DELETE openOrders: every open order of the user in the symbol, as cancelled."""
    symbol = params.symbol()
    try:
        cancelled = services.order_cancel_all(user_id=user_id, symbol=symbol)
    except ExchangeError as exc:
        raise from_exchange_error(exc) from None
    return [shapes.cancelled_order(o) for o in cancelled]
