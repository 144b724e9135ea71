"""Reads of orders and fills, from the engine's read model (DESIGN.md 2.5)."""

from __future__ import annotations

import json
from typing import Any

from engine_worker import keys
from exchange_site.errors import NotFound
from marketdata.selectors import read_model

MAX_RECENT = 1000


def _orders(ids: list[bytes]) -> list[dict[str, Any]]:
    if not ids:
        return []
    raw = read_model().mget([keys.rm_order(int(i)) for i in ids])
    return [json.loads(r) for r in raw if r is not None]


def order_list(*, user_id: int, status: str = "open", symbol: str | None = None) -> list[dict]:
    """The user's orders, newest first: open ones, recently closed ones, or both."""
    orders: list[dict[str, Any]] = []
    if status in ("open", "all"):
        orders += _orders(read_model().zrevrange(keys.rm_open_orders(user_id), 0, -1))
    if status in ("closed", "all"):
        orders += _orders(read_model().lrange(keys.rm_closed_orders(user_id), 0, MAX_RECENT - 1))
    if status == "all":
        orders.sort(key=lambda o: o["id"], reverse=True)
    if symbol:
        orders = [o for o in orders if o["symbol"] == symbol]
    return orders


def order_get(*, user_id: int, order_id: int) -> dict[str, Any]:
    raw = read_model().get(keys.rm_order(order_id))
    order = json.loads(raw) if raw else None
    if order is None or order["user_id"] != user_id:
        raise NotFound("No such order.", code="unknown_order")
    return order


def order_get_by_client_id(*, user_id: int, client_order_id: str) -> dict[str, Any]:
    order_id = read_model().hget(keys.rm_client_order_ids(user_id), client_order_id)
    if order_id is None:
        raise NotFound("No order with this client_order_id.", code="unknown_order")
    return order_get(user_id=user_id, order_id=int(order_id))


def fill_list(*, user_id: int, symbol: str | None = None) -> list[dict[str, Any]]:
    fills = [json.loads(f) for f in read_model().lrange(keys.rm_fills(user_id), 0, MAX_RECENT - 1)]
    if symbol:
        fills = [f for f in fills if f["symbol"] == symbol]
    return fills
