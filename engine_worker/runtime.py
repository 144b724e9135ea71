"""The engine worker's state and its one operation: apply a batch of commands.

``EngineRuntime`` owns the pure :class:`~engine_worker.core.engine.Engine` and turns what
it returns into one Redis MULTI/EXEC per batch (DESIGN.md 2.2): the commands appended to
the shard's stream, the replies published to their gateway, market and user events
published, and the read model (balances, orders, fills, depth) updated. Because all of it
is one transaction, a caller that has seen its reply reads its own writes.

Recovery: the stream is the shard's command log. The core is deterministic, so replaying
the logged commands in order rebuilds exactly the books, balances and sequence numbers
the worker had before it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import redis

from engine_worker import keys, wire
from engine_worker.core import commands as c
from engine_worker.core import events as e
from engine_worker.core.engine import Engine
from engine_worker.core.types import OrderStatus, RejectReason
from marketdata.units import MarketUnits

logger = logging.getLogger(__name__)

DEPTH_LEVELS = 100  # levels kept in the read model's depth snapshot
RECENT_ITEMS = 1000  # closed orders and fills kept per user in the read model
CLOSED_ORDER_TTL = 7 * 24 * 3600
OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})

REASON_MESSAGES = {
    RejectReason.INSUFFICIENT_BALANCE: "Insufficient balance for this order.",
    RejectReason.POST_ONLY_WOULD_TAKE: "A post-only order would have taken liquidity.",
    RejectReason.MARKET_HALTED: "The market is halted.",
    RejectReason.MARKET_CANCEL_ONLY: "The market accepts cancels only.",
    RejectReason.FOK_NOT_FILLED: "The fill-or-kill order could not be filled completely.",
    RejectReason.MIN_NOTIONAL: "The order's value is below the market's minimum notional.",
    RejectReason.MIN_QUANTITY: "The quantity is below the market's minimum.",
    RejectReason.MAX_QUANTITY: "The quantity is above the market's maximum.",
    RejectReason.INVALID_PRICE: "The price must be positive.",
    RejectReason.INVALID_QUANTITY: "The quantity must be positive.",
    RejectReason.INVALID_AMOUNT: "The amount must be positive.",
    RejectReason.UNKNOWN_MARKET: "Unknown market.",
    RejectReason.UNKNOWN_ORDER: "No such open order.",
    RejectReason.ORDER_NOT_OPEN: "The order is no longer open.",
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: "An open order already has this client_order_id.",
    RejectReason.MARKET_EXISTS: "The market already exists.",
    RejectReason.MALFORMED_COMMAND: "Malformed command.",
}


def rejection(request_id: str, reason: RejectReason | str, message: str | None = None) -> dict:
    code = RejectReason(reason) if reason in RejectReason._value2member_map_ else reason
    return {
        "request_id": request_id,
        "ok": False,
        "code": str(code),
        "message": message or REASON_MESSAGES.get(code, str(code)),  # type: ignore[call-overload]
    }


class _Batch:
    """What one batch changed, collected while its commands are applied."""

    def __init__(self) -> None:
        self.logged: list[dict[str, Any]] = []  # wire commands the engine applied
        self.replies: list[dict[str, Any]] = []
        self.orders: dict[int, e.OrderAccepted | e.OrderUpdated] = {}
        self.new_client_ids: list[tuple[int, str, int]] = []
        self.balances: dict[tuple[int, str], e.BalanceChanged] = {}
        self.fills: list[tuple[int, dict[str, Any]]] = []  # (user_id, fill)
        self.trades: dict[str, list[dict[str, Any]]] = {}
        self.depth: dict[str, dict[str, Any]] = {}  # symbol -> coalesced update
        self.user_events: dict[int, list[dict[str, Any]]] = {}


class EngineRuntime:
    def __init__(self, shard: int, *, fee_account: int, connection: redis.Redis) -> None:
        self.shard = shard
        self.redis = connection
        self.engine = Engine(fee_account=fee_account)
        self.units: dict[str, MarketUnits] = {}
        self.asset_decimals: dict[str, int] = {}
        self.stream = keys.events_stream(shard)

    # -- start-up ----------------------------------------------------------------------

    def recover(self, *, progress_every: int = 100_000) -> int:
        """Replay the shard's command log; returns how many commands were applied."""
        started = time.monotonic()
        applied = 0
        last_id = "-"
        while True:
            entries = self.redis.xrange(self.stream, min=last_id, count=1000)
            if last_id != "-":
                entries = [x for x in entries if x[0] != last_id]
            if not entries:
                break
            for entry_id, fields in entries:
                for command_wire in json.loads(fields[b"commands"]):
                    self.engine.apply(self._decode(command_wire))
                    applied += 1
                    if applied % progress_every == 0:
                        logger.info("recovery: %d commands replayed", applied)
                last_id = entry_id
        logger.info(
            "recovery: replayed %d commands in %.2fs; next sequence %d",
            applied,
            time.monotonic() - started,
            self.engine.next_seq,
        )
        return applied

    def sync_markets(self, markets: Iterable[MarketUnits]) -> None:
        """Bring the engine's markets in line with the catalogue (the database): add the
        missing ones and align statuses, through logged commands like any other."""
        batch: list[dict[str, Any]] = []
        for units in markets:
            rules = self.engine.markets.get(units.symbol)
            request_id = f"startup-{self.shard}-{units.symbol}-{time.time_ns()}"
            if rules is None:
                batch.append(
                    {
                        "kind": "AddMarket",
                        "request_id": request_id,
                        "ts": time.time_ns() // 1_000_000,
                        "market": wire.market_units_to_wire(units),
                    }
                )
            elif rules.status != units.status:
                batch.append(
                    {
                        "kind": "SetMarketStatus",
                        "request_id": request_id,
                        "ts": time.time_ns() // 1_000_000,
                        "symbol": units.symbol,
                        "status": units.status,
                    }
                )
        if batch:
            self.apply_batch(batch, reply_to=None)
        self.write_depth(self.engine.markets)

    # -- the job -----------------------------------------------------------------------

    def apply_batch(self, commands: list[Any], reply_to: str | None) -> list[dict[str, Any]]:
        batch = _Batch()
        if not isinstance(commands, list):
            commands = []
        first_seq = self.engine.next_seq
        for command in commands:
            batch.replies.append(self._apply_one(command, batch))
        last_seq = self.engine.next_seq - 1
        self._commit(batch, reply_to, first_seq, last_seq)
        logger.info(
            "batch seq %d..%d: %d commands, %d trades",
            first_seq,
            last_seq,
            len(commands),
            sum(len(t) for t in batch.trades.values()),
        )
        return batch.replies

    def _decode(self, command_wire: Any) -> c.Command:
        """The core's command, learning the decimal units that travel with it."""
        command, units = wire.command_from_wire(command_wire)
        if units is not None:
            self.units.setdefault(units.symbol, units)
            self.asset_decimals.setdefault(units.base, units.base_decimals)
            self.asset_decimals.setdefault(units.quote, units.quote_decimals)
        decimals = command_wire.get("decimals")
        if isinstance(command, c.Deposit | c.Withdraw) and isinstance(decimals, int):
            self.asset_decimals.setdefault(command.asset, decimals)
        return command

    def _apply_one(self, command_wire: Any, batch: _Batch) -> dict[str, Any]:
        try:
            command = self._decode(command_wire)
        except wire.MalformedCommand as exc:
            request_id = command_wire.get("request_id") if isinstance(command_wire, dict) else None
            logger.warning("request %s: malformed command: %s", request_id, exc)
            return rejection(str(request_id), RejectReason.MALFORMED_COMMAND, str(exc))
        events = self.engine.apply(command)
        batch.logged.append(command_wire)
        return self._collect(command, events, batch)

    def _collect(self, command: c.Command, events: list[Any], batch: _Batch) -> dict[str, Any]:
        """Fold one command's events into the batch and build its reply."""
        reply: dict[str, Any] = {
            "request_id": command.request_id,
            "ok": True,
            "sequence": self.engine.next_seq - 1,
        }
        fills: list[dict[str, Any]] = []
        touched_orders: list[int] = []
        for event in events:
            kind = type(event)
            if kind is e.OrderAccepted or kind is e.OrderUpdated:
                batch.orders[event.order_id] = event
                touched_orders.append(event.order_id)
                if kind is e.OrderAccepted and event.client_order_id:
                    batch.new_client_ids.append(
                        (event.user_id, event.client_order_id, event.order_id)
                    )
            elif kind is e.Trade:
                units = self.units[event.symbol]
                maker = wire.fill_json(event, units, maker=True)
                taker = wire.fill_json(event, units, maker=False)
                batch.fills.append((event.maker_user_id, maker))
                batch.fills.append((event.taker_user_id, taker))
                batch.user_events.setdefault(event.maker_user_id, []).append(
                    {"event": "fill", **maker}
                )
                batch.user_events.setdefault(event.taker_user_id, []).append(
                    {"event": "fill", **taker}
                )
                batch.trades.setdefault(event.symbol, []).append(
                    wire.public_trade_json(event, units)
                )
                if isinstance(command, c.PlaceOrder):
                    fills.append(taker)
            elif kind is e.BalanceChanged:
                batch.balances[(event.user_id, event.asset)] = event
                batch.user_events.setdefault(event.user_id, []).append(
                    {"event": "balance", **self._balance_json(event)}
                )
            elif kind is e.DepthChanged:
                self._fold_depth(batch, event)
            elif kind is e.OrderRejected or kind is e.CommandRejected:
                return {**rejection(command.request_id, event.reason), "sequence": event.seq}
            elif kind is e.MarketChanged:
                reply["market"] = {"symbol": event.rules.symbol, "status": event.rules.status.value}
        for order_id in dict.fromkeys(touched_orders):
            order = batch.orders[order_id]
            batch.user_events.setdefault(order.user_id, []).append(
                {"event": "order", **self._order_json(order)}
            )
        if isinstance(command, c.PlaceOrder):
            reply["order"] = self._order_json(batch.orders[touched_orders[0]])
            reply["fills"] = fills
        elif isinstance(command, c.CancelOrder):
            reply["order"] = self._order_json(batch.orders[command.order_id])
        elif isinstance(command, c.CancelAll):
            reply["orders"] = [self._order_json(batch.orders[i]) for i in touched_orders]
        elif isinstance(command, c.Deposit | c.Withdraw):
            available, locked = self.engine.balance(command.user_id, command.asset)
            reply["balance"] = wire.balance_json(
                command.asset, available, locked, self.asset_decimals.get(command.asset, 8)
            )
        return reply

    def _order_json(self, order: e.OrderAccepted | e.OrderUpdated) -> dict[str, Any]:
        return wire.order_json(order, self.units[order.symbol])

    def _balance_json(self, event: e.BalanceChanged) -> dict[str, str]:
        decimals = self.asset_decimals.get(event.asset, 8)
        return wire.balance_json(event.asset, event.available, event.locked, decimals)

    def _fold_depth(self, batch: _Batch, event: e.DepthChanged) -> None:
        update = batch.depth.get(event.symbol)
        if update is None:
            update = batch.depth[event.symbol] = {
                "symbol": event.symbol,
                "first_sequence": event.depth_seq,
                "sequence": event.depth_seq,
                "bids": {},
                "asks": {},
            }
        update["sequence"] = event.depth_seq
        side = "bids" if event.side == "buy" else "asks"
        update[side][event.price] = event.quantity

    # -- one MULTI/EXEC per batch ------------------------------------------------------

    def _commit(self, batch: _Batch, reply_to: str | None, first: int, last: int) -> None:
        pipe = self.redis.pipeline(transaction=True)
        if batch.logged:
            pipe.xadd(
                self.stream,
                {"first_seq": first, "last_seq": last, "commands": json.dumps(batch.logged)},
            )
        if reply_to:
            pipe.publish(
                reply_to, json.dumps({"shard": self.shard, "replies": batch.replies})
            )
        for order_id, order in batch.orders.items():
            body = json.dumps(self._order_json(order))
            if order.status in OPEN_STATUSES:
                pipe.set(keys.rm_order(order_id), body)
                pipe.zadd(keys.rm_open_orders(order.user_id), {str(order_id): order_id})
            else:
                pipe.set(keys.rm_order(order_id), body, ex=CLOSED_ORDER_TTL)
                pipe.zrem(keys.rm_open_orders(order.user_id), str(order_id))
                pipe.lpush(keys.rm_closed_orders(order.user_id), order_id)
                pipe.ltrim(keys.rm_closed_orders(order.user_id), 0, RECENT_ITEMS - 1)
        for user_id, client_order_id, order_id in batch.new_client_ids:
            pipe.hset(keys.rm_client_order_ids(user_id), client_order_id, order_id)
        for (user_id, asset), balance in batch.balances.items():
            pipe.hset(keys.rm_balances(user_id), asset, json.dumps(self._balance_json(balance)))
        for user_id, fill in batch.fills:
            pipe.lpush(keys.rm_fills(user_id), json.dumps(fill))
        for user_id in {u for u, _ in batch.fills}:
            pipe.ltrim(keys.rm_fills(user_id), 0, RECENT_ITEMS - 1)
        for symbol, trades in batch.trades.items():
            pipe.lpush(keys.rm_trades(symbol), *(json.dumps(t) for t in trades))
            pipe.ltrim(keys.rm_trades(symbol), 0, RECENT_ITEMS - 1)
            pipe.publish(keys.md_channel("trades", symbol), json.dumps(trades))
        for symbol, update in batch.depth.items():
            units = self.units[symbol]
            update["bids"] = [
                [units.ticks_to_price(p), units.lots_to_quantity(q)]
                for p, q in update["bids"].items()
            ]
            update["asks"] = [
                [units.ticks_to_price(p), units.lots_to_quantity(q)]
                for p, q in update["asks"].items()
            ]
            pipe.publish(keys.md_channel("depth", symbol), json.dumps(update))
        self._queue_depth(pipe, batch.depth)
        for user_id, events in batch.user_events.items():
            pipe.publish(keys.user_channel(user_id), json.dumps(events))
        pipe.execute()

    def _queue_depth(self, pipe: Any, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            bids, asks, depth_seq = self.engine.depth_snapshot(symbol, DEPTH_LEVELS)
            body = {"symbol": symbol, "sequence": depth_seq}
            body.update(wire.depth_json(self.units[symbol], bids, asks))
            pipe.set(keys.rm_depth(symbol), json.dumps(body))

    def write_depth(self, symbols: Iterable[str]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self._queue_depth(pipe, list(symbols))
        pipe.execute()
