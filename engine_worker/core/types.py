"""Enumerations shared by commands, events and the book."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP_LIMIT = "stop_limit"  # a limit order entered when the last price reaches stop_price
    STOP_MARKET = "stop_market"  # a market order entered when the last price reaches stop_price


# the types that wait for a trigger (engine_worker/core/stops.py)
STOP_TYPES = (OrderType.STOP_LIMIT, OrderType.STOP_MARKET)
# the types that take without a limit price (a stop-market once triggered)
MARKET_TYPES = (OrderType.MARKET, OrderType.STOP_MARKET)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class MarketStatus(StrEnum):
    TRADING = "trading"
    HALTED = "halted"  # no new orders, no cancels
    CANCEL_ONLY = "cancel_only"  # cancels only


class OrderStatus(StrEnum):
    PENDING = "pending"  # a stop order waiting for its trigger (not on the book)
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# the statuses of an order that rests on the book (or may still): every other is final
OPEN_STATUSES = (OrderStatus.PENDING, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class RejectReason(StrEnum):
    """Why the engine refused a command. The values are the REST error codes."""

    INSUFFICIENT_BALANCE = "insufficient_balance"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    MARKET_HALTED = "market_halted"
    MARKET_CANCEL_ONLY = "market_cancel_only"
    FOK_NOT_FILLED = "fok_not_filled"
    MIN_NOTIONAL = "min_notional"
    MIN_QUANTITY = "min_quantity"
    MAX_QUANTITY = "max_quantity"
    MAX_PRICE = "max_price"
    INVALID_PRICE = "invalid_price"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_MARKET = "unknown_market"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_NOT_OPEN = "order_not_open"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    TOO_MANY_OPEN_ORDERS = "too_many_open_orders"
    INVALID_LIMIT = "invalid_limit"
    MARKET_EXISTS = "market_exists"
    INVALID_STOP_PRICE = "invalid_stop_price"
    STOP_WOULD_TRIGGER = "stop_would_trigger"
    ORDER_IN_LIST = "order_in_list"
    MALFORMED_COMMAND = "malformed_command"
