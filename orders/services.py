"""Order operations, each one command through the engine."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from apikit.errors import Conflict, EngineRejected, InvalidInput, NotFound
from engine_client import commands
from engine_client.gateway import engine_call, log_fields
from engine_worker.core.types import OPEN_STATUSES, OrderType, RejectReason
from marketdata.selectors import market_units_get
from marketdata.units import NotAMultiple

logger = logging.getLogger(__name__)


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
) -> dict[str, Any]:
    """Place an order; returns ``{"order", "fills"}`` as the engine applied it."""
    units = market_units_get(symbol)
    try:
        lots = units.quantity_to_lots(quantity)
    except NotAMultiple:
        raise InvalidInput(
            f"quantity must be a multiple of the lot size {units.lot_size}.",
            code="invalid_quantity",
            details={"quantity": str(quantity), "lot_size": str(units.lot_size)},
        ) from None
    ticks = 0
    if type == OrderType.LIMIT:
        if price is None:
            raise InvalidInput("A limit order needs a price.", code="invalid_price")
        try:
            ticks = units.price_to_ticks(price)
        except NotAMultiple:
            raise InvalidInput(
                f"price must be a multiple of the tick size {units.tick_size}.",
                code="invalid_price",
                details={"price": str(price), "tick_size": str(units.tick_size)},
            ) from None
        if units.max_price is not None and price > units.max_price:
            # the engine refuses it too (422 max_price), should the market change meanwhile
            raise InvalidInput(
                f"price must be at most the market's maximum price {units.max_price}.",
                code="invalid_price",
                details={"price": str(price), "max_price": str(units.max_price)},
            )
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
        ),
        shard=units.shard,
    )
    if not reply["ok"]:
        raise engine_error(reply)
    order = reply["order"]
    logger.info(
        "request %s: order %s %s %s %s -> %s",
        reply["request_id"],
        order["id"],
        symbol,
        side,
        quantity,
        order["status"],
        extra=log_fields(reply),
    )
    return {"order": order, "fills": reply["fills"]}


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
