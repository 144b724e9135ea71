"""The public wire shapes (docs/api.md, docs/websocket.md), each built by one constructor.

Every producer of a shape calls its constructor: the engine worker, rendering what a
command changed into the read model and the replies (engine_worker/wire.py), the
selectors, reading history from PostgreSQL (orders/selectors.py, marketdata/selectors.py),
and the WebSocket bridge (realtime/bridge.py). Amounts come in formatted as the contract
writes them (decimal strings, marketdata/units.py), times as epoch milliseconds; the
constructor adds the ISO text of each time, so the two always agree. Producers name
every argument, so mypy checks their field names and types. The one exception is the
engine worker's renderer (engine_worker/wire.py), on the hot path: it passes the order,
fill, public trade and balance fields in order (binding 19 keywords cost as much as
building the body), and engine_worker/tests/test_wire_shapes.py checks on random events
that each of its bodies equals the keyword call's. It encodes the bodies with orjson
(``wire.dumps``), each once where it is stored or published alone.

The module lives in marketdata, the lowest package every producer may import
(docs/architecture.md, "Layout").
"""

from __future__ import annotations

from typing import Any

from marketdata.units import iso


def fill_id(trade_id: int, *, maker: bool) -> int:
    """A fill's id: each trade has two fills, the maker's (even) and the taker's (odd)."""
    return trade_id * 2 if maker else trade_id * 2 + 1


def order_body(
    id: int,  # noqa: A002 - the contract's field name
    client_order_id: str | None,
    user_id: int,
    symbol: str,
    side: str,
    type: str,  # noqa: A002 - the contract's field name
    time_in_force: str,
    post_only: bool,
    price: str | None,
    stop_price: str | None,
    quantity: str,
    filled_quantity: str,
    filled_quote_quantity: str,
    average_price: str | None,
    status: str,
    order_list_id: int | None,
    created_at_ms: int,
    updated_at_ms: int,
    sequence: int,
) -> dict[str, Any]:
    """An order as GET /orders/{id} shows it (and the user channel, and replies).
    ``stop_price``: a stop order's trigger; ``order_list_id``: its OCO list."""
    created_at = iso(created_at_ms)
    return {
        "id": id,
        "client_order_id": client_order_id,
        "user_id": user_id,
        "symbol": symbol,
        "side": side,
        "type": type,
        "time_in_force": time_in_force,
        "post_only": post_only,
        "price": price,
        "stop_price": stop_price,
        "quantity": quantity,
        "filled_quantity": filled_quantity,
        "filled_quote_quantity": filled_quote_quantity,
        "average_price": average_price,
        "status": status,
        "order_list_id": order_list_id,
        "created_at": created_at,
        "updated_at": created_at if updated_at_ms == created_at_ms else iso(updated_at_ms),
        "created_at_ms": created_at_ms,
        "updated_at_ms": updated_at_ms,
        "sequence": sequence,
    }


def fill_body(
    trade_id: int,
    maker: bool,
    order_id: int,
    user_id: int,
    symbol: str,
    side: str,
    price: str,
    quantity: str,
    quote_quantity: str,
    fee: str,
    fee_asset: str,
    time_ms: int,
) -> dict[str, Any]:
    """One user's side of a trade, as GET /trades lists it."""
    return {
        "id": fill_id(trade_id, maker=maker),
        "trade_id": trade_id,
        "order_id": order_id,
        "user_id": user_id,
        "symbol": symbol,
        "side": side,
        "role": "maker" if maker else "taker",
        "price": price,
        "quantity": quantity,
        "quote_quantity": quote_quantity,
        "fee": fee,
        "fee_asset": fee_asset,
        "time": iso(time_ms),
        "time_ms": time_ms,
    }


def public_trade_body(
    id: int,  # noqa: A002 - the contract's field name
    symbol: str,
    price: str,
    quantity: str,
    taker_side: str,
    time_ms: int,
    sequence: int,
) -> dict[str, Any]:
    """A trade as the ``trades`` channel carries it (and the read model keeps it)."""
    return {
        "id": id,
        "symbol": symbol,
        "price": price,
        "quantity": quantity,
        "taker_side": taker_side,
        "time": iso(time_ms),
        "time_ms": time_ms,
        "sequence": sequence,
    }


def market_trade_body(
    *,
    id: int,  # noqa: A002 - the contract's field name
    price: str,
    quantity: str,
    quote_quantity: str,
    taker_side: str,
    time_ms: int,
) -> dict[str, Any]:
    """A trade as GET /markets/{symbol}/trades lists it (from the price feed)."""
    return {
        "id": id,
        "price": price,
        "quantity": quantity,
        "quote_quantity": quote_quantity,
        "taker_side": taker_side,
        "time": iso(time_ms),
        "time_ms": time_ms,
    }


def balance_body(asset: str, available: str, locked: str) -> dict[str, Any]:
    """One asset's balance, as GET /balances lists it."""
    return {"asset": asset, "available": available, "locked": locked}


def kline_body(
    *,
    open_time_ms: int,
    open: str,  # noqa: A002 - the contract's field name
    high: str,
    low: str,
    close: str,
    volume: str,
    quote_volume: str,
    trades: int,
) -> dict[str, Any]:
    """A candle, as GET /markets/{symbol}/klines and the ``klines`` channel carry it."""
    return {
        "open_time": iso(open_time_ms),
        "open_time_ms": open_time_ms,
        "open": open,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "quote_volume": quote_volume,
        "trades": trades,
    }


def depth_sides(*, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    """A book's levels, best first, each ``[price, quantity]``: the ``depth`` channel's
    snapshots and updates carry this (their sequence is in the frame)."""
    return {"bids": bids, "asks": asks}


def depth_body(
    *, symbol: str, sequence: int, bids: list[list[str]], asks: list[list[str]]
) -> dict[str, Any]:
    """A book at one point, its ``sequence``, as GET /markets/{symbol}/depth shows it
    (and the read model keeps the top of it)."""
    return {"symbol": symbol, "sequence": sequence, "bids": bids, "asks": asks}
