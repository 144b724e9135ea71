"""What the database holds for an engine start: the snapshot the DB processor persisted
(balances and open orders as of ``ProcessorState.last_seq``, with the engine's counters and
markets at that point) and the limits the engine must have. engine_worker/recovery.py
restores an engine from it and replays the command log after it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction

from accounts.models import Balance
from engine_worker.core.engine import CLIENT_ORDER_ID_RETENTION_DEFAULT, COID_HORIZON_NONE
from engine_worker.core.types import OPEN_STATUSES
from persistence.deadletters import recovery_overlay
from persistence.models import ProcessorState

logger = logging.getLogger(__name__)


class OrderRow(NamedTuple):
    id: int
    user_id: int
    symbol: str
    side: str
    type: str
    time_in_force: str
    post_only: bool
    price: Decimal | None
    quantity: Decimal
    filled_quantity: Decimal
    filled_quote_quantity: Decimal
    status: str
    client_order_id: str | None
    created_ms: int
    updated_ms: int
    stop_price: Decimal | None = None
    order_list_id: int | None = None
    priority: int | None = None  # None: the order's id (rows from before priorities)


# Open orders (pending stops included) in queue order: the engine puts each resting one at
# the back of its level, so a level's orders come back in the order they were queued.
OPEN_ORDERS = """
SELECT id, user_id, symbol, side, type, time_in_force, post_only, price, quantity,
    filled_quantity, filled_quote_quantity, status, client_order_id,
    (extract(epoch FROM created_at) * 1000)::bigint,
    (extract(epoch FROM updated_at) * 1000)::bigint,
    stop_price, order_list_id, priority
FROM orders_order
WHERE status = ANY(%s) AND symbol = ANY(%s)
ORDER BY COALESCE(priority, id), id
"""


@dataclass(frozen=True)
class Limits:
    """The limits the engine must have: the settings' defaults and the users' own
    open-order limits (orders.OrderLimit). The engine gets them through logged
    commands (EngineRuntime.sync_limits at start-up, orders.services.order_limit_set)."""

    max_open_orders: int
    client_order_id_retention: int  # ms
    users: dict[int, int] = field(default_factory=dict)


def limits_load() -> Limits:
    from django.conf import settings

    from orders.models import OrderLimit

    return Limits(
        max_open_orders=settings.MAX_OPEN_ORDERS_PER_MARKET,
        client_order_id_retention=settings.CLIENT_ORDER_ID_RETENTION * 1000,
        users=dict(OrderLimit.objects.values_list("user_id", "max_open_orders")),
    )


# Orders whose client_order_id the engine still holds taken: placed after the snapshot's
# coid_horizon (docs/event-stream.md), open or not. created_at is the command's ts, exact
# to the millisecond (the DB processor writes "epoch + ms * 1 ms").
RECENT_CLIENT_ORDER_IDS = """
SELECT user_id, client_order_id, id, (extract(epoch FROM created_at) * 1000)::bigint
FROM orders_order
WHERE client_order_id IS NOT NULL
    AND created_at > timestamptz 'epoch' + %s * interval '1 millisecond'
    AND symbol = ANY(%s)
ORDER BY id
"""


@dataclass
class Snapshot:
    """What the database says the engine looked like after ``last_seq``."""

    last_seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    balances: list[tuple[int, str, Decimal, Decimal]] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    # (user, client_order_id, order id, created ms) of orders past the coid horizon
    client_order_ids: list[tuple[int, str, int, int]] = field(default_factory=list)


def coid_floor(state: dict[str, Any], now_ms: int) -> int:
    """Orders placed after this (epoch ms) keep their client_order_id taken in the engine
    as of the snapshot: its ``coid_horizon``. A state without one (no order with a client
    id came yet, or written before there were horizons) falls back to the window now."""
    horizon = int(state.get("coid_horizon", COID_HORIZON_NONE))
    if horizon != COID_HORIZON_NONE:
        return horizon
    limits = state.get("limits") or {}
    retention = int(limits.get("client_order_id_retention", CLIENT_ORDER_ID_RETENTION_DEFAULT))
    return now_ms - retention


def snapshot_load(*, shard: int) -> Snapshot:
    """One REPEATABLE READ transaction, so the three reads agree with each other."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        state = ProcessorState.objects.filter(shard=shard).first()
        if state is None or not state.engine_state:
            return Snapshot()
        markets = list(state.engine_state.get("markets", {}))
        balances = list(Balance.objects.values_list("user_id", "asset", "available", "locked"))
        cursor.execute(OPEN_ORDERS, [[str(s) for s in OPEN_STATUSES], markets])
        orders = [OrderRow(*row) for row in cursor.fetchall()]
        # entries the DB processor set aside: applied by the engine, not in the tables
        balances, orders = recovery_overlay(shard, balances, orders, markets)
        floor = coid_floor(state.engine_state, time.time_ns() // 1_000_000)
        cursor.execute(RECENT_CLIENT_ORDER_IDS, [floor, markets])
        client_order_ids = [tuple(row) for row in cursor.fetchall()]
    return Snapshot(state.last_seq, state.engine_state, balances, orders, client_order_ids)


def timed_snapshot_load(*, shard: int) -> Snapshot:
    started = time.monotonic()
    snapshot = snapshot_load(shard=shard)
    logger.info(
        "recovery: loaded %d balances and %d open orders as of sequence %d in %.2fs",
        len(snapshot.balances),
        len(snapshot.orders),
        snapshot.last_seq,
        time.monotonic() - started,
    )
    return snapshot
