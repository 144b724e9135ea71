"""Enumerations shared by commands, events and the book."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class MarketStatus(StrEnum):
    TRADING = "trading"
    HALTED = "halted"  # no new orders, no cancels
    CANCEL_ONLY = "cancel_only"  # cancels only


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# the statuses of an order that rests on the book (or may still): every other is final
OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


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
    MALFORMED_COMMAND = "malformed_command"
