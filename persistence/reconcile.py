"""Reconcile: the engine's live state against the database and the read model
(``manage.py reconcile``; docs/architecture.md, "After the engine").

1. Ask the engine for a dump (the ``Dump`` command, EngineRuntime.dump): its balances and
   open orders after sequence S, written to a Redis key. Not a core command, not logged.
2. In one Redis MULTI, read the stream's last entry and the read model of every user in
   the dump; if the stream's last sequence is S, nothing was applied since the dump, and
   the read model (rm:bal, rm:open) must equal the dump. Otherwise it is skipped.
3. Wait until the DB processor has committed S (``ProcessorState.last_seq >= S``).
4. In one REPEATABLE READ transaction, compare the dump with the database row by row,
   where the row's ``sequence`` is at most S (a row changed after S cannot be compared;
   it is counted as skipped): balances, and the open orders of the shard's markets both
   ways. Then, per asset, the sum of all balances (the fee account included) with
   deposits minus withdrawals (accounts.Transfer), and the engine's own totals with its
   net deposits.
5. Every entry of the shard in the DB processor's dead-letter store is a difference too:
   the database lacks what it did until it is retried (``manage.py dead_letters``).

Every difference is a :class:`Difference` (what, user, key, engine value, database
value); the command prints them as a table and exits 1 if there is any.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from accounts.models import Balance, Transfer
from apikit.errors import ExchangeError
from engine_worker.core.types import OPEN_STATUSES
from infra import keys
from marketdata.units import CONTEXT, DEFAULT_DECIMALS, plain, units_to_decimal
from orders.models import Order
from persistence.deadletters import RETRY_HINT, dead_letters, sequence_range
from persistence.models import ProcessorState

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
# an open order's fields the engine's dump and the database must agree on: priority is its
# queue place (a row from before priorities has none: its id), order_list_id its OCO list
ORDER_FIELDS = (
    "user_id", "symbol", "side", "type", "price", "stop_price", "quantity", "filled_quantity",
    "status", "order_list_id", "priority",
)  # fmt: skip
DECIMAL_FIELDS = ("price", "stop_price", "quantity", "filled_quantity")


class EngineNotAnswering(Exception):
    """The engine did not answer the dump request (down, or too slow)."""


class DatabaseBehind(Exception):
    """The DB processor did not reach the dump's sequence in time."""


@dataclass(frozen=True)
class Difference:
    what: str  # balance, order, total, read model, dead letter
    user: str  # user id, or "" for a total
    key: str  # asset, or "order <id> <field>"
    engine: str
    database: str  # or the read model's value for "read model" rows


@dataclass
class Report:
    shard: int
    sequence: int = 0
    balances_compared: int = 0
    orders_compared: int = 0
    skipped: int = 0  # rows changed after the dump's sequence
    read_model_compared: bool = False
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value)


def _text(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return plain(value)


def _dump_balances(dump: dict[str, Any]) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    out = {}
    for user_id, asset, available, locked, decimals in dump["balances"]:
        out[(int(user_id), asset)] = (
            units_to_decimal(int(available), decimals),
            units_to_decimal(int(locked), decimals),
        )
    return out


class Reconciler:
    """One reconcile run of one shard. ``progress`` receives a line now and then."""

    def __init__(
        self,
        shard: int,
        *,
        connection_: redis.Redis | None = None,
        engine_timeout: float = 10.0,
        db_timeout: float = 30.0,
        progress_every: int = 10_000,
        progress: Callable[[str], None] = logger.info,
    ) -> None:
        self.shard = shard
        self.redis = connection_ or redis.Redis.from_url(settings.REDIS_URL)
        self.engine_timeout = engine_timeout
        self.db_timeout = db_timeout
        self.progress_every = progress_every
        self.progress = progress

    def run(self) -> Report:
        report = Report(self.shard)
        dump = self.engine_dump()
        report.sequence = int(dump["sequence"])
        engine_balances = _dump_balances(dump)
        self.progress(
            f"engine shard {self.shard}: {len(engine_balances)} balances and "
            f"{len(dump['orders'])} open orders at sequence {report.sequence}"
        )
        self.compare_read_model(dump, engine_balances, report)
        self.wait_for_database(report.sequence)
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost:  # one snapshot for every read below
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self.compare_balances(engine_balances, report)
            self.compare_orders(dump, report)
            self.compare_totals(dump, engine_balances, report)
            self.report_dead_letters(report)
        return report

    # -- the engine -------------------------------------------------------------------

    def engine_dump(self) -> dict[str, Any]:
        from engine_client import commands
        from engine_client.gateway import get_gateway, now_ms

        try:
            gateway = get_gateway()
            command = commands.stamped(
                commands.dump(), request_id=gateway.new_request_id(), ts=now_ms()
            )
            reply = gateway.call(self.shard, command, timeout=self.engine_timeout)
        except ExchangeError as exc:
            raise EngineNotAnswering(f"engine shard {self.shard}: {exc.message}") from exc
        if not reply.get("ok") or "key" not in reply:
            raise EngineNotAnswering(
                f"engine shard {self.shard} cannot dump its state: "
                f"{reply.get('code')} {reply.get('message')} (an engine older than reconcile?)"
            )
        raw = self.redis.get(reply["key"])
        if raw is None:
            raise EngineNotAnswering(f"the engine's dump {reply['key']} is missing")
        dump = json.loads(raw)
        if int(dump["sequence"]) != int(reply["sequence"]):
            raise EngineNotAnswering("the engine's dump was replaced while it was read; retry")
        return dump

    # -- the read model ---------------------------------------------------------------

    def compare_read_model(
        self,
        dump: dict[str, Any],
        engine_balances: dict[tuple[int, str], tuple[Decimal, Decimal]],
        report: Report,
    ) -> None:
        users = sorted({u for u, _ in engine_balances} | {o["user_id"] for o in dump["orders"]})
        pipe = self.redis.pipeline(transaction=True)
        pipe.xrevrange(keys.events_stream(self.shard), count=1)
        for user_id in users:
            pipe.hgetall(keys.rm_balances(user_id))
            pipe.zrange(keys.rm_open_orders(user_id), 0, -1)
        results = pipe.execute()
        last = results[0]
        stream_seq = int(last[0][1][b"last_seq"]) if last else 0
        if stream_seq != report.sequence:
            self.progress(
                f"read model not compared: the engine moved on from {report.sequence} to "
                f"{stream_seq} while it was read"
            )
            return
        report.read_model_compared = True
        open_by_user: dict[int, set[int]] = {}
        for o in dump["orders"]:
            open_by_user.setdefault(o["user_id"], set()).add(o["id"])
        diffs = report.differences
        for i, user_id in enumerate(users):
            raw_balances, raw_open = results[1 + 2 * i], results[2 + 2 * i]
            model = {}
            for asset, body in raw_balances.items():
                b = json.loads(body)
                model[asset.decode()] = (_dec(b["available"]), _dec(b["locked"]))
            assets = {a for u, a in engine_balances if u == user_id} | set(model)
            for asset in sorted(assets):
                engine = engine_balances.get((user_id, asset), (ZERO, ZERO))
                seen = model.get(asset, (ZERO, ZERO))
                if engine != seen:
                    diffs.append(
                        Difference(
                            "read model balance",
                            str(user_id),
                            asset,
                            f"{_text(engine[0])} / {_text(engine[1])}",
                            f"{_text(seen[0])} / {_text(seen[1])}",
                        )
                    )
            model_open = {int(x) for x in raw_open}
            engine_open = open_by_user.get(user_id, set())
            for order_id in sorted(engine_open ^ model_open):
                diffs.append(
                    Difference(
                        "read model order",
                        str(user_id),
                        f"order {order_id}",
                        "open" if order_id in engine_open else "not open",
                        "open" if order_id in model_open else "not open",
                    )
                )

    # -- the database -----------------------------------------------------------------

    def wait_for_database(self, sequence: int) -> None:
        deadline = time.monotonic() + self.db_timeout
        next_line = 0.0
        while True:
            state = ProcessorState.objects.filter(shard=self.shard).first()
            last_seq = state.last_seq if state else 0
            if last_seq >= sequence:
                return
            now = time.monotonic()
            if now > deadline:
                raise DatabaseBehind(
                    f"the database is at sequence {last_seq} after {self.db_timeout:.0f}s, "
                    f"short of the engine's {sequence}: is the DB processor running?"
                )
            if now >= next_line:
                self.progress(f"waiting for the database: at {last_seq} of {sequence}")
                next_line = now + 2.0
            time.sleep(0.1)

    def _tick(self, done: int, what: str) -> None:
        if self.progress_every and done % self.progress_every == 0:
            self.progress(f"{done} {what} compared")

    def compare_balances(
        self,
        engine_balances: dict[tuple[int, str], tuple[Decimal, Decimal]],
        report: Report,
    ) -> None:
        seen: set[tuple[int, str]] = set()
        diffs = report.differences
        rows = Balance.objects.values_list("user_id", "asset", "available", "locked", "sequence")
        for user_id, asset, available, locked, sequence in rows.iterator(chunk_size=5000):
            key = (user_id, asset)
            seen.add(key)
            if sequence > report.sequence:
                report.skipped += 1
                continue
            report.balances_compared += 1
            self._tick(report.balances_compared, "balances")
            engine = engine_balances.get(key, (ZERO, ZERO))
            if engine != (available, locked):
                diffs.append(
                    Difference(
                        "balance",
                        str(user_id),
                        asset,
                        f"{_text(engine[0])} / {_text(engine[1])}",
                        f"{_text(available)} / {_text(locked)}",
                    )
                )
        for (user_id, asset), (available, locked) in sorted(engine_balances.items()):
            if (user_id, asset) not in seen and (available or locked):
                diffs.append(
                    Difference(
                        "balance",
                        str(user_id),
                        asset,
                        f"{_text(available)} / {_text(locked)}",
                        "missing",
                    )
                )

    def compare_orders(self, dump: dict[str, Any], report: Report) -> None:
        engine_orders = {int(o["id"]): o for o in dump["orders"]}
        state = (
            ProcessorState.objects.filter(shard=self.shard)
            .values_list("engine_state", flat=True)
            .first()
        ) or {}
        symbols = sorted(set(state.get("markets", {})) | {o["symbol"] for o in dump["orders"]})
        diffs = report.differences
        db_open = Order.objects.filter(status__in=OPEN_STATUSES, symbol__in=symbols).values_list(
            "id", *ORDER_FIELDS, "sequence"
        )
        seen: set[int] = set()
        for row in db_open.iterator(chunk_size=5000):
            order_id, sequence = row[0], row[-1]
            seen.add(order_id)
            if sequence > report.sequence:
                report.skipped += 1
                continue
            report.orders_compared += 1
            self._tick(report.orders_compared, "orders")
            engine = engine_orders.get(order_id)
            if engine is None:
                diffs.append(
                    Difference("order", str(row[1]), f"order {order_id}", "not open", "open")
                )
                continue
            self._compare_order(
                order_id, engine, dict(zip(ORDER_FIELDS, row[1:-1], strict=True)), diffs
            )
        # engine open orders the database does not show open
        others = {i: o for i, o in engine_orders.items() if i not in seen}
        if others:
            rows = Order.objects.filter(id__in=list(others)).values_list(
                "id", *ORDER_FIELDS, "sequence"
            )
            found = {r[0]: r for r in rows}
            for order_id, engine in sorted(others.items()):
                row = found.get(order_id)
                if row is not None and row[-1] > report.sequence:
                    report.skipped += 1
                    continue
                report.orders_compared += 1
                database = "missing" if row is None else row[1 + ORDER_FIELDS.index("status")]
                diffs.append(
                    Difference(
                        "order", str(engine["user_id"]), f"order {order_id}", "open", database
                    )
                )

    @staticmethod
    def _compare_order(
        order_id: int, engine: dict[str, Any], row: dict[str, Any], diffs: list[Difference]
    ) -> None:
        for name in ORDER_FIELDS:
            mine, theirs = engine[name], row[name]
            if name == "priority" and theirs is None:
                theirs = order_id
            if isinstance(theirs, Decimal) or name in DECIMAL_FIELDS:
                equal = (mine is None and theirs is None) or (
                    mine is not None and theirs is not None and Decimal(mine) == theirs
                )
                theirs_text = _text(theirs) if theirs is not None else "-"
            else:
                equal = mine == theirs
                theirs_text = str(theirs)
            if not equal:
                diffs.append(
                    Difference(
                        "order",
                        str(engine["user_id"]),
                        f"order {order_id} {name}",
                        "-" if mine is None else str(mine),
                        theirs_text,
                    )
                )

    def compare_totals(
        self,
        dump: dict[str, Any],
        engine_balances: dict[tuple[int, str], tuple[Decimal, Decimal]],
        report: Report,
    ) -> None:
        with localcontext(CONTEXT):  # sums of 38-digit amounts, exactly
            self._compare_totals(dump, engine_balances, report)

    def _compare_totals(
        self,
        dump: dict[str, Any],
        engine_balances: dict[tuple[int, str], tuple[Decimal, Decimal]],
        report: Report,
    ) -> None:
        held: dict[str, Decimal] = {}
        for row in Balance.objects.values("asset").annotate(a=Sum("available"), l=Sum("locked")):
            held[row["asset"]] = _dec(row["a"]) + _dec(row["l"])
        moved: dict[str, Decimal] = {}
        for row in Transfer.objects.values("asset", "kind").annotate(total=Sum("amount")):
            sign = 1 if row["kind"] == Transfer.Kind.DEPOSIT else -1
            moved[row["asset"]] = moved.get(row["asset"], ZERO) + sign * _dec(row["total"])
        diffs = report.differences
        for asset in sorted(held.keys() | moved.keys()):
            h, m = held.get(asset, ZERO), moved.get(asset, ZERO)
            if h != m:
                diffs.append(
                    Difference(
                        "total (balances vs deposits - withdrawals)",
                        "",
                        asset,
                        "",
                        f"{_text(h)} vs {_text(m)}",
                    )
                )
        engine_held: dict[str, Decimal] = {}
        for (_, asset), (available, locked) in engine_balances.items():
            engine_held[asset] = engine_held.get(asset, ZERO) + available + locked
        decimals = {asset: d for _, asset, _, _, d in dump["balances"]}
        for asset, units in sorted(dump.get("net_deposits", {}).items()):
            net = units_to_decimal(int(units), decimals.get(asset, DEFAULT_DECIMALS))
            if engine_held.get(asset, ZERO) != net:
                diffs.append(
                    Difference(
                        "engine total (balances vs net deposits)",
                        "",
                        asset,
                        f"{_text(engine_held.get(asset, ZERO))} vs {_text(net)}",
                        "",
                    )
                )

    def report_dead_letters(self, report: Report) -> None:
        """The shard's dead letters: entries whose effects the database lacks."""
        for dead in dead_letters(self.shard):
            report.differences.append(
                Difference(
                    "dead letter",
                    "",
                    f"seq {sequence_range(dead)}",
                    "applied",
                    f"not persisted ({dead.error[:80]}); retry: " + RETRY_HINT.format(id=dead.pk),
                )
            )


def format_table(differences: list[Difference]) -> str:
    header = ("what", "user", "asset / order", "engine", "database")
    rows = [header, *((d.what, d.user, d.key, d.engine, d.database) for d in differences)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def record_outcome(
    shard: int, *, differences: int | None, connection_: redis.Redis | None = None
) -> None:
    """Keep the outcome of a reconcile run of ``shard`` in Redis for /metrics
    (exchange_reconcile_*): when it ran, how many differences it found (None: it could
    not finish, the engine did not answer or the database did not catch up) and, when it
    found none, that time as the last success."""
    client = connection_ or redis.Redis.from_url(settings.REDIS_URL)
    now = f"{time.time():.3f}"
    fields = {
        "last_run": now,
        "finished": "1" if differences is not None else "0",
        "differences": str(differences or 0),
    }
    if differences == 0:
        fields["last_success"] = now
    try:
        client.hset(keys.reconcile_result(shard), mapping=fields)
    except redis.RedisError as exc:
        logger.warning("reconcile: could not record the outcome for /metrics (%s)", exc)
