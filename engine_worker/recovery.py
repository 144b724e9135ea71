"""Engine start-up: the state the DB processor persisted, then the stream after it.

PostgreSQL holds, in one consistent snapshot, the balances and orders as of
``ProcessorState.last_seq`` and the engine's counters and markets at that point; the
stream holds every command after it. Restoring the first and replaying the second gives
exactly the books, balances and sequence numbers the engine had before it stopped.
"""

from __future__ import annotations

import logging
from typing import Any

from engine_worker.core.book import new_order
from engine_worker.core.engine import COID_HORIZON_NONE, Engine
from engine_worker.core.types import OrderStatus, OrderType, Side, TimeInForce
from marketdata.units import (
    DEFAULT_DECIMALS,
    MarketUnits,
    asset_unit,
    exact_units,
    market_units_from_wire,
)
from persistence.snapshot import Snapshot

logger = logging.getLogger(__name__)


def limits_to_state(engine: Engine) -> dict[str, Any]:
    """The engine's limits as the event stream's ``state`` carries them (docs/event-stream.md)."""
    return {
        "max_open_orders": engine.max_open_orders,
        "client_order_id_retention": engine.coid_retention,
        "users": {str(user_id): n for user_id, n in sorted(engine.order_limits.items())},
    }


def limits_restore(engine: Engine, state: dict[str, Any]) -> None:
    limits = state.get("limits")
    if limits:
        engine.max_open_orders = int(limits["max_open_orders"])
        engine.coid_retention = int(limits["client_order_id_retention"])
        engine.order_limits = {int(u): int(n) for u, n in limits["users"].items()}


def engine_restore(engine: Engine, snapshot: Snapshot) -> dict[str, MarketUnits]:
    """Load the snapshot into a fresh engine; returns the markets' decimal units."""
    state = snapshot.state
    units = {s: market_units_from_wire(u) for s, u in state.get("markets", {}).items()}
    assets = {a: int(d) for a, d in state.get("assets", {}).items()}
    depth_seq = state.get("depth_seq", {})
    last_price = state.get("last_price", {})
    for symbol, market in units.items():
        engine.restore_market(
            market.rules(),
            depth_seq=int(depth_seq.get(symbol, 0)),
            last_price=int(last_price.get(symbol, 0)),
        )
    limits_restore(engine, state)
    for user_id, asset, available, locked in snapshot.balances:
        unit = asset_unit(assets.get(asset, DEFAULT_DECIMALS))
        engine.restore_balance(
            user_id, asset, exact_units(available, unit), exact_units(locked, unit)
        )
    lists: dict[int, list[int]] = {}  # OCO list -> its open orders
    for row in snapshot.orders:  # in queue order (persistence/snapshot.py)
        market = units[row.symbol]
        engine.restore_order(
            new_order(
                order_id=row.id,
                user_id=row.user_id,
                symbol=row.symbol,
                side=Side(row.side),
                type=OrderType(row.type),
                time_in_force=TimeInForce(row.time_in_force),
                post_only=row.post_only,
                price=market.price_to_ticks(row.price) if row.price is not None else 0,
                quantity=market.quantity_to_lots(row.quantity),
                filled_quantity=market.quantity_to_lots(row.filled_quantity),
                filled_quote=exact_units(row.filled_quote_quantity, market.quote_unit),
                status=OrderStatus(row.status),
                client_order_id=row.client_order_id,
                created_ts=row.created_ms,
                updated_ts=row.updated_ms,
                priority=row.priority or row.id,
                stop_price=market.price_to_ticks(row.stop_price) if row.stop_price else 0,
                order_list_id=row.order_list_id,
            )
        )
        if row.order_list_id is not None:
            lists.setdefault(row.order_list_id, []).append(row.id)
    for members in lists.values():
        if len(members) == 2:  # both still open: still linked (the first fill or trigger
            engine.restore_order_list(*members)  # of either cancels the other)
    engine.coid_horizon = int(state.get("coid_horizon", COID_HORIZON_NONE))
    for user_id, client_order_id, order_id, created_ms in snapshot.client_order_ids:
        engine.restore_client_order_id(user_id, client_order_id, order_id, created_ms)
    engine.next_seq = int(state.get("next_seq", snapshot.last_seq + 1))
    engine.next_order_id = int(state.get("next_order_id", 1))
    engine.next_trade_id = int(state.get("next_trade_id", 1))
    return units
