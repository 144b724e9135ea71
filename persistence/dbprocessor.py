"""The DB processor: persists the engine's event stream (docs/event-stream.md) into
PostgreSQL (docs/event-stream.md, "Who reads them").

It reads ``engine.events.<shard>`` with the consumer group ``dbprocessor`` and applies each
batch of entries in one database transaction together with ``ProcessorState(shard)``
(the last applied sequence number, the last entry id and the engine's counters), then
XACKs. An entry whose ``last_seq`` is not above the stored one was applied already and is
skipped; the row writes are guarded too (orders and balances only move forward by
sequence, trades and transfers are inserted once), so replaying anything changes nothing.

Writes are a binary COPY per table per batch into a temporary table of the session, then
one ``INSERT ... SELECT ... ON CONFLICT`` per table (the ledger, append-only, is COPYed
straight into its table), never a query per row.

The ledger (one row per balance movement) is derived from the records:

- transfers: deposit ``+available``, withdrawal ``-available``;
- trades: each side's gross receipt goes to available (``trade``) and its fee leaves
  available (``fee``: the buyer's in base, the seller's in quote); each side's payment
  (``trade``) leaves locked, except a market-order taker's, which leaves available (a
  triggered stop-market buy pays from its lock: it stays "locked"); the
  fee account receives both fees (``fee``, available);
- what remains, per (user, asset) and command, between the balance before (the
  processor's cache of the balances table) and the record's balance after, is a move
  between available and locked: one ``lock`` (locked grows) or ``unlock`` row.

So per (user, asset) the ledger's sums equal the balance row. A remainder that is not a
pure move means the records and the derivation disagree: it is logged as an ERROR with
the sequence number and written as lock/unlock all the same (reconcile reports it).

A batch that fails for a reason in its content (:data:`DATA_ERRORS`: a value the
database cannot hold, a NUL byte in text, a record the code cannot read) is split in
halves until the entry at fault is alone; that entry goes whole, with its error, to the
dead-letter store (:class:`persistence.models.DeadLetter`) in a transaction that also
moves ``ProcessorState`` past it, and every other entry is applied as usual. Any other
failure (the database or Redis unreachable) propagates: the service backs off and
redoes the batch. The rules that keep later entries and a later retry exact are in
docs/event-stream.md, "Dead letters".
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

import django.db
import psycopg
import redis
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from infra import keys
from infra.metrics import MetricSet, ScrapeGauges
from infra.service import Service
from marketdata.timeseries import ticks_write
from marketdata.units import CONTEXT, EPOCH
from persistence.models import DeadLetter

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

logger = logging.getLogger(__name__)

GROUP = "dbprocessor"
ZERO = Decimal(0)
Entry = tuple[Any, dict[Any, Any]]  # (entry id, fields) as redis-py returns them

# Failures caused by an entry's content: the same entry fails the same way every time,
# so it is set aside (the dead-letter store) instead of retried. The database's data and
# integrity errors, as psycopg raises them (the COPY cursor) and as Django wraps them;
# and what reading a malformed record raises (json, int, Decimal, a missing key).
# Everything else -- OperationalError, InterfaceError, Redis errors -- means the
# database or Redis is away: the batch is retried as it is.
DATA_ERRORS: tuple[type[Exception], ...] = (
    psycopg.DataError,
    psycopg.IntegrityError,
    django.db.DataError,
    django.db.IntegrityError,
    ValueError,  # json.JSONDecodeError, int("x"), UnicodeDecodeError
    KeyError,
    TypeError,
    ArithmeticError,  # decimal.InvalidOperation
)

# The batch's rows are COPYed (binary) into temporary tables of the session, then moved
# into the real tables by one INSERT ... SELECT ... ON CONFLICT per table: COPY is the
# cheapest way in, and the guards stay in SQL. The ledger, append-only and unguarded, is
# COPYed straight into its table.
TEMP_TABLES = {
    "pg_temp.dbprocessor_order": (
        "id bigint, user_id integer, client_order_id text, symbol text, side text, "
        "type text, time_in_force text, post_only boolean, price numeric, quantity numeric, "
        "filled_quantity numeric, filled_quote_quantity numeric, average_price numeric, "
        "status text, created_ms bigint, updated_ms bigint, stop_price numeric, "
        "order_list_id bigint, priority bigint, sequence bigint"
    ),
    "pg_temp.dbprocessor_trade": (
        "id bigint, symbol text, price numeric, quantity numeric, quote_quantity numeric, "
        "taker_side text, maker_order_id bigint, taker_order_id bigint, "
        "maker_user_id integer, taker_user_id integer, maker_fee numeric, "
        "maker_fee_asset text, taker_fee numeric, taker_fee_asset text, time_ms bigint, "
        "sequence bigint"
    ),
    "pg_temp.dbprocessor_balance": (
        "user_id integer, asset text, available numeric, locked numeric, sequence bigint"
    ),
    "pg_temp.dbprocessor_transfer": (
        "user_id integer, asset text, kind text, amount numeric, sequence bigint, time_ms bigint"
    ),
}
TEMP_SETUP = (
    "".join(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns});\n"
        for name, columns in TEMP_TABLES.items()
    )
    + f"TRUNCATE {', '.join(TEMP_TABLES)};"
)


def _types(columns: str) -> list[str]:
    return [column.split()[1] for column in columns.split(", ")]


COPY_TYPES = {name: _types(columns) for name, columns in TEMP_TABLES.items()}

# Times travel as epoch milliseconds; "epoch + ms * 1 ms" converts them exactly (to_timestamp
# takes a float).
# An amend changes price and quantity. priority is an open order's queue place (the record's
# "priorities"), null once it closed.
ORDER_UPSERT = """
INSERT INTO orders_order (id, user_id, client_order_id, symbol, side, type, time_in_force,
    post_only, price, quantity, filled_quantity, filled_quote_quantity, average_price,
    status, created_at, updated_at, sequence, stop_price, order_list_id, priority)
SELECT id, user_id, client_order_id, symbol, side, type, time_in_force, post_only, price,
    quantity, filled_quantity, filled_quote_quantity, average_price, status,
    timestamptz 'epoch' + created_ms * interval '1 millisecond',
    timestamptz 'epoch' + updated_ms * interval '1 millisecond', sequence, stop_price,
    order_list_id, priority
FROM pg_temp.dbprocessor_order
ON CONFLICT (id) DO UPDATE SET
    price = EXCLUDED.price,
    quantity = EXCLUDED.quantity,
    priority = EXCLUDED.priority,
    filled_quantity = EXCLUDED.filled_quantity,
    filled_quote_quantity = EXCLUDED.filled_quote_quantity,
    average_price = EXCLUDED.average_price,
    status = EXCLUDED.status,
    updated_at = EXCLUDED.updated_at,
    sequence = EXCLUDED.sequence
WHERE orders_order.sequence <= EXCLUDED.sequence
"""

TRADE_INSERT = """
INSERT INTO orders_trade (id, symbol, price, quantity, quote_quantity, taker_side,
    maker_order_id, taker_order_id, maker_user_id, taker_user_id, maker_fee, maker_fee_asset,
    taker_fee, taker_fee_asset, time, sequence)
SELECT id, symbol, price, quantity, quote_quantity, taker_side, maker_order_id,
    taker_order_id, maker_user_id, taker_user_id, maker_fee, maker_fee_asset, taker_fee,
    taker_fee_asset, timestamptz 'epoch' + time_ms * interval '1 millisecond', sequence
FROM pg_temp.dbprocessor_trade
ON CONFLICT (id) DO NOTHING
"""

BALANCE_UPSERT = """
INSERT INTO accounts_balance (user_id, asset, available, locked, sequence)
SELECT user_id, asset, available, locked, sequence FROM pg_temp.dbprocessor_balance
ON CONFLICT (user_id, asset) DO UPDATE SET
    available = EXCLUDED.available,
    locked = EXCLUDED.locked,
    sequence = EXCLUDED.sequence
WHERE accounts_balance.sequence <= EXCLUDED.sequence
"""

TRANSFER_INSERT = """
INSERT INTO accounts_transfer (user_id, asset, kind, amount, sequence, time)
SELECT user_id, asset, kind, amount, sequence,
    timestamptz 'epoch' + time_ms * interval '1 millisecond'
FROM pg_temp.dbprocessor_transfer
ON CONFLICT (sequence) DO NOTHING
"""

LEDGER_COPY = """
COPY accounts_ledgerentry (user_id, asset, cause, delta_available, delta_locked, sequence,
    trade_id, order_id, time) FROM STDIN (FORMAT BINARY)
"""
LEDGER_TYPES = [
    "integer", "text", "text", "numeric", "numeric", "bigint", "bigint", "bigint",
    "timestamptz",
]  # fmt: skip

# Each entry's `state` holds the engine's counters, the depth sequence and last trade
# price of the books its batch changed, and the markets and assets only when they changed:
# merged in, key by key, and the per-book ones (BY_SYMBOL) by symbol.
BY_SYMBOL = ("depth_seq", "last_price")
STATE_UPDATE = """
UPDATE engine_worker_processorstate SET last_seq = %(last_seq)s, last_entry_id = %(entry)s,
    engine_state = (engine_state || (%(state)s::jsonb - 'depth_seq' - 'last_price'))
        || jsonb_build_object(
            'depth_seq', COALESCE(engine_state -> 'depth_seq', '{}'::jsonb)
                || COALESCE(%(state)s::jsonb -> 'depth_seq', '{}'::jsonb),
            'last_price', COALESCE(engine_state -> 'last_price', '{}'::jsonb)
                || COALESCE(%(state)s::jsonb -> 'last_price', '{}'::jsonb)),
    updated_at = now()
WHERE shard = %(shard)s
"""

BALANCE_SELECT = """
SELECT b.user_id, b.asset, b.available, b.locked, b.sequence
FROM accounts_balance b
JOIN unnest(%s::integer[], %s::text[]) AS k(user_id, asset)
    ON b.user_id = k.user_id AND b.asset = k.asset
"""

# The final balances of the shard's dead entries below a sequence, oldest first: a balance
# the database does not show yet (its entry is dead) but later entries build on.
DEAD_AFTER_SELECT = """
SELECT after FROM engine_worker_deadletter
WHERE shard = %s AND last_seq < %s AND after <> ''
ORDER BY last_seq
"""

STATE_INIT = (
    "INSERT INTO engine_worker_processorstate "
    "(shard, last_seq, last_entry_id, engine_state, updated_at) "
    "VALUES (%s, 0, '0-0', '{}', now()) ON CONFLICT (shard) DO NOTHING"
)
STATE_LOCK = "SELECT last_seq FROM engine_worker_processorstate WHERE shard = %s FOR UPDATE"
STATE_MOVE = (
    "UPDATE engine_worker_processorstate SET last_seq = %s, last_entry_id = %s, "
    "updated_at = now() WHERE shard = %s"
)


def merged_state(todo: Sequence[tuple[str, int, Any, str | None]]) -> str:
    """The entries' states folded in order into one (JSON)."""
    merged: dict[str, Any] = {}
    per_book: dict[str, dict[str, int]] = {key: {} for key in BY_SYMBOL}
    for _, _, _, text in todo:
        if text:
            state = json.loads(text)
            for key, values in per_book.items():
                values.update(state.pop(key, {}))
            merged.update(state)
    merged.update(per_book)
    return json.dumps(merged)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(fields: dict[Any, Any], name: str) -> str | None:
    value = fields.get(name.encode(), fields.get(name))
    return None if value is None else _text(value)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _sequence(fields: dict[Any, Any], name: str) -> int:
    """A sequence field of an entry that may be malformed: 0 unless a storable number."""
    try:
        value = int(_field(fields, name) or 0)
    except ValueError:
        return 0
    return value if 0 <= value < 2**63 else 0


def error_text(exc: BaseException) -> str:
    """What failed, on one line, for the dead-letter store and the log (no NUL: storable)."""
    text = " ".join(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}".split())
    return text.replace("\x00", "\\x00")


def entry_to_json(fields: dict[Any, Any]) -> str:
    """A stream entry's fields as JSON text; bytes round-trip exactly (surrogateescape)."""
    return json.dumps(
        {
            (k.decode("utf-8", "surrogateescape") if isinstance(k, bytes) else str(k)): (
                v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)
            )
            for k, v in fields.items()
        },
        sort_keys=True,
    )


def entry_from_json(text: str) -> dict[bytes, bytes]:
    """The fields as redis-py returned them, from :func:`entry_to_json`."""
    return {
        k.encode("utf-8", "surrogateescape"): v.encode("utf-8", "surrogateescape")
        for k, v in json.loads(text).items()
    }


def final_balances(
    records: list[dict[str, Any]],
) -> dict[tuple[int, str], tuple[Decimal, Decimal, int]]:
    """Each (user, asset)'s balance after the records, with the sequence that set it."""
    out: dict[tuple[int, str], tuple[Decimal, Decimal, int]] = {}
    for record in records:
        seq = int(record["seq"])
        for b in record.get("balances", ()):
            out[(int(b["user_id"]), str(b["asset"]))] = (
                Decimal(b["available"]),
                Decimal(b["locked"]),
                seq,
            )
    return out


def balances_to_json(balances: dict[tuple[int, str], tuple[Any, ...]]) -> str:
    return json.dumps([[k[0], k[1], *(str(v) for v in value)] for k, value in balances.items()])


@dataclass
class BatchResult:
    entries: int = 0  # entries in the batch
    skipped: int = 0  # entries applied before (last_seq <= the stored one)
    commands: int = 0  # records applied
    orders: int = 0
    trades: int = 0
    balances: int = 0
    transfers: int = 0
    ledger: int = 0
    ticks: int = 0  # price ticks written to the timeseries alias
    dead: int = 0  # entries moved to the dead-letter store
    last_seq: int = 0
    last_ts: int | None = None  # the last record's ts (epoch ms)
    mismatches: list[int] = field(default_factory=list)  # seqs with a non-pure remainder

    @property
    def rows(self) -> int:
        return self.orders + self.trades + self.balances + self.transfers + self.ledger

    def add(self, other: BatchResult) -> None:
        """Fold in the result of the batch's next part."""
        for name in ("entries", "skipped", "commands", "orders", "trades", "balances",
                     "transfers", "ledger", "ticks", "dead"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_seq = max(self.last_seq, other.last_seq)
        if other.last_ts is not None:
            self.last_ts = other.last_ts
        self.mismatches += other.mismatches


class _Rows:
    """The batch's rows, as COPY writes them."""

    def __init__(self) -> None:
        self.orders: dict[int, tuple[Any, ...]] = {}  # id -> row, the highest sequence wins
        self.trades: list[tuple[Any, ...]] = []
        self.balances: dict[tuple[int, str], tuple[Any, ...]] = {}
        self.transfers: list[tuple[Any, ...]] = []
        self.ledger: list[tuple[Any, ...]] = []


class DbProcessorMetrics(MetricSet):
    """The DB processor's own metrics (docs/operations.md, "Metrics"), beside the loop's
    (exchange_service_*{service="dbprocessor"}: batch latency and size, failures). The
    lag is read from the stream when Prometheus scrapes, so it grows while the processor
    is stuck (the database away, a batch retried)."""

    def __init__(self, processor: DbProcessor) -> None:
        super().__init__()
        self.processor = processor
        shard = str(processor.shard)
        self.shard = shard

        def counter(name: str, documentation: str) -> Any:
            return self.add(MetricCounter(name, documentation, ["shard"], registry=None)).labels(
                shard
            )

        self.entries = counter(
            "exchange_dbprocessor_entries", "Event-stream entries handled (skipped ones too)."
        )
        self.skipped = counter(
            "exchange_dbprocessor_skipped_entries",
            "Entries skipped because the database had them already (a replay).",
        )
        self.commands = counter(
            "exchange_dbprocessor_commands", "Engine commands (records) persisted."
        )
        self.rows = counter(
            "exchange_dbprocessor_rows",
            "Rows written: orders, trades, balances, transfers and ledger entries.",
        )
        self.trades = counter("exchange_dbprocessor_trades", "Trades persisted.")
        self.dead_letters = counter(
            "exchange_dbprocessor_dead_letters",
            "Entries this processor moved to the dead-letter store (exchange_dead_letters "
            "on the web's /metrics counts those still waiting).",
        )
        self.last_seq = self.add(
            Gauge(
                "exchange_dbprocessor_last_seq",
                "The last engine sequence number committed to the database.",
                ["shard"],
                registry=None,
            )
        ).labels(shard)
        self.add(
            ScrapeGauges(
                {
                    "exchange_dbprocessor_lag_entries": (
                        "Event-stream entries not yet committed (not read, or read and not "
                        "acknowledged).",
                        ("shard",),
                    ),
                    "exchange_dbprocessor_lag_seconds": (
                        "Age of the oldest event-stream entry not yet committed (0 when "
                        "caught up).",
                        ("shard",),
                    ),
                },
                self._read,
                registry=None,
            )
        )

    def _read(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        entries, oldest_ms = self.processor.backlog()
        labels = (self.shard,)
        if entries is not None:
            yield "exchange_dbprocessor_lag_entries", labels, float(entries)
        age = 0.0 if oldest_ms is None else max(0.0, time.time() - oldest_ms / 1000)
        yield "exchange_dbprocessor_lag_seconds", labels, age

    def batch(self, result: BatchResult) -> None:
        self.entries.inc(result.entries)
        if result.skipped:
            self.skipped.inc(result.skipped)
        self.commands.inc(result.commands)
        self.rows.inc(result.rows)
        if result.trades:
            self.trades.inc(result.trades)
        if result.dead:
            self.dead_letters.inc(result.dead)
        self.last_seq.set(result.last_seq)


class DbProcessor(Service):
    name = "dbprocessor"
    point_in_time = ("lag_entries", "lag_ms", "last_seq")

    def __init__(
        self,
        shard: int = 0,
        *,
        connection_: redis.Redis,
        fee_account: int,
        batch_size: int = 500,
        block_ms: int = 1000,
        trim_every: int = 100,
        trim_keep: int = 10_000,
        consumer: str | None = None,
    ) -> None:
        super().__init__()
        self.shard = shard
        self.redis = connection_
        self.fee_account = fee_account
        self.stream = keys.events_stream(shard)
        self.commands = keys.commands_stream(shard)
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.trim_every = trim_every
        self.trim_keep = trim_keep
        self.consumer = consumer or f"dbprocessor-{shard}"
        self.name = f"dbprocessor[{shard}]"
        self.balances: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}  # cache
        self._pending = True  # re-read this consumer's pending entries first
        self._last_entry_id = "0-0"
        self._last_seq = 0
        self.processor_metrics = DbProcessorMetrics(self)

    # -- the Service hooks ----------------------------------------------------------------

    def setup(self) -> None:
        self.ensure_group()
        self._pending = True

    def recover(self, exc: BaseException) -> None:
        # The transaction rolled back: what the cache learnt from it may be wrong, and
        # the connection may be broken. The pending re-read redoes the batch.
        self.balances.clear()
        self._pending = True
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - best effort: the next batch reconnects
            logger.warning("%s: closing the database connection failed", self.name)

    def fetch(self) -> list[Entry]:
        return self.read()

    def handle(self, batch: list[Entry]) -> dict[str, Any]:
        result = self.persist(batch)
        self.ack(batch)
        self.processor_metrics.batch(result)
        if self.trim_every and self.batches % self.trim_every == self.trim_every - 1:
            self.trim()
        counters: dict[str, Any] = {
            "size": len(batch),
            "entries": result.entries,
            "skipped": result.skipped,
            "commands": result.commands,
            "dead": result.dead,
            "rows": result.rows,
            "trades": result.trades,
            "last_seq": result.last_seq,
        }
        if result.last_ts is not None:
            counters["lag_ms"] = max(0, time.time_ns() // 1_000_000 - result.last_ts)
        counters["lag_entries"] = self.lag_entries()
        return counters

    def describe(self, counters: dict[str, Any]) -> str:
        order = ("entries", "skipped", "dead", "commands", "rows", "trades", "lag_entries",
                 "lag_ms")  # fmt: skip
        parts = [f"{k}={counters[k]}" for k in order if k in counters]
        if "last_seq" in counters:
            parts.append(f"seq {counters['last_seq']}")
        return " ".join(parts)

    # -- Redis ----------------------------------------------------------------------------

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
            logger.info("%s: created consumer group %s on %s", self.name, GROUP, self.stream)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self) -> list[Entry]:
        """This consumer's pending entries first (a batch that was read but not acked,
        e.g. before a crash), then new ones."""
        if self._pending:
            got = self.redis.xreadgroup(
                GROUP, self.consumer, {self.stream: "0"}, count=self.batch_size
            )
            entries = got[0][1] if got else []
            if entries:
                dead = [entry_id for entry_id, fields in entries if not fields]
                if dead:  # trimmed while pending: nothing left to apply
                    self.redis.xack(self.stream, GROUP, *dead)
                live = [(i, f) for i, f in entries if f]
                if live:
                    logger.info("%s: re-reading %d pending entries", self.name, len(live))
                    return live
                return []
            self._pending = False
        got = self.redis.xreadgroup(
            GROUP,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=self.block_ms,
        )
        return got[0][1] if got else []

    def ack(self, entries: Sequence[Entry]) -> None:
        if entries:
            self.redis.xack(self.stream, GROUP, *(entry_id for entry_id, _ in entries))

    def lag_entries(self) -> int | None:
        """Entries in the stream after the last one read (Redis 7's group lag)."""
        try:
            for group in self.redis.xinfo_groups(self.stream):
                if _text(group.get("name")) == GROUP:
                    lag = group.get("lag")
                    return None if lag is None else int(lag)
        except redis.ResponseError:
            return None
        return None

    def backlog(self) -> tuple[int | None, int | None]:
        """Entries of the stream not yet committed (the group's lag, entries not read,
        plus its pending ones, read and not acknowledged; None if Redis cannot tell) and
        the time (epoch ms, from its id) of the oldest of them (None: caught up)."""
        group = next(
            (g for g in self.redis.xinfo_groups(self.stream) if _text(g.get("name")) == GROUP),
            None,
        )
        if group is None:  # no group yet: everything in the stream is behind
            first = self.redis.xrange(self.stream, count=1)
            return int(self.redis.xlen(self.stream)), _entry_ms(first[0][0]) if first else None
        pending, lag = int(group.get("pending") or 0), group.get("lag")
        entries = None if lag is None else int(lag) + pending
        if pending:
            summary = self.redis.xpending(self.stream, GROUP)
            return entries, _entry_ms(summary["min"])
        if lag is None or int(lag):
            after = _text(group.get("last-delivered-id") or "0-0")
            nxt = self.redis.xrange(self.stream, min=f"({after}", count=1)
            return entries, _entry_ms(nxt[0][0]) if nxt else None
        return entries, None

    def trim(self) -> int:
        """Drop entries well below what is committed, in both of the shard's streams:
        keep the ``trim_keep`` entries up to the committed one (the engine reloads the
        request ids of the recent command-log entries to refuse resends)."""
        removed = 0
        if self._last_entry_id != "0-0":
            removed += self._trim(self.stream, self._last_entry_id)
        if self._last_seq:
            removed += self._trim(self.commands, f"{self._last_seq}-0")
        return removed

    def _trim(self, stream: str, committed: str) -> int:
        window = self.redis.xrevrange(stream, max=committed, count=self.trim_keep + 1)
        if len(window) <= self.trim_keep:
            return 0
        oldest_kept = _text(window[-2][0])
        removed = int(self.redis.xtrim(stream, minid=oldest_kept, approximate=False))
        if removed:
            logger.info("%s: trimmed %d entries of %s below %s", self.name, removed, stream,
                        oldest_kept)  # fmt: skip
        return removed

    # -- the database -----------------------------------------------------------------------

    def persist(self, entries: Sequence[Entry]) -> BatchResult:
        """Apply the entries; if that fails for a reason in their content, split them in
        halves (each applied in its own transaction, in order) until the entry at fault
        is alone, and move it to the dead-letter store. Any other failure propagates."""
        try:
            return self.apply(entries)
        except DATA_ERRORS as exc:
            if len(entries) == 1:
                return self.bury(entries[0], exc)
            logger.warning(
                "%s: batch of %d entries (%s to %s) failed on its content (%s): splitting it",
                self.name,
                len(entries),
                _text(entries[0][0]),
                _text(entries[-1][0]),
                type(exc).__name__,
            )
        middle = len(entries) // 2
        result = self.persist(entries[:middle])
        result.add(self.persist(entries[middle:]))
        return result

    def _lock_state(self, cursor: Any) -> int:
        """Lock the shard's ProcessorState row (created if missing); its last_seq."""
        cursor.execute(STATE_INIT, [self.shard])
        cursor.execute(STATE_LOCK, [self.shard])
        return int(cursor.fetchone()[0])

    def apply(self, entries: Sequence[Entry]) -> BatchResult:
        """Apply a batch of stream entries in one transaction; returns what it wrote."""
        result = BatchResult(entries=len(entries))
        with transaction.atomic(), connection.cursor() as cursor:
            applied = self._lock_state(cursor)
            result.last_seq = applied
            todo: list[tuple[str, int, list[dict[str, Any]], str | None]] = []
            for entry_id, fields in entries:
                last_seq = int(_field(fields, "last_seq") or 0)
                if last_seq <= applied:
                    result.skipped += 1
                    continue
                records = json.loads(_field(fields, "records") or "[]")
                todo.append((_text(entry_id), last_seq, records, _field(fields, "state")))
            if not todo:
                return result
            records = [r for _, _, rs, _ in todo for r in rs if int(r["seq"]) > applied]
            work = self._previous_balances(cursor, records, self.balances, below=applied + 1)
            self._persist_records(cursor, records, work, result)
            entry_id, last_seq, _, _ = todo[-1]
            state = merged_state(todo)
            cursor.execute(
                STATE_UPDATE,
                {"last_seq": last_seq, "entry": entry_id, "state": state, "shard": self.shard},
            )
            result.last_seq = last_seq
        # committed: the cache may learn the batch's balances now
        self.balances.update(work)
        self._last_entry_id = entry_id
        self._last_seq = last_seq
        return result

    def _persist_records(
        self,
        cursor: Any,
        records: list[dict[str, Any]],
        work: dict[tuple[int, str], tuple[Decimal, Decimal]],
        result: BatchResult,
    ) -> None:
        """The records' rows, the ledger and the price ticks, in the open transaction."""
        with localcontext(CONTEXT):  # exact sums of 38-digit amounts (28 would round)
            rows = self._rows(records, work, result)
        # The bulk writes go through a psycopg cursor on the same connection (same
        # transaction): COPY is psycopg's, not Django's.
        with psycopg.Cursor(connection.connection) as bulk:
            self._write(bulk, rows, result)
        # The price feed (the timeseries alias, maybe another database): idempotent,
        # so a batch that fails after this and is redone writes nothing twice.
        trades = [t for r in records for t in r.get("trades", ())]
        if trades:
            result.ticks = ticks_write(trades)

    def bury(self, entry: Entry, exc: BaseException) -> BatchResult:
        """Move one entry that cannot be persisted to the dead-letter store, whole, and
        ProcessorState past it (its ``state`` merged in, as for a persisted entry: the
        counters, markets and assets it carries are the engine's), in one transaction."""
        entry_id, fields = _text(entry[0]), entry[1]
        error = error_text(exc)
        result = BatchResult(entries=1)
        first_seq, last_seq = _sequence(fields, "first_seq"), _sequence(fields, "last_seq")
        records: list[dict[str, Any]] | None
        after: dict[tuple[int, str], tuple[Decimal, Decimal, int]] | None
        try:
            records = json.loads(_field(fields, "records") or "[]")
            after = final_balances(records or [])
        except DATA_ERRORS:
            records, after = None, None  # unreadable: its balances are not known
        with transaction.atomic(), connection.cursor() as cursor:
            applied = self._lock_state(cursor)
            if last_seq and last_seq <= applied:
                result.skipped = 1
                result.last_seq = applied
                return result
            before: dict[tuple[int, str], tuple[Decimal, Decimal]] | None = None
            if records is not None and after is not None:
                try:
                    with transaction.atomic():  # a savepoint: the keys may be unstorable
                        work = self._previous_balances(
                            cursor, records, self.balances, below=first_seq or applied + 1
                        )
                    before = {key: work[key] for key in after}
                except DATA_ERRORS:
                    before = None
            dead = DeadLetter.objects.create(
                shard=self.shard,
                entry_id=entry_id[:64],
                first_seq=first_seq,
                last_seq=last_seq,
                fields=entry_to_json(fields),
                error=error,
                before="" if before is None else balances_to_json(before),
                after="" if after is None else balances_to_json(after),
            )
            moved_to = max(last_seq, applied)
            try:
                with transaction.atomic():
                    state = merged_state([(entry_id, moved_to, [], _field(fields, "state"))])
                    cursor.execute(
                        STATE_UPDATE,
                        {"last_seq": moved_to, "entry": entry_id, "state": state,
                         "shard": self.shard},
                    )  # fmt: skip
            except DATA_ERRORS as state_exc:
                logger.error(  # noqa: TRY400 - the cause is in the message, not a traceback
                    "%s: seq %d-%d: the entry's state cannot be stored either (%s); "
                    "ProcessorState moves past it without it",
                    self.name, first_seq, last_seq, error_text(state_exc),
                )  # fmt: skip
                cursor.execute(STATE_MOVE, [moved_to, entry_id, self.shard])
        logger.error(
            "%s: seq %d-%d (entry %s) cannot be persisted: %s; moved to the dead-letter "
            "store as %d (manage.py dead_letters show %d), the processor goes on",
            self.name, first_seq, last_seq, entry_id, error, dead.pk, dead.pk,
            extra={"seq": last_seq},
        )  # fmt: skip
        # committed: what follows builds on the entry's balances (the engine applied it)
        if after is None:
            self.balances.clear()  # unknown: read them again, from the database
        else:
            self.balances.update({key: value[:2] for key, value in after.items()})
        self._last_entry_id = entry_id
        self._last_seq = moved_to
        result.dead = 1
        result.last_seq = moved_to
        return result

    def retry(self, dead_letter_id: int) -> tuple[bool, str]:
        """Re-apply one dead entry of this shard through the same code; on success the
        dead letter is deleted in the same transaction (so it is applied once).
        Returns (persisted, error); on a failure the dead letter keeps the new error.

        The entry's rows go in under the usual guards (an order or a balance only moves
        forward by sequence: a newer row that a later entry wrote stays), and its ledger
        rows are derived from the balances stored when it died, so the ledger still adds
        up to the balances. ProcessorState does not move (it is past the entry)."""
        result = BatchResult(entries=1)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                self._lock_state(cursor)  # one writer per shard: the processor waits
                dead = (
                    DeadLetter.objects.select_for_update()
                    .filter(pk=dead_letter_id, shard=self.shard)
                    .first()
                )
                if dead is None:
                    return False, f"no dead letter {dead_letter_id} on shard {self.shard}"
                fields = entry_from_json(dead.fields)
                records = json.loads(_field(fields, "records") or "[]")
                known = {
                    (int(u), a): (Decimal(available), Decimal(locked))
                    for u, a, available, locked in json.loads(dead.before or "[]")
                }
                work = self._previous_balances(cursor, records, known, below=dead.first_seq)
                self._persist_records(cursor, records, work, result)
                dead.delete()
        except DATA_ERRORS as exc:
            error = error_text(exc)
            DeadLetter.objects.filter(pk=dead_letter_id).update(
                error=error, attempts=F("attempts") + 1, last_attempt_at=timezone.now()
            )
            logger.error(  # noqa: TRY400 - the cause is in the message
                "%s: dead letter %d (seq %s) failed again: %s",
                self.name, dead_letter_id, _dead_range(dead_letter_id), error,
            )  # fmt: skip
            return False, error
        logger.info(
            "%s: dead letter %d (seq %d-%d) persisted: %d rows, %d ledger entries",
            self.name, dead_letter_id, dead.first_seq, dead.last_seq, result.rows, result.ledger,
        )  # fmt: skip
        return True, ""

    def _previous_balances(
        self,
        cursor: Any,
        records: list[dict[str, Any]],
        known: dict[tuple[int, str], tuple[Decimal, Decimal]],
        *,
        below: int,
    ) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
        """The balance before the records of every key they touch: ``known`` (the
        cache), else the newer of the database's row and the final balance in a dead
        entry below sequence ``below`` (one query each for all the missing keys), else
        zero."""
        touched = {(int(b["user_id"]), b["asset"]) for r in records for b in r.get("balances", ())}
        work: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}
        missing = []
        for key in touched:
            cached = known.get(key)
            if cached is None:
                missing.append(key)
            else:
                work[key] = cached
        if missing:
            found: dict[tuple[int, str], tuple[Decimal, Decimal, int]] = {}
            cursor.execute(BALANCE_SELECT, [[k[0] for k in missing], [k[1] for k in missing]])
            for user_id, asset, available, locked, sequence in cursor.fetchall():
                found[(user_id, asset)] = (available, locked, sequence)
            cursor.execute(DEAD_AFTER_SELECT, [self.shard, below])
            wanted = set(missing)
            for (text,) in cursor.fetchall():
                for user_id, asset, available, locked, sequence in json.loads(text):
                    key = (int(user_id), asset)
                    if key in wanted and int(sequence) > found.get(key, (ZERO, ZERO, -1))[2]:
                        found[key] = (Decimal(available), Decimal(locked), int(sequence))
            for key in missing:
                value = found.get(key)
                work[key] = (ZERO, ZERO) if value is None else value[:2]
        return work

    def _rows(
        self,
        records: list[dict[str, Any]],
        work: dict[tuple[int, str], tuple[Decimal, Decimal]],
        result: BatchResult,
    ) -> _Rows:
        rows = _Rows()
        fee_account = self.fee_account
        orders = rows.orders
        add_trade = rows.trades.append
        add_ledger = rows.ledger.append
        when = EPOCH
        last_ts = None
        for record in records:
            seq = int(record["seq"])
            ts = int(record.get("ts") or 0)
            result.commands += 1
            result.last_ts = ts
            if "rejected" in record:
                continue
            if ts != last_ts:  # the ledger's time, as "epoch + ts ms" in SQL
                when = EPOCH + timedelta(milliseconds=ts)
                last_ts = ts
            market_orders: set[int] = set()
            user_orders: dict[int, list[int]] = {}
            priorities = record.get("priorities") or {}
            for o in record.get("orders", ()):
                order_id = int(o["id"])
                user = int(o["user_id"])
                order_type = o["type"]
                if order_type == "market":
                    market_orders.add(order_id)
                mine = user_orders.get(user)
                if mine is None:
                    user_orders[user] = [order_id]
                else:
                    mine.append(order_id)
                sequence = int(o.get("sequence", seq))
                known = orders.get(order_id)
                if known is None or known[-1] <= sequence:
                    price = o.get("price")
                    average_price = o.get("average_price")
                    stop_price = o.get("stop_price")
                    list_id = o.get("order_list_id")
                    priority = priorities.get(str(order_id))
                    orders[order_id] = (
                        order_id,
                        user,
                        o.get("client_order_id"),
                        o["symbol"],
                        o["side"],
                        order_type,
                        o["time_in_force"],
                        bool(o.get("post_only", False)),
                        None if price is None else Decimal(price),
                        Decimal(o["quantity"]),
                        Decimal(o["filled_quantity"]),
                        Decimal(o.get("filled_quote_quantity") or 0),
                        None if average_price is None else Decimal(average_price),
                        o["status"],
                        int(o["created_at_ms"]),
                        int(o["updated_at_ms"]),
                        None if stop_price is None else Decimal(stop_price),
                        None if list_id is None else int(list_id),
                        None if priority is None else int(priority),
                        sequence,  # last: the newest state of an order wins
                    )
            # explicit movements of this command, per (user, asset): [available, locked]
            moved: dict[tuple[int, str], list[Decimal]] = {}
            # (user, asset, cause, available, locked, trade id, order id), zeros left out
            moves: list[tuple[Any, ...]] = []
            for t in record.get("trades", ()):
                trade_id = int(t["id"])
                quantity = Decimal(t["quantity"])
                quote_quantity = Decimal(t["quote_quantity"])
                maker_fee = Decimal(t["maker_fee"])
                taker_fee = Decimal(t["taker_fee"])
                maker_user, taker_user = int(t["maker_user_id"]), int(t["taker_user_id"])
                maker_order, taker_order = int(t["maker_order_id"]), int(t["taker_order_id"])
                taker_side = t["taker_side"]
                maker_fee_asset, taker_fee_asset = t["maker_fee_asset"], t["taker_fee_asset"]
                add_trade(
                    (
                        trade_id,
                        t["symbol"],
                        Decimal(t["price"]),
                        quantity,
                        quote_quantity,
                        taker_side,
                        maker_order,
                        taker_order,
                        maker_user,
                        taker_user,
                        maker_fee,
                        maker_fee_asset,
                        taker_fee,
                        taker_fee_asset,
                        int(t["time_ms"]),
                        int(t.get("sequence", seq)),
                    )
                )
                # each side's fee is in what it receives: the buyer's in base, the
                # seller's in quote
                if taker_side == "buy":
                    buyer, buyer_order, buyer_fee = taker_user, taker_order, taker_fee
                    seller, seller_order, seller_fee = maker_user, maker_order, maker_fee
                    base, quote = taker_fee_asset, maker_fee_asset
                    # a market-order taker pays from available
                    buyer_pays_available = taker_order in market_orders
                else:
                    buyer, buyer_order, buyer_fee = maker_user, maker_order, maker_fee
                    seller, seller_order, seller_fee = taker_user, taker_order, taker_fee
                    base, quote = maker_fee_asset, taker_fee_asset
                    buyer_pays_available = False
                moves += (
                    # buyer: receives base (less its fee), pays quote
                    (buyer, base, "trade", quantity, ZERO, trade_id, buyer_order),
                    (buyer, base, "fee", -buyer_fee, ZERO, trade_id, buyer_order),
                    (buyer, quote, "trade", -quote_quantity, ZERO, trade_id, buyer_order)
                    if buyer_pays_available
                    else (buyer, quote, "trade", ZERO, -quote_quantity, trade_id, buyer_order),
                    # seller: receives quote (less its fee), pays base from locked
                    (seller, quote, "trade", quote_quantity, ZERO, trade_id, seller_order),
                    (seller, quote, "fee", -seller_fee, ZERO, trade_id, seller_order),
                    (seller, base, "trade", ZERO, -quantity, trade_id, seller_order),
                    # the fee account collects both fees
                    (fee_account, base, "fee", buyer_fee, ZERO, trade_id, None),
                    (fee_account, quote, "fee", seller_fee, ZERO, trade_id, None),
                )
            for tr in record.get("transfers", ()):
                user, asset, kind = int(tr["user_id"]), tr["asset"], tr["kind"]
                amount = Decimal(tr["amount"])
                rows.transfers.append((user, asset, kind, amount, seq, ts))
                moves.append(
                    (user, asset, kind, amount if kind == "deposit" else -amount, ZERO, None, None)
                )
            for user, asset, cause, d_avail, d_locked, trade_id, order_id in moves:
                if not d_avail and not d_locked:
                    continue
                key = (user, asset)
                acc = moved.get(key)
                if acc is None:
                    moved[key] = [ZERO + d_avail, ZERO + d_locked]
                else:
                    acc[0] += d_avail
                    acc[1] += d_locked
                add_ledger((user, asset, cause, d_avail, d_locked, seq, trade_id, order_id, when))

            for b in record.get("balances", ()):
                key = (int(b["user_id"]), b["asset"])
                available, locked = Decimal(b["available"]), Decimal(b["locked"])
                before_avail, before_locked = work[key]
                work[key] = (available, locked)
                rows.balances[key] = (key[0], key[1], available, locked, seq)
                explicit = moved.pop(key, None)
                if explicit is None:
                    rest_avail = available - before_avail
                    rest_locked = locked - before_locked
                else:
                    rest_avail = available - before_avail - explicit[0]
                    rest_locked = locked - before_locked - explicit[1]
                if not rest_avail and not rest_locked:
                    continue
                if rest_avail != -rest_locked:
                    logger.error(
                        "seq %d: user %s %s changed by available %s locked %s beyond its "
                        "trades, fees and transfers: not a move between available and locked",
                        seq,
                        key[0],
                        key[1],
                        rest_avail,
                        rest_locked,
                    )
                    result.mismatches.append(seq)
                mine = user_orders.get(key[0], [])
                add_ledger(
                    (
                        key[0],
                        key[1],
                        "lock" if rest_locked > 0 else "unlock",
                        rest_avail,
                        rest_locked,
                        seq,
                        None,
                        mine[0] if len(mine) == 1 else None,
                        when,
                    )
                )
            for key, (d_avail, d_locked) in moved.items():
                if d_avail or d_locked:
                    logger.error(
                        "seq %d: user %s %s moved (%s, %s) but the record has no balance for it",
                        seq,
                        key[0],
                        key[1],
                        d_avail,
                        d_locked,
                    )
                    result.mismatches.append(seq)
        return rows

    def _write(self, cursor: Any, rows: _Rows, result: BatchResult) -> None:
        cursor.execute(TEMP_SETUP)
        for table, data, statement in (
            ("pg_temp.dbprocessor_order", rows.orders.values(), ORDER_UPSERT),
            ("pg_temp.dbprocessor_trade", rows.trades, TRADE_INSERT),
            ("pg_temp.dbprocessor_balance", rows.balances.values(), BALANCE_UPSERT),
            ("pg_temp.dbprocessor_transfer", rows.transfers, TRANSFER_INSERT),
        ):
            if data:
                _copy(cursor, f"COPY {table} FROM STDIN (FORMAT BINARY)", COPY_TYPES[table], data)
                cursor.execute(statement)
        if rows.ledger:
            _copy(cursor, LEDGER_COPY, LEDGER_TYPES, rows.ledger)
        result.orders = len(rows.orders)
        result.trades = len(rows.trades)
        result.balances = len(rows.balances)
        result.transfers = len(rows.transfers)
        result.ledger = len(rows.ledger)


def _entry_ms(entry_id: Any) -> int:
    """The time part of a stream entry id (``<ms>-<n>``: the engine's XADD uses ``*``)."""
    return int(_text(entry_id).split("-", 1)[0])


def _dead_range(dead_letter_id: int) -> str:
    dead = DeadLetter.objects.filter(pk=dead_letter_id).values_list("first_seq", "last_seq")
    row = dead.first()
    return "?" if row is None else f"{row[0]}-{row[1]}"


def _copy(cursor: Any, statement: str, types: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        write = copy.write_row
        for row in rows:
            write(row)


def processor_for(shard: int, **options: Any) -> DbProcessor:
    """A processor on the configured Redis, crediting fees to the fee account."""
    from django.conf import settings

    from accounts.selectors import fee_account_id

    return DbProcessor(
        shard,
        connection_=redis.Redis.from_url(settings.REDIS_URL),
        fee_account=fee_account_id(),
        **options,
    )
