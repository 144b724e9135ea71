"""Reads of orders and fills: open orders from the engine's read model
(docs/architecture.md, "The path of an order"), history from the database with the read
model laid over it.

Read-your-writes for history: the read model is written in the same atomic step as the
engine's reply, the database a little later by the DB processor. A history page is the
database's rows, except that an order (or fill) the read model holds in a newer state
(a higher ``sequence``, or absent from the database) replaces or joins them. The overlay
is small (what the DB processor has not committed yet), so the page is computed with
three queries whatever its offset: the database's sequences of the read model's ids,
one count that also places each overlay item, and the page's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Model, Q, QuerySet

from apikit.errors import NotFound
from engine_worker.core.types import OPEN_STATUSES
from infra import keys
from marketdata.selectors import read_model
from marketdata.shapes import fill_body, order_body
from marketdata.units import EPOCH, epoch_ms, plain
from orders.models import Order, Trade

MAX_RECENT = keys.RECENT_ITEMS


def _orders(ids: list[bytes] | list[int]) -> list[dict[str, Any]]:
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
    """The read model first (it is never behind); the database for an order that has
    left it (closed orders expire from the read model after 7 days)."""
    raw = read_model().get(keys.rm_order(order_id))
    order = json.loads(raw) if raw else None
    if order is None:
        row = Order.objects.filter(id=order_id, user_id=user_id).first()
        if row is not None:
            return order_json(row)
    if order is None or order["user_id"] != user_id:
        raise NotFound("No such order.", code="unknown_order")
    return order


def order_get_by_client_id(*, user_id: int, client_order_id: str) -> dict[str, Any]:
    order_id = read_model().hget(keys.rm_client_order_ids(user_id), client_order_id)
    if order_id is None:
        row = (
            Order.objects.filter(user_id=user_id, client_order_id=client_order_id)
            .order_by("-id")
            .first()
        )
        if row is None:
            raise NotFound("No order with this client_order_id.", code="unknown_order")
        return order_json(row)
    return order_get(user_id=user_id, order_id=int(order_id))


def fill_list(*, user_id: int, symbol: str | None = None) -> list[dict[str, Any]]:
    fills = [json.loads(f) for f in read_model().lrange(keys.rm_fills(user_id), 0, MAX_RECENT - 1)]
    if symbol:
        fills = [f for f in fills if f["symbol"] == symbol]
    return fills


# -- history: the database with the read model laid over it -------------------------------


def _amount(value: Decimal | None) -> str | None:
    """A decimal as the read model writes it: no exponent, no trailing zeros."""
    if value is None:
        return None
    return plain(value)


def order_json(row: Order) -> dict[str, Any]:
    """A database order in the read model's shape (marketdata.shapes.order_body)."""
    return order_body(
        id=row.id,
        client_order_id=row.client_order_id,
        user_id=row.user_id,
        symbol=row.symbol,
        side=row.side,
        type=row.type,
        time_in_force=row.time_in_force,
        post_only=row.post_only,
        price=_amount(row.price) if row.type in ("limit", "stop_limit") else None,
        stop_price=_amount(row.stop_price),
        quantity=plain(row.quantity),
        filled_quantity=plain(row.filled_quantity),
        filled_quote_quantity=plain(row.filled_quote_quantity),
        average_price=_amount(row.average_price),
        status=row.status,
        order_list_id=row.order_list_id,
        created_at_ms=epoch_ms(row.created_at),
        updated_at_ms=epoch_ms(row.updated_at),
        sequence=row.sequence,
    )


def fill_json(row: Trade, *, user_id: int) -> dict[str, Any]:
    """The caller's side of a database trade in the read model's fill shape."""
    maker = row.maker_user_id == user_id
    taker_side = row.taker_side
    return fill_body(
        trade_id=row.id,
        maker=maker,
        order_id=row.maker_order_id if maker else row.taker_order_id,
        user_id=user_id,
        symbol=row.symbol,
        side=("sell" if taker_side == "buy" else "buy") if maker else taker_side,
        price=plain(row.price),
        quantity=plain(row.quantity),
        quote_quantity=plain(row.quote_quantity),
        fee=plain(row.maker_fee if maker else row.taker_fee),
        fee_asset=row.maker_fee_asset if maker else row.taker_fee_asset,
        time_ms=epoch_ms(row.time),
    )


def _merged_page(
    rows: QuerySet[Any],
    overlay: list[tuple[int, dict[str, Any]]],
    render: Callable[[Any], dict[str, Any]],
    *,
    limit: int,
    offset: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Page ``[offset, offset + limit)`` of ``rows`` (ordered by descending primary key,
    the overlay's ids already excluded) merged with ``overlay`` ((key, item) pairs, key
    on the same scale as the rows' primary key), newest first. One query counts the rows
    and, for each overlay item, the rows above it; one more fetches the rows' part."""
    overlay = sorted(overlay, key=lambda pair: pair[0], reverse=True)
    if overlay:
        counts = rows.aggregate(
            total=Count("pk"),
            **{f"above_{i}": Count("pk", filter=Q(pk__gt=k)) for i, (k, _) in enumerate(overlay)},
        )
    else:
        counts = {"total": rows.count()}
    total = counts["total"] + len(overlay)
    # the merged position of each overlay item: rows above it plus overlay items above it
    before = 0  # overlay items placed before the page
    on_page: list[tuple[int, dict[str, Any]]] = []
    for i, pair in enumerate(overlay):
        position = counts[f"above_{i}"] + i
        if position < offset:
            before += 1
        elif position < offset + limit:
            on_page.append(pair)
    wanted = limit - len(on_page)
    page = list(on_page)
    if wanted > 0 and offset - before < counts["total"]:
        start = offset - before
        page += [(row.pk, render(row)) for row in rows[start : start + wanted]]
    page.sort(key=lambda pair: pair[0], reverse=True)
    return total, [item for _, item in page]


def _db_sequences(model: type[Model], ids: list[int], field: str = "sequence") -> dict[int, int]:
    if not ids:
        return {}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", field))  # type: ignore[attr-defined]


def _moment(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def order_history(
    *,
    user_id: int,
    status: str,
    symbol: str | None = None,
    limit: int,
    offset: int,
    min_id: int | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The user's orders (``closed`` or ``all``), newest first: ``(count, page)``.
    ``min_id``: only orders from that id on; ``start_ms``, ``end_ms``: only orders
    created in [start, end] (epoch ms)."""
    model = read_model()
    ids = [int(i) for i in model.zrange(keys.rm_open_orders(user_id), 0, -1)]
    ids += [int(i) for i in model.lrange(keys.rm_closed_orders(user_id), 0, MAX_RECENT - 1)]
    recent = _orders(list(dict.fromkeys(ids)))
    recent = [o for o in recent if o["user_id"] == user_id]
    stored = _db_sequences(Order, [o["id"] for o in recent])
    newer = [o for o in recent if o["sequence"] > stored.get(o["id"], -1)]
    rows = Order.objects.filter(user_id=user_id).exclude(id__in=[o["id"] for o in newer])
    if status == "closed":
        rows = rows.exclude(status__in=OPEN_STATUSES)
        newer = [o for o in newer if o["status"] not in OPEN_STATUSES]
    if symbol:
        rows = rows.filter(symbol=symbol)
        newer = [o for o in newer if o["symbol"] == symbol]
    if min_id is not None:
        rows = rows.filter(id__gte=min_id)
        newer = [o for o in newer if o["id"] >= min_id]
    if start_ms is not None:
        rows = rows.filter(created_at__gte=_moment(start_ms))
        newer = [o for o in newer if o["created_at_ms"] >= start_ms]
    if end_ms is not None:
        rows = rows.filter(created_at__lte=_moment(end_ms))
        newer = [o for o in newer if o["created_at_ms"] <= end_ms]
    return _merged_page(
        rows.order_by("-id"), [(o["id"], o) for o in newer], order_json, limit=limit, offset=offset
    )


def fill_history(
    *,
    user_id: int,
    symbol: str | None = None,
    limit: int,
    offset: int,
    min_trade_id: int | None = None,
    order_id: int | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The user's fills, newest first: ``(count, page)``. A trade is immutable, so the
    read model's recent fills join the page only while the database lacks their trade.
    ``min_trade_id``: only trades from that id on; ``order_id``: only the fills of that
    order of the user; ``start_ms``, ``end_ms``: only trades in [start, end] (epoch ms)."""
    recent = [json.loads(f) for f in read_model().lrange(keys.rm_fills(user_id), 0, MAX_RECENT - 1)]
    stored = _db_sequences(Trade, [f["trade_id"] for f in recent])
    newer = [f for f in recent if f["trade_id"] not in stored]
    rows = Trade.objects.filter(Q(maker_user_id=user_id) | Q(taker_user_id=user_id))
    if symbol:
        rows = rows.filter(symbol=symbol)
        newer = [f for f in newer if f["symbol"] == symbol]
    if min_trade_id is not None:
        rows = rows.filter(id__gte=min_trade_id)
        newer = [f for f in newer if f["trade_id"] >= min_trade_id]
    if order_id is not None:
        rows = rows.filter(
            Q(maker_user_id=user_id, maker_order_id=order_id)
            | Q(taker_user_id=user_id, taker_order_id=order_id)
        )
        newer = [f for f in newer if f["order_id"] == order_id]
    if start_ms is not None:
        rows = rows.filter(time__gte=_moment(start_ms))
        newer = [f for f in newer if f["time_ms"] >= start_ms]
    if end_ms is not None:
        rows = rows.filter(time__lte=_moment(end_ms))
        newer = [f for f in newer if f["time_ms"] <= end_ms]
    return _merged_page(
        rows.order_by("-id"),
        [(f["trade_id"], f) for f in newer],
        lambda row: fill_json(row, user_id=user_id),
        limit=limit,
        offset=offset,
    )
