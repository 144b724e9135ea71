"""The engine's commands as the web side sends them: one typed constructor per command.

A command's fields are defined once, by its dataclass in the pure core
(engine_worker/core/commands.py); on the wire it is a JSON object with its ``kind`` (the
class name) and the same fields, enums as their values, integers in the engine's units
(ticks, lots, an asset's smallest unit: marketdata/units.py converts). ``request_id`` and
``ts`` are stamped by ``engine_call`` (or by the engine worker for its own start-up
commands, ``stamped``). The engine worker parses them back with
``engine_worker.wire.command_from_wire``; engine_worker/tests/test_commands_wire.py checks
on random values that every constructor here round-trips to its core dataclass, field for
field, and that the parser's fast path for the engine's own log agrees with it.

Wire-only fields: ``AddMarket`` carries the market's decimal units (``market``, from
``marketdata.units.market_units_to_wire``) instead of the core's integer rules, and
``Deposit`` / ``Withdraw`` carry the asset's ``decimals`` so that the engine worker can
render the balance. ``Dump`` (reconcile's unlogged state dump) has no core command.
"""

from __future__ import annotations

import json
from typing import Any

Wire = dict[str, Any]


def place_order(
    *,
    user_id: int,
    symbol: str,
    side: str,
    type: str,  # noqa: A002 - the command's field name
    time_in_force: str,
    price: int,
    quantity: int,
    post_only: bool,
    client_order_id: str | None,
    stop_price: int = 0,
) -> Wire:
    """A stop order (type stop_limit / stop_market) has a ``stop_price``; others 0."""
    return {
        "kind": "PlaceOrder",
        "user_id": user_id,
        "symbol": symbol,
        "side": side,
        "type": type,
        "time_in_force": time_in_force,
        "price": price,
        "quantity": quantity,
        "post_only": post_only,
        "client_order_id": client_order_id,
        "stop_price": stop_price,
    }


def place_order_list(
    *,
    user_id: int,
    symbol: str,
    side: str,
    quantity: int,
    price: int,
    stop_price: int,
    stop_limit_price: int | None,
) -> Wire:
    """An OCO list: a post-only limit order at ``price`` and a stop order at ``stop_price``
    (a stop-limit at ``stop_limit_price``, a stop-market if None)."""
    return {
        "kind": "PlaceOrderList",
        "user_id": user_id,
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "price": price,
        "stop_price": stop_price,
        "stop_limit_price": stop_limit_price,
    }


def amend_order(*, user_id: int, order_id: int, quantity: int | None, price: int | None) -> Wire:
    """A new total quantity and/or limit price (None: unchanged)."""
    return {
        "kind": "AmendOrder",
        "user_id": user_id,
        "order_id": order_id,
        "quantity": quantity,
        "price": price,
    }


def cancel_order(*, user_id: int, order_id: int) -> Wire:
    return {"kind": "CancelOrder", "user_id": user_id, "order_id": order_id}


def cancel_all(*, user_id: int, symbol: str | None) -> Wire:
    return {"kind": "CancelAll", "user_id": user_id, "symbol": symbol}


def deposit(*, user_id: int, asset: str, amount: int, decimals: int) -> Wire:
    return {
        "kind": "Deposit",
        "user_id": user_id,
        "asset": asset,
        "amount": amount,
        "decimals": decimals,
    }


def withdraw(*, user_id: int, asset: str, amount: int, decimals: int) -> Wire:
    return {
        "kind": "Withdraw",
        "user_id": user_id,
        "asset": asset,
        "amount": amount,
        "decimals": decimals,
    }


def add_market(*, market: dict[str, Any]) -> Wire:
    return {"kind": "AddMarket", "market": market}


def set_market_status(*, symbol: str, status: str) -> Wire:
    return {"kind": "SetMarketStatus", "symbol": symbol, "status": status}


def configure(*, max_open_orders: int, client_order_id_retention: int) -> Wire:
    return {
        "kind": "Configure",
        "max_open_orders": max_open_orders,
        "client_order_id_retention": client_order_id_retention,
    }


def set_order_limit(*, user_id: int, max_open_orders: int | None) -> Wire:
    return {"kind": "SetOrderLimit", "user_id": user_id, "max_open_orders": max_open_orders}


def dump() -> Wire:
    return {"kind": "Dump"}


def stamped(command: Wire, *, request_id: str, ts: int) -> Wire:
    """The command with its ``request_id`` and ``ts``, as the engine receives it."""
    return {**command, "request_id": request_id, "ts": ts}


#: The RQ job function the gateway enqueues and the engine worker runs (engine_worker/jobs.py)
JOB_FUNCTION = "engine_worker.jobs.apply_batch"


def job_data(commands: list[Wire], reply_to: str | None, shard: int) -> str:
    """A job's data, ``JOB_FUNCTION(commands, reply_to, shard)``, as RQ's JSONSerializer
    writes it (json.dumps of [function, instance, args, kwargs]): what the gateway stores
    (engine_client/gateway.py enqueue_job), and where the engine worker finds the
    commands' text (engine_worker/worker.py decode_job_text)."""
    return json.dumps([JOB_FUNCTION, None, [commands, reply_to, shard], {}])
