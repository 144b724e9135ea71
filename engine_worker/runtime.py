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
from engine_worker.core import events as e
from engine_worker.core.engine import Engine
from engine_worker.fold import (
    APPLY_OPS,
    RECENT_REQUESTS,
    Batch,
    Commit,
    Word,
    decode,
    depth_body_of,
)
from engine_worker.metrics import EngineMetrics
from engine_worker.recovery import engine_restore, limits_to_state
from infra import deepbook, keys
from marketdata.units import (
    DEFAULT_DECIMALS,
    MarketUnits,
    market_units_to_wire,
)
from persistence.snapshot import Limits, Snapshot

logger = logging.getLogger(__name__)

DEPTH_LEVELS = deepbook.TOP_LEVELS  # levels kept in the read model's depth snapshot
RECENT_ENTRIES = 10_000  # command-log entries whose request ids are reloaded at start-up
REPLAY_CHUNK = 2_000
DUMP_TTL = 3600  # seconds a state dump (the "Dump" command, for reconcile) is kept
READ_MODEL_CHUNK = 1000  # commands per pipeline when the read model is rebuilt
# an order event's fields but its seq: what a resting order of the core also has
ORDER_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(e.OrderUpdated) if f.name != "seq")


class Pending:
    """A batch applied in memory, with its commit (EngineRuntime.prepare), then
    sent (``connection``, the one its answer comes on) until it is confirmed."""

    __slots__ = ("applied", "batch", "commands", "commit", "connection", "first", "jobs",
                 "last", "sent", "started")  # fmt: skip

    def __init__(
        self,
        batch: Batch,
        first: int,
        last: int,
        commit: Commit,
        commands: list[Any],
        jobs: int,
        started: float,
        applied: float,
    ) -> None:
        self.batch, self.first, self.last, self.commit = batch, first, last, commit
        self.commands, self.jobs, self.started, self.applied = commands, jobs, started, applied
        self.sent = applied
        self.connection: Connection | None = None


class FailStop(BaseException):
    """The engine applied commands of a batch that was not committed: its memory is ahead
    of the command log. The worker must stop before anything is replied, so that its next
    start rebuilds the memory from the log (without the batch; its clients time out). A
    BaseException, so that no ``except Exception`` on the way carries on regardless."""


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
        # per recent-items list (fills, closed orders, trades), the items pushed on it since
        # it was last trimmed (fold.push_recent)
        self._untrimmed: dict[str, int] = {}
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
                    self.engine.apply(
                        decode(command_wire, self.units, self.asset_decimals, logged=True)
                    )
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
        all the replies, in order, once the commit is done, as their gateways read them
        (decoded from their JSON: a reply holds its orders and fills as texts)."""
        pending = self.prepare(jobs, ops=ops)
        self.send(pending)
        self.confirm(pending)
        return json.loads(wire.dumps(pending.batch.replies))

    def prepare(
        self,
        jobs: list[tuple[list[Any], str | None]],
        *,
        ops: Iterable[tuple[str, ...]] = (),
        texts: list[bytes | None] | None = None,
    ) -> Pending:
        """Apply the jobs' commands in memory and build their commit, without sending it:
        :meth:`send` writes it, :meth:`confirm` waits for it. The worker applies the next
        batch between the two, while Redis runs this one's commit. An error once a command
        was applied is a FailStop (the memory is ahead of the log); before, it is raised
        as it is. ``texts``: each job's commands as the JSON text they came in, or None
        (fold.Batch.apply_jobs)."""
        batch = Batch(self.engine, self.units, self.asset_decimals, self.recent_requests)
        first_seq = self.engine.next_seq
        clock = time.perf_counter
        started = clock()
        try:
            batch.apply_jobs(jobs, self.dump, texts)
            last_seq = self.engine.next_seq - 1
            commit = self._commit(batch, first_seq, last_seq, ops)
            applied = clock()
        except Exception as exc:
            if self.engine.next_seq == first_seq:
                raise  # nothing applied: the memory is still what the log describes
            raise self._fail_stop(first_seq, exc) from exc
        commands = [c for cs, _ in jobs if isinstance(cs, list) for c in cs]
        return Pending(batch, first_seq, last_seq, commit, commands, len(jobs), started, applied)

    def send(self, pending: Pending) -> None:
        """Write ``pending``'s commit to Redis without waiting for its answer."""
        try:
            pending.connection = connection = self.redis.connection_pool.get_connection()
            connection.send_packed_command(pending.commit.packed(self._apply_ops.sha))
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

    def _commit(
        self, batch: Batch, first: int, last: int, ops: Iterable[tuple[str, ...]] = ()
    ) -> Commit:
        """Everything the batch did, and ``ops``, as the commit's APPLY_OPS arguments: one
        script call in one MULTI/EXEC (:meth:`send`). The log's entries first, then the
        batch's replies, read-model writes and publications (fold.Batch.commit_words)."""
        commit = Commit()
        dumps = wire.dumps
        if batch.logged:
            # the command log, keyed by the batch's last sequence number (recovery starts
            # right after the snapshot's), then what the batch did, for the DB processor
            commit.op("XADD", self.commands, f"{last}-0", "first_seq", str(first),
                      "last_seq", str(last), "commands", batch.log_text())  # fmt: skip
            commit.op("XADD", self.stream, "*", "first_seq", str(first),
                      "last_seq", str(last), "records", dumps(batch.records),
                      "state", dumps(self._state(batch)))  # fmt: skip
        batch.commit_words(commit, self.shard, self._book_ops, DEPTH_LEVELS, self._untrimmed)
        commit.ops(ops)
        return commit

    def _state(self, batch: Batch) -> dict[str, Any]:
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

    def write_depth(self, symbols: Iterable[str]) -> None:
        """The depth snapshots and whole books of ``symbols``, from memory (start-up)."""
        symbols = list(symbols)
        pipe = self.redis.pipeline(transaction=True)
        for symbol in symbols:
            pipe.set(
                keys.rm_depth(symbol),
                wire.dumps(depth_body_of(self.engine, self.units[symbol], symbol, DEPTH_LEVELS)),
            )
        pipe.execute()
        for symbol in symbols:
            self._write_book(symbol)

    # -- the whole book, for deep depth (infra/deepbook.py) ---------------------

    def _book_ops(self, symbol: str, update: dict[str, Any], commit: Commit) -> None:
        """A batch's changed levels of one book (ticks -> lots, before they are rendered
        for the depth update) as commands for the whole book, and its sequence."""
        units = self.units[symbol]
        price, qty = units.ticks_to_price, units.lots_to_quantity
        mirrors = self._book_mirrors.setdefault(symbol, ({}, {}))  # a new market: empty
        for side, mirror in zip(deepbook.SIDES, mirrors, strict=True):
            removed, added = deepbook.apply_levels(mirror, update[side], price, qty)
            key = keys.rm_book(symbol, side)
            if removed:  # Commit.op splits a long one (fold.split_op)
                commit.op("ZREM", key, *removed)
            if added:
                commit.op("ZADD", key, *(w for m in added for w in ("0", m)))
        commit.op("SET", keys.rm_book_seq(symbol), str(update["sequence"]))

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
