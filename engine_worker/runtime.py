"""The engine worker's state and its one operation: apply a batch of commands.

``EngineRuntime`` owns the pure :class:`~engine_worker.core.engine.Engine` and turns what
it returns into one Redis MULTI/EXEC per batch (docs/architecture.md, "The path of an
order"): the commands appended to the shard's stream, the replies published to their
gateway, market and user events published, and the read model (balances, orders, fills,
depth) updated. Because all of it
is one transaction, a caller that has seen its reply reads its own writes.

Recovery: the stream is the shard's command log. The core is deterministic, so replaying
the logged commands in order rebuilds exactly the books, balances and sequence numbers
the worker had before it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import redis
from redis.connection import Connection

from engine_client import commands
from engine_worker import wire
from engine_worker.core import commands as c
from engine_worker.core import events as e
from engine_worker.core.engine import Engine
from engine_worker.core.types import OPEN_STATUSES, RejectReason
from engine_worker.metrics import EngineMetrics
from engine_worker.recovery import engine_restore, limits_to_state
from infra import deepbook, keys
from marketdata.shapes import depth_body
from marketdata.units import (
    DEFAULT_DECIMALS,
    MarketUnits,
    format_scaled,
    market_units_to_wire,
    max_units,
)
from persistence.snapshot import Limits, Snapshot

logger = logging.getLogger(__name__)

DEPTH_LEVELS = deepbook.TOP_LEVELS  # levels kept in the read model's depth snapshot
RECENT_ITEMS = 1000  # closed orders and fills kept per user in the read model
CLOSED_ORDER_TTL = 7 * 24 * 3600
RECENT_REQUESTS = 200_000  # request ids remembered to refuse resends
RECENT_ENTRIES = 10_000  # command-log entries whose request ids are reloaded at start-up
REPLAY_CHUNK = 2_000
DUMP_TTL = 3600  # seconds a state dump (the "Dump" command, for reconcile) is kept
READ_MODEL_CHUNK = 1000  # commands per pipeline when the read model is rebuilt
# an order event's fields but its seq: what a resting order of the core also has
ORDER_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(e.OrderUpdated) if f.name != "seq")

AMEND_QUANTITY_MESSAGE = "The new quantity must be above what has already filled."
REASON_MESSAGES = {
    RejectReason.INSUFFICIENT_BALANCE: "Insufficient balance for this order.",
    RejectReason.POST_ONLY_WOULD_TAKE: "A post-only order would have taken liquidity.",
    RejectReason.MARKET_HALTED: "The market is halted.",
    RejectReason.MARKET_CANCEL_ONLY: "The market accepts cancels only.",
    RejectReason.FOK_NOT_FILLED: "The fill-or-kill order could not be filled completely.",
    RejectReason.MIN_NOTIONAL: "The order's value is below the market's minimum notional.",
    RejectReason.MIN_QUANTITY: "The quantity is below the market's minimum.",
    RejectReason.MAX_QUANTITY: "The quantity is above the market's maximum.",
    RejectReason.MAX_PRICE: "The price is above the market's maximum.",
    RejectReason.INVALID_PRICE: "The price must be positive.",
    RejectReason.INVALID_QUANTITY: "The quantity must be positive.",
    RejectReason.INVALID_AMOUNT: "The amount must be positive.",
    RejectReason.UNKNOWN_MARKET: "Unknown market.",
    RejectReason.UNKNOWN_ORDER: "No such open order.",
    RejectReason.ORDER_NOT_OPEN: "The order is no longer open.",
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (
        "This client_order_id was used by an order still open or placed within the "
        "retention window; details.order_id is that order."
    ),
    RejectReason.TOO_MANY_OPEN_ORDERS: (
        "You have as many open orders in this market as allowed; cancel some first."
    ),
    RejectReason.INVALID_LIMIT: "A limit must be a positive number.",
    RejectReason.MARKET_EXISTS: "The market already exists.",
    RejectReason.INVALID_STOP_PRICE: (
        "The stop price must be positive; in an OCO list, below the limit price for a "
        "sell and above it for a buy."
    ),
    RejectReason.STOP_WOULD_TRIGGER: (
        "The stop price is already reached by the market's last trade price: the stop "
        "would trigger at once."
    ),
    RejectReason.ORDER_IN_LIST: (
        "The order is part of an OCO list still linked: cancel the list and place it again."
    ),
    RejectReason.MALFORMED_COMMAND: "Malformed command.",
    "duplicate_request": "This request_id was applied already; look the order up instead.",
    "balance_limit": "The deposit would take the asset's balances past what the database "
    "can store.",
}


def rejection(request_id: str, reason: RejectReason | str, message: str | None = None) -> dict:
    code = RejectReason(reason) if reason in RejectReason._value2member_map_ else reason
    return {
        "request_id": request_id,
        "ok": False,
        "code": str(code),
        "message": message or REASON_MESSAGES.get(code, str(code)),
    }


class Pending:
    """A batch applied in memory, with its commit's words (EngineRuntime.prepare), then
    sent (``connection``, the one its answer comes on) until it is confirmed."""

    __slots__ = ("applied", "batch", "commands", "connection", "first", "jobs", "last",
                 "sent", "started", "words")  # fmt: skip

    def __init__(
        self,
        batch: _Batch,
        first: int,
        last: int,
        words: list[Word],
        commands: list[Any],
        jobs: int,
        started: float,
        applied: float,
    ) -> None:
        self.batch, self.first, self.last, self.words = batch, first, last, words
        self.commands, self.jobs, self.started, self.applied = commands, jobs, started, applied
        self.sent = applied
        self.connection: Connection | None = None


class FailStop(BaseException):
    """The engine applied commands of a batch that was not committed: its memory is ahead
    of the command log. The worker must stop before anything is replied, so that its next
    start rebuilds the memory from the log (without the batch; its clients time out). A
    BaseException, so that no ``except Exception`` on the way carries on regardless."""


class _Batch:
    """What one batch changed, collected while its commands are applied. Every order,
    fill and balance is rendered once, here: its body (for the replies and the records,
    encoded with them at the commit) and, where it is stored or published alone, its
    JSON text (for the read model and the user's channel)."""

    def __init__(self) -> None:
        self.logged: list[dict[str, Any]] = []  # wire commands the engine applied
        self.replies: list[dict[str, Any]] = []
        self.orders: dict[int, tuple[int, bool, bytes]] = {}  # id: user, open, text
        self.new_client_ids: list[tuple[int, str, int]] = []
        self.balances: dict[tuple[int, str], bytes] = {}  # (user, asset): text
        self.fills: dict[int, list[bytes]] = {}  # user -> fills' texts, oldest first
        self.trades: dict[str, list[bytes]] = {}  # symbol -> public trades' texts
        self.depth: dict[str, dict[str, Any]] = {}  # symbol -> coalesced update
        # user -> that user's events, each {"event": kind, ...body} as JSON text
        self.user_events: dict[int, list[bytes]] = {}
        self.records: list[dict[str, Any]] = []  # per applied command, for the DB processor
        self.catalogue_changed = False  # a market or an asset was added or changed
        self.limits_changed = False  # Configure or SetOrderLimit applied
        self.jobs: list[tuple[str | None, int, int]] = []  # reply_to, its replies' slice


# {"event": kind, ...body}: a user event's text, spliced from the body's (a JSON object)
EVENT_PREFIX = {kind: wire.event_prefix(kind) for kind in ("order", "fill", "balance", "triggered")}


# Applies a batch's read-model writes and publications inside Redis: one round trip and
# one atomic step, however many keys the batch touched. ARGV is a flat run of commands,
# each preceded by its number of words: 3 SET k v 2 DEL k ... Lua's unpack() fails past
# about 8,000 values (its C stack), so no command may be longer than MAX_OP_WORDS:
# op_words() splits the multi-value ones.
APPLY_OPS = """
local i = 1
local n = #ARGV
while i <= n do
  local count = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
return n
"""
MAX_VALUES_PER_OP = 1000  # values (members, elements, field-value pairs) per command
# command -> (words before the values: the command and its key if any, words per value):
# the commands a batch issues with any number of values
MULTI_VALUE_OPS = {"ZADD": (2, 2), "ZREM": (2, 1), "LPUSH": (2, 1), "HSET": (2, 2), "MSET": (1, 2)}
MAX_OP_WORDS = 2 + 2 * MAX_VALUES_PER_OP  # command, key, values

Word = str | bytes


def op_words(args: tuple[Word, ...] | list[Word]) -> list[Word]:
    """One command as APPLY_OPS' words (its length, then the command), split into several
    commands of at most MAX_VALUES_PER_OP values each if it is longer. Splitting keeps the
    effect: each of these commands adds or removes its values one by one, in order (LPUSH
    of a, b then of c leaves c, b, a on top, as one LPUSH of a, b, c does). A longer
    command of any other kind is a bug, refused before anything is applied."""
    if len(args) <= MAX_OP_WORDS:
        return [str(len(args)), *args]
    shape = MULTI_VALUE_OPS.get(str(args[0]))
    if shape is None:
        raise ValueError(f"{args[0]!r} with {len(args)} words cannot be split")
    before, step = shape
    head, values = list(args[:before]), args[before:]
    chunk = step * MAX_VALUES_PER_OP
    words: list[Word] = []
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        words.append(str(len(part) + before))
        words.extend(head)
        words.extend(part)
    return words


class EngineRuntime:
    def __init__(self, shard: int, *, fee_account: int, connection: redis.Redis) -> None:
        self.shard = shard
        self.redis = connection
        self.engine = Engine(fee_account=fee_account)
        self.units: dict[str, MarketUnits] = {}
        self.asset_decimals: dict[str, int] = {}
        self.stream = keys.events_stream(shard)
        self.commands = keys.commands_stream(shard)
        self._apply_ops = connection.register_script(APPLY_OPS)
        # request ids of recently applied commands: a resend is refused, never applied twice
        self.recent_requests: OrderedDict[str, None] = OrderedDict()
        # per market, the whole book's members in Redis (ticks -> member), bids and asks
        self._book_mirrors: dict[str, tuple[dict[int, str], dict[int, str]]] = {}
        self.metrics = EngineMetrics(self)  # registered by run_engine (engine_worker/worker.py)

    # -- start-up ----------------------------------------------------------------------

    def recover(self, snapshot: Snapshot, *, progress_every: int = 100_000) -> int:
        """Restore the database snapshot, then replay the command log after it; returns
        how many commands were replayed. Also refills the recent request ids from the
        log, so a client's resend after a restart is still refused."""
        started = time.monotonic()
        if snapshot.state:
            self.units.update(engine_restore(self.engine, snapshot))
            self.asset_decimals.update(
                {a: int(d) for a, d in snapshot.state.get("assets", {}).items()}
            )
        applied = entries_read = 0
        start = f"{snapshot.last_seq + 1}-0"  # command entries are keyed by their last seq
        while True:
            entries = self.redis.xrange(self.commands, min=start, count=REPLAY_CHUNK)
            for entry_id, fields in entries:
                entries_read += 1
                for command_wire in json.loads(fields[b"commands"]):
                    self.engine.apply(self._decode(command_wire, logged=True))
                    applied += 1
                    if applied % progress_every == 0:
                        logger.info("recovery: %d commands replayed", applied)
                start = f"({entry_id.decode()}"
            if len(entries) < REPLAY_CHUNK:
                break
        # the request ids of the log's last entries, replayed or not, to refuse resends
        for _, fields in reversed(self.redis.xrevrange(self.commands, count=RECENT_ENTRIES)):
            self._remember(c.get("request_id") for c in json.loads(fields[b"commands"]))
        self.metrics.recovery_seconds.set(time.monotonic() - started)
        self.metrics.replayed.set(applied)
        logger.info(
            "recovery: %d open orders and %d balances from the database (sequence %d), "
            "%d commands replayed from %d log entries in %.2fs; next sequence %d",
            len(snapshot.orders),
            len(snapshot.balances),
            snapshot.last_seq,
            applied,
            entries_read,
            time.monotonic() - started,
            self.engine.next_seq,
            extra={"seq": self.engine.next_seq - 1},
        )
        return applied

    def _remember(self, request_ids: Iterable[str | None]) -> None:
        recent = self.recent_requests
        for request_id in request_ids:
            if request_id:
                recent[request_id] = None
        while len(recent) > RECENT_REQUESTS:
            recent.popitem(last=False)

    def sync_limits(self, limits: Limits) -> None:
        """Bring the engine's limits in line with the settings and the users' own limits in
        the database, through logged commands (Configure, SetOrderLimit)."""
        engine = self.engine
        ts = time.time_ns() // 1_000_000
        batch: list[dict[str, Any]] = []
        if (engine.max_open_orders, engine.coid_retention) != (
            limits.max_open_orders,
            limits.client_order_id_retention,
        ):
            batch.append(
                commands.configure(
                    max_open_orders=limits.max_open_orders,
                    client_order_id_retention=limits.client_order_id_retention,
                )
            )
        for user_id in sorted(engine.order_limits.keys() | limits.users.keys()):
            limit = limits.users.get(user_id)
            if engine.order_limits.get(user_id) != limit:
                batch.append(commands.set_order_limit(user_id=user_id, max_open_orders=limit))
        batch = [
            commands.stamped(
                command, request_id=f"startup-{self.shard}-limits-{time.time_ns()}-{i}", ts=ts
            )
            for i, command in enumerate(batch)
        ]
        if batch:
            self.apply_batch(batch, reply_to=None)
            logger.info("engine shard %d: %d limit changes at start-up", self.shard, len(batch))

    def sync_markets(self, markets: Iterable[MarketUnits]) -> None:
        """Bring the engine's markets in line with the catalogue (the database): add the
        missing ones and align statuses, through logged commands like any other."""
        batch: list[dict[str, Any]] = []
        for units in markets:
            rules = self.engine.markets.get(units.symbol)
            request_id = f"startup-{self.shard}-{units.symbol}-{time.time_ns()}"
            if rules is None:
                batch.append(
                    commands.stamped(
                        commands.add_market(market=market_units_to_wire(units)),
                        request_id=request_id,
                        ts=time.time_ns() // 1_000_000,
                    )
                )
            elif rules.status != units.status:
                batch.append(
                    commands.stamped(
                        commands.set_market_status(symbol=units.symbol, status=units.status),
                        request_id=request_id,
                        ts=time.time_ns() // 1_000_000,
                    )
                )
        if batch:
            self.apply_batch(batch, reply_to=None)
        self.write_depth(self.engine.markets)

    # -- the job -----------------------------------------------------------------------

    def apply_batch(self, commands: list[Any], reply_to: str | None) -> list[dict[str, Any]]:
        """One job's commands, committed together; its replies go to ``reply_to``."""
        return self.apply_jobs([(commands, reply_to)])

    def apply_jobs(
        self, jobs: list[tuple[list[Any], str | None]], *, ops: Iterable[tuple[str, ...]] = ()
    ) -> list[dict[str, Any]]:
        """Several jobs' commands, in order, as one batch: one atomic commit, and one reply
        message per job to that job's ``reply_to``. ``ops`` are more Redis commands for the
        same MULTI/EXEC (the worker's job bookkeeping, engine_worker/worker.py). Returns
        all the replies, in order, once the commit is done."""
        pending = self.prepare(jobs, ops=ops)
        self.send(pending)
        self.confirm(pending)
        return pending.batch.replies

    def prepare(
        self, jobs: list[tuple[list[Any], str | None]], *, ops: Iterable[tuple[str, ...]] = ()
    ) -> Pending:
        """Apply the jobs' commands in memory and build their commit, without sending it:
        :meth:`send` writes it, :meth:`confirm` waits for it. The worker applies the next
        batch between the two, while Redis runs this one's commit. An error once a command
        was applied is a FailStop (the memory is ahead of the log); before, it is raised
        as it is."""
        batch = _Batch()
        first_seq = self.engine.next_seq
        clock = time.perf_counter
        started = clock()
        try:
            replies = batch.replies
            for commands, reply_to in jobs:
                start = len(replies)
                for command in commands if isinstance(commands, list) else ():
                    replies.append(self._apply_one(command, batch))
                batch.jobs.append((reply_to, start, len(replies)))
            last_seq = self.engine.next_seq - 1
            words = self._commit_words(batch, first_seq, last_seq, ops)
            applied = clock()
        except Exception as exc:
            if self.engine.next_seq == first_seq:
                raise  # nothing applied: the memory is still what the log describes
            raise self._fail_stop(first_seq, exc) from exc
        commands = [c for cs, _ in jobs if isinstance(cs, list) for c in cs]
        return Pending(batch, first_seq, last_seq, words, commands, len(jobs), started, applied)

    def send(self, pending: Pending) -> None:
        """Write ``pending``'s commit to Redis without waiting for its answer."""
        try:
            pending.connection = connection = self.redis.connection_pool.get_connection()
            connection.send_packed_command(
                connection.pack_commands(
                    [("MULTI",), ("EVALSHA", self._apply_ops.sha, 0, *pending.words), ("EXEC",)]
                )
            )
            pending.sent = time.perf_counter()
        except Exception as exc:
            self._release(pending, broken=True)
            raise self._fail_stop(pending.first, exc) from exc

    def confirm(self, pending: Pending) -> None:
        """Wait for ``pending``'s commit. A Redis that lost its scripts (a restart) answers
        NOSCRIPT before running anything: load the script and send it again. Any other
        failure is a FailStop. Then the batch's metrics and log line: an error there, once
        the commit is done, is logged and the worker goes on."""
        try:
            for attempt in (1, 2):
                done = self._receive(pending)
                if not isinstance(done, redis.exceptions.NoScriptError) or attempt == 2:
                    break
                self._apply_ops.sha = self.redis.script_load(APPLY_OPS)
                self.send(pending)
            if isinstance(done, Exception):
                raise done
        except FailStop:
            raise
        except Exception as exc:
            raise self._fail_stop(pending.first, exc) from exc
        try:
            self._committed(pending)
        except Exception:
            logger.exception(
                "batch seq %d..%d: error after its commit",
                pending.first,
                pending.last,
                extra={"seq": pending.last},
            )

    def _receive(self, pending: Pending) -> Any:
        """The three replies to what :meth:`send` wrote, all read so that the connection
        stays in step even past an error; returns the script's (an error as a value)."""
        connection = pending.connection
        if connection is None:
            raise RuntimeError("confirm before send")
        replies: list[Any] = []
        try:
            for _ in range(3):
                try:
                    replies.append(connection.read_response())
                except redis.exceptions.ResponseError as exc:  # the connection is still fine
                    replies.append(exc)
        except BaseException:
            self._release(pending, broken=True)
            raise
        self._release(pending)
        for reply in replies:
            if isinstance(reply, Exception):
                return reply
        return replies[2][0]

    def _release(self, pending: Pending, *, broken: bool = False) -> None:
        connection, pending.connection = pending.connection, None
        if connection is not None:
            if broken:
                connection.disconnect()
            self.redis.connection_pool.release(connection)

    def _fail_stop(self, first_seq: int, exc: BaseException) -> FailStop:
        logger.critical(
            "batch from seq %d: %s: %s after the engine applied seq %d..%d; stopping "
            "before any reply, the next start recovers from the command log",
            first_seq,
            type(exc).__name__,
            exc,
            first_seq,
            self.engine.next_seq - 1,
            exc_info=exc,
            extra={"seq": self.engine.next_seq - 1},
        )
        return FailStop(f"batch from seq {first_seq} applied but not committed")

    def _committed(self, pending: Pending) -> None:
        batch, metrics = pending.batch, self.metrics
        metrics.commit_seconds.observe(time.perf_counter() - pending.sent)
        metrics.apply_seconds.observe(pending.applied - pending.started)
        metrics.batch_commands.observe(len(pending.commands))
        metrics.count(pending.commands, batch.replies)
        trades = sum(len(t) for t in batch.trades.values())
        if trades:
            metrics.trades.inc(trades)
        logger.info(
            "batch seq %d..%d: %d commands, %d trades%s",
            pending.first,
            pending.last,
            len(pending.commands),
            trades,
            f", {pending.jobs} jobs" if pending.jobs > 1 else "",
            extra={"seq": pending.last},
        )

    def _decode(self, command_wire: Any, *, logged: bool = False) -> c.Command:
        """The core's command, learning the decimal units that travel with it. A command
        from the engine's own log (``logged``) was checked when it first came in."""
        decode = wire.command_from_log if logged else wire.command_from_wire
        command, units = decode(command_wire)
        if units is not None:
            self.units.setdefault(units.symbol, units)
            self.asset_decimals.setdefault(units.base, units.base_decimals)
            self.asset_decimals.setdefault(units.quote, units.quote_decimals)
        decimals = command_wire.get("decimals")
        if isinstance(command, c.Deposit | c.Withdraw) and isinstance(decimals, int):
            self.asset_decimals.setdefault(command.asset, decimals)
        return command

    def _apply_one(self, command_wire: Any, batch: _Batch) -> dict[str, Any]:
        if isinstance(command_wire, dict) and command_wire.get("kind") == "Dump":
            return self.dump(str(command_wire.get("request_id")))  # a read: not logged
        try:
            known = len(self.asset_decimals)
            command = self._decode(command_wire)
        except wire.MalformedCommand as exc:
            request_id = command_wire.get("request_id") if isinstance(command_wire, dict) else None
            logger.warning(
                "request %s: malformed command: %s",
                request_id,
                exc,
                extra={"request_id": str(request_id)},
            )
            return rejection(str(request_id), RejectReason.MALFORMED_COMMAND, str(exc))
        if command.request_id in self.recent_requests:
            logger.warning(
                "request %s: already applied, refused",
                command.request_id,
                extra={"request_id": command.request_id},
            )
            return rejection(command.request_id, "duplicate_request")
        if isinstance(command, c.Deposit) and not self._storable_after(command):
            if len(self.asset_decimals) != known:  # learnt from a refused command: forget
                self.asset_decimals.pop(command.asset, None)
            logger.warning(
                "request %s: deposit past the storable total, refused",
                command.request_id,
                extra={"request_id": command.request_id},
            )
            return rejection(command.request_id, "balance_limit")
        if len(self.asset_decimals) != known:
            batch.catalogue_changed = True  # a new asset: its decimals go to the snapshot
        events = self.engine.apply(command)
        batch.logged.append(command_wire)
        recent = self.recent_requests
        recent[command.request_id] = None
        if len(recent) > RECENT_REQUESTS:
            recent.popitem(last=False)
        return self._collect(command, events, batch)

    def _storable_after(self, deposit: c.Deposit) -> bool:
        """Whether every balance of the asset stays storable after the deposit. Trades and
        fees only move funds between balances, so the asset's total (deposits minus
        withdrawals) bounds each of them: keeping it storable keeps all of them so."""
        decimals = self.asset_decimals.get(deposit.asset, DEFAULT_DECIMALS)
        total = self.engine.net_deposits.get(deposit.asset, 0) + deposit.amount
        return total <= max_units(decimals)

    def _collect(self, command: c.Command, events: list[Any], batch: _Batch) -> dict[str, Any]:
        """Fold one command's events into the batch and build its reply. The events come
        most frequent first: balances (about three a command), depth, orders, trades."""
        request_id = command.request_id
        sequence = self.engine.next_seq - 1
        reply: dict[str, Any] = {"request_id": request_id, "ok": True, "sequence": sequence}
        fills: list[dict[str, Any]] = []
        # this command's orders, their last event (rendered once, after the loop)
        order_events: dict[int, wire.OrderEvent] = {}
        # the command's own order, whose fills the reply carries (a placed or amended one;
        # the stops its trades trigger are others' orders)
        own = command.order_id if isinstance(command, c.AmendOrder) else None
        user_events = batch.user_events
        units_of = self.units
        record: dict[str, Any] = {  # what the DB processor persists (docs/event-stream.md)
            "seq": sequence,
            "kind": type(command).__name__,
            "ts": command.ts,
            "request_id": request_id,
        }
        batch.records.append(record)
        # the record's lists, each put in the record when its first item comes (the
        # record's keys keep the order of the events)
        record_balances: list[dict[str, Any]] | None = None
        record_trades: list[dict[str, Any]] | None = None
        prefix = EVENT_PREFIX
        asset_decimals = self.asset_decimals
        balances, depth = batch.balances, batch.depth
        balance_texts = wire.balance_texts
        for event in events:
            kind = type(event)
            if kind is e.BalanceChanged:
                user_id, asset = event.user_id, event.asset
                decimals = asset_decimals.get(asset, DEFAULT_DECIMALS)
                available = format_scaled(event.available, decimals)
                locked = format_scaled(event.locked, decimals)
                text, event_text = balance_texts(asset, available, locked)
                balances[(user_id, asset)] = text
                texts = user_events.get(user_id)
                if texts is None:
                    user_events[user_id] = [event_text]
                else:
                    texts.append(event_text)
                if record_balances is None:
                    record_balances = record["balances"] = []
                record_balances.append(
                    {"user_id": user_id, "asset": asset, "available": available, "locked": locked}
                )
            elif kind is e.DepthChanged:  # coalesced per book: its levels' last quantities
                symbol, depth_seq = event.symbol, event.depth_seq
                update = depth.get(symbol)
                if update is None:
                    update = depth[symbol] = {
                        "symbol": symbol,
                        "first_sequence": depth_seq,
                        "sequence": depth_seq,
                        "bids": {},
                        "asks": {},
                    }
                else:
                    update["sequence"] = depth_seq
                update["bids" if event.side == "buy" else "asks"][event.price] = event.quantity
            elif kind is e.OrderAccepted:
                order_id = event.order_id
                order_events[order_id] = event
                if own is None:
                    own = order_id
                if event.client_order_id:
                    batch.new_client_ids.append((event.user_id, event.client_order_id, order_id))
            elif kind is e.OrderUpdated:
                order_events[event.order_id] = event
            elif kind is e.Trade:
                (maker, maker_text), (taker, taker_text), (_, public_text), trade = (
                    wire.trade_bodies(event, units_of[event.symbol])
                )
                maker_user, taker_user = event.maker_user_id, event.taker_user_id
                fills_of = batch.fills
                fills_of.setdefault(maker_user, []).append(maker_text)
                fills_of.setdefault(taker_user, []).append(taker_text)
                fill_prefix = prefix["fill"]
                user_events.setdefault(maker_user, []).append(fill_prefix + maker_text[1:])
                user_events.setdefault(taker_user, []).append(fill_prefix + taker_text[1:])
                batch.trades.setdefault(event.symbol, []).append(public_text)
                if record_trades is None:
                    record_trades = record["trades"] = []
                record_trades.append(trade)
                if event.taker_order_id == own:
                    fills.append(taker)
                elif event.maker_order_id == own:
                    fills.append(maker)
            elif kind is e.OrderTriggered:
                order_events[event.order_id] = event
                _, text = wire.order_json_text(event, units_of[event.symbol])
                user_events.setdefault(event.user_id, []).append(prefix["triggered"] + text[1:])
            elif kind is e.Deposited or kind is e.Withdrawn:
                decimals = self.asset_decimals.get(event.asset, DEFAULT_DECIMALS)
                record.setdefault("transfers", []).append(
                    {
                        "user_id": event.user_id,
                        "asset": event.asset,
                        "kind": "deposit" if kind is e.Deposited else "withdrawal",
                        "amount": format_scaled(event.amount, decimals),
                    }
                )
            elif kind is e.OrderRejected or kind is e.CommandRejected:
                record["rejected"] = event.reason.value
                message = None
                if event.reason is RejectReason.INVALID_QUANTITY and type(command) is c.AmendOrder:
                    message = AMEND_QUANTITY_MESSAGE  # not above what has filled
                rejected = {
                    **rejection(command.request_id, event.reason, message),
                    "sequence": event.seq,
                }
                if kind is e.OrderRejected and event.order_id is not None:
                    rejected["order_id"] = event.order_id  # the order holding the client id
                return rejected
            elif kind is e.LimitsChanged:
                batch.limits_changed = True
            elif kind is e.MarketChanged:
                batch.catalogue_changed = True
                reply["market"] = {"symbol": event.rules.symbol, "status": event.rules.status.value}
        orders: dict[int, dict[str, Any]] = {}
        if order_events:
            priorities: dict[str, int] = {}
            engine = self.engine
            order_prefix = prefix["order"]
            order_json_text, batch_orders = wire.order_json_text, batch.orders
            for order_id, event in order_events.items():
                body, text = order_json_text(event, units_of[event.symbol])
                orders[order_id] = body
                user_id = event.user_id
                user_events.setdefault(user_id, []).append(order_prefix + text[1:])
                is_open = event.status in OPEN_STATUSES
                batch_orders[order_id] = (user_id, is_open, text)
                if is_open and (o := engine.get_order(order_id)) is not None:
                    # the queue place of each order the command left open, for recovery
                    # (engine state, not part of an order's public shape)
                    priorities[str(order_id)] = o.priority
            record["orders"] = list(orders.values())
            if priorities:
                record["priorities"] = priorities
        if isinstance(command, c.PlaceOrder):
            reply["order"] = next(iter(orders.values()))  # the new order's final state
            reply["fills"] = fills
        elif isinstance(command, c.CancelOrder):
            reply["order"] = orders[command.order_id]
        elif isinstance(command, c.AmendOrder):
            reply["order"] = orders[command.order_id]
            reply["fills"] = fills
        elif isinstance(command, c.PlaceOrderList):
            limit_order, stop_order = list(orders.values())[:2]
            reply["order_list"] = {"id": limit_order["id"], "orders": [limit_order, stop_order]}
        elif isinstance(command, c.CancelAll):
            reply["orders"] = list(orders.values())
        elif isinstance(command, c.Deposit | c.Withdraw):
            free, held = self.engine.balance(command.user_id, command.asset)
            reply["balance"] = wire.balance_json(
                command.asset,
                free,
                held,
                self.asset_decimals.get(command.asset, DEFAULT_DECIMALS),
            )
        return reply

    # -- a live state dump, for reconcile ----------------------------------------------

    def dump(self, request_id: str) -> dict[str, Any]:
        """Write the engine's balances and open orders, as they are after sequence S (the
        last command applied), to ``keys.dump(shard)`` and reply ``{ok, sequence: S,
        key}``. Not a core command: nothing changes, nothing is logged, no seq is used."""
        engine = self.engine
        sequence = engine.next_seq - 1
        decimals = self.asset_decimals
        balances = [
            [user_id, asset, *map(str, (available, locked)), decimals.get(asset, DEFAULT_DECIMALS)]
            for user_id, asset, available, locked in engine.iter_balances()
        ]
        orders = []
        for o in engine.iter_open_orders():
            units = self.units[o.symbol]
            linked = engine.linked(o.order_id)
            orders.append(
                {
                    "id": o.order_id,
                    "user_id": o.user_id,
                    "symbol": o.symbol,
                    "side": o.side.value,
                    "type": o.type.value,
                    "price": units.ticks_to_price(o.price) if o.price else None,
                    "stop_price": units.ticks_to_price(o.stop_price) if o.stop_price else None,
                    "quantity": units.lots_to_quantity(o.quantity),
                    "filled_quantity": units.lots_to_quantity(o.filled_quantity),
                    "status": o.status.value,
                    "order_list_id": o.order_list_id,
                    "linked": None if linked is None else linked.order_id,
                    "priority": o.priority,
                }
            )
        body = {
            "shard": self.shard,
            "sequence": sequence,
            "balances": balances,  # [user_id, asset, available units, locked units, decimals]
            "orders": orders,
            "net_deposits": {a: str(n) for a, n in engine.net_deposits.items()},
        }
        key = keys.dump(self.shard)
        self.redis.set(key, json.dumps(body), ex=DUMP_TTL)
        logger.info(
            "request %s: dumped %d balances and %d open orders at sequence %d to %s",
            request_id,
            len(balances),
            len(orders),
            sequence,
            key,
            extra={"request_id": request_id, "seq": sequence},
        )
        return {"request_id": request_id, "ok": True, "sequence": sequence, "key": key}

    # -- one atomic write per batch ---------------------------------------------------

    def _commit_words(
        self, batch: _Batch, first: int, last: int, ops: Iterable[tuple[str, ...]] = ()
    ) -> list[Word]:
        """Everything the batch did, and ``ops``, as APPLY_OPS' words: one script call in
        one MULTI/EXEC (:meth:`send`). Each order, fill and balance stored or published
        alone was encoded once, when it was rendered; the replies and the records are
        encoded here, each list in one call."""
        words: list[Word] = []
        dumps = wire.dumps

        def op(*args: Word) -> None:
            if len(args) <= MAX_OP_WORDS:
                words.append(str(len(args)))
                words.extend(args)
            else:
                words.extend(op_words(args))

        if batch.logged:
            # the command log, keyed by the batch's last sequence number (recovery starts
            # right after the snapshot's), then what the batch did, for the DB processor
            op("XADD", self.commands, f"{last}-0", "first_seq", str(first),
               "last_seq", str(last), "commands", dumps(batch.logged))  # fmt: skip
            op("XADD", self.stream, "*", "first_seq", str(first), "last_seq", str(last),
               "records", dumps(batch.records),
               "state", dumps(self._state(batch)))  # fmt: skip
        for reply_to, start, end in batch.jobs:  # each job's replies to its own gateway
            if reply_to:
                replies = batch.replies[start:end]
                op("PUBLISH", reply_to, dumps({"shard": self.shard, "replies": replies}))
        opened: dict[int, list[str]] = {}
        closed: dict[int, list[str]] = {}
        rm_order = keys.rm_order
        open_orders: list[Word] = []
        for order_id, (user_id, is_open, text) in batch.orders.items():
            if is_open:
                open_orders += (rm_order(order_id), text)
                opened.setdefault(user_id, []).extend((str(order_id), str(order_id)))
            else:
                op("SET", rm_order(order_id), text, "EX", str(CLOSED_ORDER_TTL))
                closed.setdefault(user_id, []).append(str(order_id))
        if open_orders:
            op("MSET", *open_orders)
        for user_id, pairs in opened.items():
            op("ZADD", keys.rm_open_orders(user_id), *pairs)
        for user_id, ids in closed.items():
            op("ZREM", keys.rm_open_orders(user_id), *ids)
            op("LPUSH", keys.rm_closed_orders(user_id), *ids)
            op("LTRIM", keys.rm_closed_orders(user_id), "0", str(RECENT_ITEMS - 1))
        for user_id, client_order_id, order_id in batch.new_client_ids:
            op("HSET", keys.rm_client_order_ids(user_id), client_order_id, str(order_id))
        by_user: dict[int, list[Word]] = {}
        for (user_id, asset), text in batch.balances.items():
            by_user.setdefault(user_id, []).extend((asset, text))
        for user_id, fields in by_user.items():
            op("HSET", keys.rm_balances(user_id), *fields)
        for user_id, fills in batch.fills.items():
            op("LPUSH", keys.rm_fills(user_id), *fills[-RECENT_ITEMS:])
            op("LTRIM", keys.rm_fills(user_id), "0", str(RECENT_ITEMS - 1))
        for symbol, trades in batch.trades.items():
            op("LPUSH", keys.rm_trades(symbol), *trades[-RECENT_ITEMS:])
            op("LTRIM", keys.rm_trades(symbol), "0", str(RECENT_ITEMS - 1))
            op("PUBLISH", keys.md_channel("trades", symbol), b"[" + b",".join(trades) + b"]")
        for symbol, update in batch.depth.items():
            self._book_ops(symbol, update, op)  # the whole book's changed levels
            units = self.units[symbol]
            price, qty = units.ticks_to_price, units.lots_to_quantity
            update["bids"] = [[price(p), qty(q)] for p, q in update["bids"].items()]
            update["asks"] = [[price(p), qty(q)] for p, q in update["asks"].items()]
            op("PUBLISH", keys.md_channel("depth", symbol), dumps(update))
            op("SET", keys.rm_depth(symbol), dumps(self._depth_body(symbol)))
        for user_id, events in batch.user_events.items():
            op("PUBLISH", keys.user_channel(user_id), b"[" + b",".join(events) + b"]")
        for args in ops:
            op(*args)
        return words

    def _state(self, batch: _Batch) -> dict[str, Any]:
        """The engine's counters after this batch, the depth sequence of the books it
        changed and, when the batch changed them, the markets and assets; the DB
        processor merges these into ProcessorState.engine_state (docs/event-stream.md)."""
        engine = self.engine
        state: dict[str, Any] = {
            "next_seq": engine.next_seq,
            "next_order_id": engine.next_order_id,
            "next_trade_id": engine.next_trade_id,
            "coid_horizon": engine.coid_horizon,
            "depth_seq": {symbol: engine.depth_seq(symbol) for symbol in batch.depth},
            "last_price": {symbol: engine.last_price(symbol) for symbol in batch.trades},
        }
        if batch.catalogue_changed:
            state["markets"] = {
                symbol: market_units_to_wire(
                    dataclasses.replace(units, status=engine.markets[symbol].status.value)
                )
                for symbol, units in self.units.items()
                if symbol in engine.markets
            }
            state["assets"] = dict(self.asset_decimals)
        if batch.limits_changed:
            state["limits"] = limits_to_state(engine)
        return state

    def _depth_body(self, symbol: str) -> dict[str, Any]:
        bids, asks, depth_seq = self.engine.depth_snapshot(symbol, DEPTH_LEVELS)
        sides = wire.depth_json(self.units[symbol], bids, asks)
        return depth_body(symbol=symbol, sequence=depth_seq, **sides)

    def write_depth(self, symbols: Iterable[str]) -> None:
        """The depth snapshots and whole books of ``symbols``, from memory (start-up)."""
        symbols = list(symbols)
        pipe = self.redis.pipeline(transaction=True)
        for symbol in symbols:
            pipe.set(keys.rm_depth(symbol), wire.dumps(self._depth_body(symbol)))
        pipe.execute()
        for symbol in symbols:
            self._write_book(symbol)

    # -- the whole book, for deep depth (infra/deepbook.py) ---------------------

    def _book_ops(self, symbol: str, update: dict[str, Any], op: Any) -> None:
        """A batch's changed levels of one book (ticks -> lots, before they are rendered
        for the depth update) as commands for the whole book, and its sequence."""
        units = self.units[symbol]
        price, qty = units.ticks_to_price, units.lots_to_quantity
        mirrors = self._book_mirrors.setdefault(symbol, ({}, {}))  # a new market: empty
        for side, mirror in zip(deepbook.SIDES, mirrors, strict=True):
            removed, added = deepbook.apply_levels(mirror, update[side], price, qty)
            key = keys.rm_book(symbol, side)
            step = MAX_VALUES_PER_OP
            for start in range(0, len(removed), step):
                op("ZREM", key, *removed[start : start + step])
            for start in range(0, len(added), step // 2):
                op("ZADD", key, *(w for m in added[start : start + step // 2] for w in ("0", m)))
        op("SET", keys.rm_book_seq(symbol), str(update["sequence"]))

    def _write_book(self, symbol: str) -> None:
        units = self.units[symbol]
        bids, asks, depth_seq = self.engine.depth_snapshot(symbol, sys.maxsize)
        self._book_mirrors[symbol] = deepbook.rewrite(
            self.redis, symbol, bids, asks, depth_seq, units.ticks_to_price, units.lots_to_quantity
        )

    # -- the read model, rebuilt from memory at start-up when it is missing --------------

    def ensure_read_model(self) -> bool:
        """After recovery: if the shard's read-model marker is missing (a Redis restart
        without persistence, the rm:* keys deleted, a first start), rewrite what the GET
        endpoints read from the engine's memory. Returns whether it rebuilt."""
        if self.redis.exists(keys.rm_ready(self.shard)):
            return False
        self.rebuild_read_model()
        return True

    def rebuild_read_model(self) -> None:
        """Balances, open orders (body, per-user set, client-order-id map) and depth,
        written in pipelines of READ_MODEL_CHUNK commands, then the marker. An open
        order's ``sequence`` is the recovery point's (its state is the one after it).
        History (closed orders, fills, trades) is the database's and is not rewritten:
        the history endpoints read it there. Keys are overwritten, never deleted, so a
        rebuild over a complete read model (the first start after an upgrade) changes
        nothing but the open orders' ``sequence``."""
        started = time.monotonic()
        engine = self.engine
        sequence = engine.next_seq - 1
        decimals = self.asset_decimals
        pipe = self.redis.pipeline(transaction=False)
        queued = 0

        def flush(force: bool = False) -> None:
            nonlocal queued
            if queued and (force or queued >= READ_MODEL_CHUNK):
                pipe.execute()
                queued = 0

        balances = 0
        by_user: dict[int, list[Word]] = {}
        for user_id, asset, available, locked in engine.iter_balances():
            _, text = wire.balance_json_text(
                asset, available, locked, decimals.get(asset, DEFAULT_DECIMALS)
            )
            by_user.setdefault(user_id, []).extend((asset, text))
            balances += 1
        for user_id, pairs in by_user.items():
            pipe.hset(keys.rm_balances(user_id), items=pairs)
            queued += 1
            flush()
        opened: dict[int, dict[str, int]] = {}
        orders = 0
        for order in engine.iter_open_orders():
            event = e.OrderUpdated(
                seq=sequence, **{name: getattr(order, name) for name in ORDER_EVENT_FIELDS}
            )
            _, text = wire.order_json_text(event, self.units[order.symbol])
            pipe.set(keys.rm_order(order.order_id), text)
            opened.setdefault(order.user_id, {})[str(order.order_id)] = order.order_id
            if order.client_order_id:
                pipe.hset(
                    keys.rm_client_order_ids(order.user_id),
                    order.client_order_id,
                    str(order.order_id),
                )
            queued += 2
            orders += 1
            flush()
        for user_id, members in opened.items():
            pipe.delete(keys.rm_open_orders(user_id))  # exactly the open ones
            pipe.zadd(keys.rm_open_orders(user_id), members)
            queued += 2
            flush()
        flush(force=True)
        self.write_depth(engine.markets)
        self.redis.set(keys.rm_ready(self.shard), str(sequence))
        logger.warning(
            "engine shard %d: read model missing at sequence %d; rebuilt %d balances of %d "
            "users, %d open orders and %d books from memory in %.2fs",
            self.shard,
            sequence,
            balances,
            len(by_user),
            orders,
            len(engine.markets),
            time.monotonic() - started,
        )
