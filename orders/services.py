"""Order operations, each one command through the engine."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from apikit.errors import Conflict, EngineRejected, InvalidInput, NotFound
from engine_client import commands
from engine_client.gateway import engine_call, log_fields
from engine_worker.core.types import OPEN_STATUSES, STOP_TYPES, OrderType, RejectReason
from marketdata.selectors import market_units_get
from marketdata.units import MarketUnits, NotAMultiple

logger = logging.getLogger(__name__)

LIMIT_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)  # the order types with a limit price


def engine_error(reply: dict[str, Any]) -> Exception:
    """The API error for an engine rejection."""
    code, message = reply["code"], reply["message"]
    if code == RejectReason.DUPLICATE_CLIENT_ORDER_ID:
        details = {"request_id": reply["request_id"], "order_id": reply.get("order_id")}
        return Conflict(message, code=code, details=details)
    if code == "duplicate_request":
        return Conflict(message, code=code, details={"request_id": reply["request_id"]})
    if code == RejectReason.UNKNOWN_ORDER:
        return NotFound(message, code=code)
    if code == RejectReason.UNKNOWN_MARKET:
        return NotFound(message, code=code)
    return EngineRejected(message, code=code, details={"request_id": reply["request_id"]})


def _lots(units: MarketUnits, quantity: Decimal) -> int:
    try:
        return units.quantity_to_lots(quantity)
    except NotAMultiple:
        raise InvalidInput(
            f"quantity must be a multiple of the lot size {units.lot_size}.",
            code="invalid_quantity",
            details={"quantity": str(quantity), "lot_size": str(units.lot_size)},
        ) from None


def _ticks(units: MarketUnits, price: Decimal, *, name: str = "price") -> int:
    """A price (``name``: price, stop_price, stop_limit_price) in ticks: a multiple of the
    tick, at most the market's max_price, or a 400 (``invalid_stop_price`` for a stop
    price, ``invalid_price`` for the others)."""
    code = "invalid_stop_price" if name == "stop_price" else "invalid_price"
    try:
        ticks = units.price_to_ticks(price)
    except NotAMultiple:
        raise InvalidInput(
            f"{name} must be a multiple of the tick size {units.tick_size}.",
            code=code,
            details={name: str(price), "tick_size": str(units.tick_size)},
        ) from None
    if units.max_price is not None and price > units.max_price:
        # the engine refuses it too (422 max_price), should the market change meanwhile
        raise InvalidInput(
            f"{name} must be at most the market's maximum price {units.max_price}.",
            code=code,
            details={name: str(price), "max_price": str(units.max_price)},
        )
    return ticks


def order_place(
    *,
    user_id: int,
    symbol: str,
    side: str,
    type: str,  # noqa: A002 - the contract's field name
    quantity: Decimal,
    price: Decimal | None = None,
    time_in_force: str = "GTC",
    post_only: bool = False,
    client_order_id: str | None = None,
    stop_price: Decimal | None = None,
) -> dict[str, Any]:
    """Place an order; returns ``{"order", "fills"}`` as the engine applied it. A limit or
    stop-limit order needs a ``price``, a stop order (stop_limit, stop_market) a
    ``stop_price``; the other types have none."""
    units = market_units_get(symbol)
    lots = _lots(units, quantity)
    ticks = stop_ticks = 0
    if type in LIMIT_PRICED:
        if price is None:
            raise InvalidInput("A limit order needs a price.", code="invalid_price")
        ticks = _ticks(units, price)
    if type in STOP_TYPES:
        if stop_price is None:
            raise InvalidInput("A stop order needs a stop_price.", code="invalid_stop_price")
        stop_ticks = _ticks(units, stop_price, name="stop_price")
    elif stop_price is not None:
        raise InvalidInput("Only a stop order has a stop_price.", code="invalid_stop_price")
    reply = engine_call(
        commands.place_order(
            user_id=user_id,
            symbol=units.symbol,
            side=side,
            type=type,
            time_in_force=time_in_force,
            price=ticks,
            quantity=lots,
            post_only=post_only,
            client_order_id=client_order_id,
            stop_price=stop_ticks,
        ),
        shard=units.shard,
    )
    if not reply["ok"]:
        raise engine_error(reply)
    order = reply["order"]
    logger.info(
        "request %s: order %s %s %s %s %s -> %s",
        reply["request_id"],
        order["id"],
        symbol,
        side,
        type,
        quantity,
        order["status"],
        extra=log_fields(reply),
    )
    return {"order": order, "fills": reply["fills"]}


def order_list_place(
    *,
    user_id: int,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal,
    stop_price: Decimal,
    stop_limit_price: Decimal | None = None,
) -> dict[str, Any]:
    """Place an OCO list: a post-only limit order at ``price`` and a stop order at
    ``stop_price`` (a stop-limit at ``stop_limit_price``, else a stop-market), one side,
    one quantity, one lock; returns ``{"id", "orders": [limit, stop]}``."""
    units = market_units_get(symbol)
    lots = _lots(units, quantity)
    ticks = _ticks(units, price)
    stop_ticks = _ticks(units, stop_price, name="stop_price")
    stop_limit_ticks = (
        None
        if stop_limit_price is None
        else _ticks(units, stop_limit_price, name="stop_limit_price")
    )
    reply = engine_call(
        commands.place_order_list(
            user_id=user_id,
            symbol=units.symbol,
            side=side,
            quantity=lots,
            price=ticks,
            stop_price=stop_ticks,
            stop_limit_price=stop_limit_ticks,
        ),
        shard=units.shard,
    )
    if not reply["ok"]:
        raise engine_error(reply)
    order_list = reply["order_list"]
    logger.info(
        "request %s: order list %s %s %s %s at %s, stop %s",
        reply["request_id"],
        order_list["id"],
        symbol,
        side,
        quantity,
        price,
        stop_price,
        extra=log_fields(reply),
    )
    return order_list


def order_list_get(*, user_id: int, list_id: int) -> dict[str, Any]:
    """One of the user's OCO lists, ``{"id", "orders": [limit, stop]}``, in their current
    states; 404 ``unknown_order_list`` otherwise. (A list's stop order has the id after its
    limit order's, which is the list's: the engine numbers them so.)"""
    from orders.selectors import order_get

    try:
        found = [order_get(user_id=user_id, order_id=i) for i in (list_id, list_id + 1)]
    except NotFound:
        found = []
    if len(found) != 2 or any(o.get("order_list_id") != list_id for o in found):
        raise NotFound("No such order list.", code="unknown_order_list")
    return {"id": list_id, "orders": found}


def order_list_cancel(*, user_id: int, list_id: int) -> dict[str, Any]:
    """Cancel an OCO list (its open orders: cancelling one cancels the other too); returns
    the list as it is then. 400 ``order_not_open`` if none of its orders is open."""
    order_list = order_list_get(user_id=user_id, list_id=list_id)
    still_open = [o for o in order_list["orders"] if o["status"] in OPEN_STATUSES]
    if not still_open:
        raise InvalidInput("The order list is no longer open.", code="order_not_open")
    order_cancel(user_id=user_id, order_id=still_open[0]["id"])
    return order_list_get(user_id=user_id, list_id=list_id)


def order_amend(
    *,
    user_id: int,
    order_id: int,
    quantity: Decimal | None = None,
    price: Decimal | None = None,
) -> dict[str, Any]:
    """Change one open order of the user in place: ``quantity`` (the new total) and/or its
    limit ``price``. A smaller quantity keeps its place in the queue; a new price or a
    larger quantity re-queues it (it may trade). Returns the order as amended. 404 as for
    a cancel, 400 ``order_not_open`` for a closed one, 422 for what the engine refuses
    (``insufficient_balance`` for a lock the balance cannot cover, ``order_in_list``,
    ``invalid_quantity`` for a quantity not above what has filled, ...)."""
    from orders.selectors import order_get

    if quantity is None and price is None:
        raise InvalidInput("Give a quantity, a price or both.", code="invalid_input")
    order = order_get(user_id=user_id, order_id=order_id)
    if order["status"] not in OPEN_STATUSES:
        raise InvalidInput("The order is no longer open.", code="order_not_open")
    units = market_units_get(order["symbol"])
    reply = engine_call(
        commands.amend_order(
            user_id=user_id,
            order_id=order_id,
            quantity=None if quantity is None else _lots(units, quantity),
            price=None if price is None else _ticks(units, price),
        ),
        shard=units.shard,
    )
    if not reply["ok"] and reply["code"] == RejectReason.UNKNOWN_ORDER:
        raise InvalidInput("The order is no longer open.", code="order_not_open")
    if not reply["ok"]:
        raise engine_error(reply)
    amended = reply["order"]
    logger.info(
        "request %s: order %d amended: quantity %s, price %s -> %s",
        reply["request_id"],
        order_id,
        amended["quantity"],
        amended["price"],
        amended["status"],
        extra=log_fields(reply),
    )
    return amended


def order_cancel(*, user_id: int, order_id: int) -> dict[str, Any]:
    """Cancel one open order of the user; returns it as cancelled. 404 for an order that
    is not the user's; 400 ``order_not_open`` for one that is closed, also when it filled
    or was cancelled between this check and the engine."""
    from orders.selectors import order_get

    order = order_get(user_id=user_id, order_id=order_id)
    if order["status"] not in OPEN_STATUSES:
        raise InvalidInput("The order is no longer open.", code="order_not_open")
    reply = engine_call(
        commands.cancel_order(user_id=user_id, order_id=order_id),
        shard=market_units_get(order["symbol"]).shard,
    )
    if not reply["ok"] and reply["code"] == RejectReason.UNKNOWN_ORDER:
        raise InvalidInput("The order is no longer open.", code="order_not_open")
    if not reply["ok"]:
        raise engine_error(reply)
    logger.info(
        "request %s: order %d cancelled", reply["request_id"], order_id, extra=log_fields(reply)
    )
    return reply["order"]


def order_limit_set(*, user_id: int, max_open_orders: int | None) -> None:
    """Give the user its own limit of open orders per market (None: the default again).
    Saved first (the database is what every engine start applies), then sent to the
    engine as a logged SetOrderLimit; EngineUnavailable if it cannot be reached now."""
    from orders.models import OrderLimit

    if max_open_orders is None:
        OrderLimit.objects.filter(user_id=user_id).delete()
    elif max_open_orders < 1:
        raise InvalidInput("The limit must be at least 1.", code="invalid_limit")
    else:
        OrderLimit.objects.update_or_create(
            user_id=user_id, defaults={"max_open_orders": max_open_orders}
        )
    order_limit_sync(user_id=user_id)


def order_limit_sync(*, user_id: int) -> int | None:
    """Tell the engine the user's limit as the database has it; returns that limit.
    The balance shard (the default one) is told now; any other shard at its next start."""
    from orders.models import OrderLimit

    limit = (
        OrderLimit.objects.filter(user_id=user_id).values_list("max_open_orders", flat=True).first()
    )
    reply = engine_call(commands.set_order_limit(user_id=user_id, max_open_orders=limit))
    if not reply["ok"]:
        raise engine_error(reply)
    logger.info(
        "request %s: user %d may have %s open orders per market",
        reply["request_id"],
        user_id,
        "the default number of" if limit is None else limit,
        extra=log_fields(reply),
    )
    return limit


def order_cancel_all(*, user_id: int, symbol: str | None = None) -> list[dict[str, Any]]:
    """Cancel every open order of the user (in one market); returns them."""
    shard = None
    if symbol is not None:
        units = market_units_get(symbol)
        symbol, shard = units.symbol, units.shard
    reply = engine_call(commands.cancel_all(user_id=user_id, symbol=symbol), shard=shard)
    if not reply["ok"]:
        raise engine_error(reply)
    logger.info(
        "request %s: %d orders cancelled",
        reply["request_id"],
        len(reply["orders"]),
        extra=log_fields(reply),
    )
    return reply["orders"]
