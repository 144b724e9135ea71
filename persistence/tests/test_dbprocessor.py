"""The DB processor against the real PostgreSQL and Redis: what it writes from the engine's
stream (docs/event-stream.md), that replays change nothing, that the ledger adds up to
the balances, and that a kill -9 mid-batch loses and doubles nothing.

Streams are written by a real :class:`EngineRuntime` (the engine worker's code) in this
process, on shards of their own and with ids far above the engine subprocess's, so the
read model of the session's engine is not disturbed; the end-to-end test uses the engine
subprocess itself."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from accounts.models import Balance, LedgerEntry, Transfer
from accounts.selectors import fee_account_id
from engine_worker.core.engine import Engine
from engine_worker.core.types import OPEN_STATUSES
from engine_worker.runtime import EngineRuntime
from infra import keys
from marketdata.units import MarketUnits, market_units_to_wire, plain
from orders.models import Order, Trade
from persistence.dbprocessor import GROUP, DbProcessor
from persistence.models import ProcessorState

ROOT = Path(__file__).resolve().parents[2]
ID_BASE = 10**12  # order and trade ids of the in-process engines: far from the subprocess's
USER_BASE = 5_000_000
DECIMALS = 8


def test_units(symbol: str) -> MarketUnits:
    return MarketUnits(
        symbol=symbol,
        base="BTC",
        quote="USDT",
        base_decimals=DECIMALS,
        quote_decimals=DECIMALS,
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_quantity=Decimal("0.00001"),
        max_quantity=Decimal("1000"),
        min_notional=Decimal("1"),
        maker_fee_bps=10,
        taker_fee_bps=20,
        status="trading",
        shard=0,
    )


test_units.__test__ = False  # type: ignore[attr-defined]


class Flow:
    """A realistic command flow through a real EngineRuntime writing shard ``shard``'s
    stream: funded users, resting limit orders around a mid price, crossing limit and
    market orders, stop orders and OCO lists near the mid (they trigger), amends, cancels,
    and now and then a deposit or a withdrawal."""

    def __init__(
        self,
        conn: redis.Redis,
        shard: int,
        *,
        fee_account: int,
        users: int = 20,
        seed: int = 1,
        symbol: str | None = None,
        user_base: int = USER_BASE,
    ) -> None:
        self.redis = conn
        self.shard = shard
        conn.delete(keys.events_stream(shard), keys.commands_stream(shard))
        self.runtime = EngineRuntime(shard, fee_account=fee_account, connection=conn)
        self.runtime.engine = Engine(
            fee_account=fee_account, next_order_id=ID_BASE, next_trade_id=ID_BASE
        )
        self.rng = random.Random(seed)
        self.symbol = symbol or f"DBP{os.getpid()}S{shard}_USDT"
        self.users = [user_base + shard * 10_000 + i for i in range(users)]
        self.requests = 0
        self.open: list[tuple[int, int]] = []  # (user, order id) that may rest
        self.apply(
            [self._command("AddMarket", market=market_units_to_wire(test_units(self.symbol)))]
        )
        self.apply(
            [
                self._command(
                    "Deposit", user_id=u, asset=a, amount=amount * 10**DECIMALS, decimals=DECIMALS
                )
                for u in self.users
                for a, amount in (("USDT", 10_000_000), ("BTC", 1_000))
            ]
        )

    def _command(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.requests += 1
        return {
            "kind": kind,
            "request_id": f"dbp-{self.shard}-{self.requests}",
            "ts": time.time_ns() // 1_000_000,
            **fields,
        }

    def apply(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        replies = self.runtime.apply_batch(commands, reply_to=None)
        for reply in replies:
            orders = reply.get("order_list", {}).get("orders", []) + [reply.get("order")]
            for order in orders:
                if order and order["status"] in OPEN_STATUSES:
                    self.open.append((order["user_id"], order["id"]))
        return replies

    def command(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        user = rng.choice(self.users)
        if roll < 0.15 and self.open:
            owner, order_id = self.open.pop(rng.randrange(len(self.open)))
            return self._command("CancelOrder", user_id=owner, order_id=order_id)
        if roll < 0.17:
            kind = rng.choice(("Deposit", "Withdraw"))
            return self._command(
                kind,
                user_id=user,
                asset=rng.choice(("USDT", "BTC")),
                amount=rng.randint(1, 10**9),
                decimals=DECIMALS,
            )
        side = rng.choice(("buy", "sell"))
        quantity = rng.randint(10, 500)
        away = rng.randint(1, 800) * (1 if side == "buy" else -1)  # a stop beyond the mid
        if roll < 0.21 and self.open:
            owner, order_id = rng.choice(self.open)
            return self._command(
                "AmendOrder",
                user_id=owner,
                order_id=order_id,
                quantity=rng.choice((None, rng.randint(10, 600))),
                price=rng.choice((None, None, 3_000_000 + rng.randint(-1_500, 1_500))),
            )
        if roll < 0.25:
            stop_market = rng.random() < 0.4
            return self._command(
                "PlaceOrder",
                user_id=user,
                symbol=self.symbol,
                side=side,
                type="stop_market" if stop_market else "stop_limit",
                time_in_force="GTC",
                price=0 if stop_market else 3_000_000 + away + rng.randint(-200, 200),
                quantity=quantity,
                post_only=False,
                client_order_id=None,
                stop_price=3_000_000 + away,
            )
        if roll < 0.27:
            return self._command(
                "PlaceOrderList",
                user_id=user,
                symbol=self.symbol,
                side=side,
                quantity=quantity,
                price=3_000_000 - away,
                stop_price=3_000_000 + away,
                stop_limit_price=rng.choice((None, 3_000_000 + 2 * away)),
            )
        if roll < 0.32:
            return self._command(
                "PlaceOrder",
                user_id=user,
                symbol=self.symbol,
                side=side,
                type="market",
                time_in_force="IOC",
                price=0,
                quantity=quantity,
                post_only=False,
                client_order_id=None,
            )
        # resting orders a little away from the mid, crossing ones a little through it
        offset = rng.randint(-300, 2_000)
        price = 3_000_000 - offset if side == "buy" else 3_000_000 + offset
        return self._command(
            "PlaceOrder",
            user_id=user,
            symbol=self.symbol,
            side=side,
            type="limit",
            time_in_force="GTC",
            price=price,
            quantity=quantity,
            post_only=False,
            client_order_id=f"c{self.requests}" if rng.random() < 0.3 else None,
        )

    def run(self, commands: int, batch: int = 10) -> None:
        for _ in range(commands // batch):
            self.apply([self.command() for _ in range(batch)])

    def engine_balances(self) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
        scale = Decimal(10) ** -DECIMALS
        return {
            (user, asset): (Decimal(a) * scale, Decimal(locked) * scale)
            for user, asset, a, locked in self.runtime.engine.iter_balances()
        }


def entries(conn: redis.Redis, shard: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return conn.xrange(keys.events_stream(shard))


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row the processor writes, ids of auto-numbered tables left out."""
    ledger = LedgerEntry.objects.order_by("id").values_list(
        "user_id",
        "asset",
        "cause",
        "delta_available",
        "delta_locked",
        "sequence",
        "trade_id",
        "order_id",
        "time",
    )
    return {
        "orders": list(Order.objects.order_by("id").values_list()),
        "trades": list(Trade.objects.order_by("id").values_list()),
        "balances": list(
            Balance.objects.order_by("user_id", "asset").values_list(
                "user_id", "asset", "available", "locked", "sequence"
            )
        ),
        "transfers": list(
            Transfer.objects.order_by("sequence").values_list(
                "user_id", "asset", "kind", "amount", "sequence", "time"
            )
        ),
        "ledger": list(ledger),
        "state": list(ProcessorState.objects.values_list("shard", "last_seq", "last_entry_id")),
    }


def ledger_sums() -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    sums: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for user, asset, d_avail, d_locked in LedgerEntry.objects.values_list(
        "user_id", "asset", "delta_available", "delta_locked"
    ):
        sums[(user, asset)][0] += d_avail
        sums[(user, asset)][1] += d_locked
    return {k: (v[0], v[1]) for k, v in sums.items()}


def db_balances(users: set[int] | None = None) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    rows = Balance.objects.all()
    if users is not None:
        rows = rows.filter(user_id__in=users)
    return {(b.user_id, b.asset): (b.available, b.locked) for b in rows}


@pytest.fixture
def conn() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def processor(conn: redis.Redis, shard: int, **options: Any) -> DbProcessor:
    return DbProcessor(shard, connection_=conn, fee_account=fee_account_id(), **options)


@pytest.mark.django_db
def test_applying_the_same_entries_twice_changes_nothing(conn):
    flow = Flow(conn, 3, fee_account=fee_account_id(), users=8)
    flow.run(600)
    stream = entries(conn, 3)
    result = processor(conn, 3).apply(stream)
    assert result.trades > 0 and result.mismatches == []
    first = snapshot()
    assert first["state"] == [(3, flow.runtime.engine.next_seq - 1, stream[-1][0].decode())]

    again = processor(conn, 3).apply(stream)  # a fresh processor: empty balance cache
    assert (again.skipped, again.commands, again.rows) == (len(stream), 0, 0)
    assert snapshot() == first

    # even past the ProcessorState guard (as if it were lost), the row guards hold
    # for orders, trades, balances and transfers
    ProcessorState.objects.filter(shard=3).update(last_seq=0)
    processor(conn, 3).apply(stream[len(stream) // 2 :])
    replayed = snapshot()
    for table in ("orders", "trades", "balances", "transfers"):
        assert replayed[table] == first[table], table


@pytest.mark.django_db
def test_batches_of_any_size_write_the_same_rows(conn):
    flow = Flow(conn, 4, fee_account=fee_account_id(), users=6, seed=7)
    flow.run(300)
    stream = entries(conn, 4)
    proc = processor(conn, 4)
    proc.apply(stream)
    whole = snapshot()
    for table in (Order, Trade, Balance, Transfer, LedgerEntry, ProcessorState):
        table.objects.all().delete()
    proc = processor(conn, 4)
    for i in range(0, len(stream), 3):
        proc.apply(stream[i : i + 3])
    pieces = snapshot()
    pieces["ledger"].sort(key=repr)
    whole["ledger"].sort(key=repr)
    assert pieces == whole


@pytest.mark.django_db
def test_rows_match_the_engine_and_the_ledger_adds_up_to_the_balances(conn, caplog):
    flow = Flow(conn, 6, fee_account=fee_account_id(), users=10, seed=3)
    flow.run(1000)
    proc = processor(conn, 6, batch_size=37, block_ms=10)
    proc.ensure_group()
    conn.xgroup_setid(keys.events_stream(6), GROUP, "0")
    while proc.run_once():
        pass
    # the ledger's derivation holds for every command (a triggered stop-market buy pays
    # from its lock, not from available): nothing to log as a mismatch
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    # a triggered stop-market buy pays from its lock (a market order from available)
    stop_buys = Order.objects.filter(type="stop_market", side="buy").values_list("id", flat=True)
    paid = LedgerEntry.objects.filter(
        order_id__in=list(stop_buys), asset="USDT", cause="trade", delta_available__lt=0
    )
    from_lock = LedgerEntry.objects.filter(
        order_id__in=list(stop_buys), asset="USDT", cause="trade", delta_locked__lt=0
    )
    assert not paid.exists() and from_lock.exists()
    engine = flow.runtime.engine
    units = test_units(flow.symbol)
    kinds = set(Order.objects.values_list("type", "status").distinct())
    assert {("stop_limit", "pending"), ("stop_limit", "filled"), ("stop_market", "filled")} <= (
        kinds
    ), kinds
    rows = {
        r[0]: r[1:]
        for r in Order.objects.filter(status__in=OPEN_STATUSES).values_list(
            "id", "stop_price", "order_list_id", "priority", "quantity", "price"
        )
    }
    for o in engine.iter_open_orders():
        stop = units.ticks_to_price(o.stop_price) if o.stop_price else None
        price = units.ticks_to_price(o.price) if o.price else None
        want = (stop, o.order_list_id, o.priority, units.lots_to_quantity(o.quantity), price)
        got = rows[o.order_id]
        assert (
            None if got[0] is None else plain(got[0]),
            got[1],
            got[2],
            plain(got[3]),
            None if got[4] is None else plain(got[4]),
        ) == want
    balances = db_balances()
    assert balances == {k: v for k, v in flow.engine_balances().items()}
    assert ledger_sums() == balances
    assert Trade.objects.count() == engine.next_trade_id - ID_BASE
    open_ids = {o.order_id for o in engine.iter_open_orders()}
    assert (
        set(Order.objects.filter(status__in=OPEN_STATUSES).values_list("id", flat=True)) == open_ids
    )
    # causes: every kind of movement of this flow is there
    assert set(LedgerEntry.objects.values_list("cause", flat=True).distinct()) == {
        "deposit",
        "withdrawal",
        "lock",
        "unlock",
        "trade",
        "fee",
    }
    # transfers: one per applied deposit / withdrawal command
    assert Transfer.objects.filter(kind="deposit").count() >= len(flow.users) * 2
    assert conn.xpending(keys.events_stream(6), GROUP)["pending"] == 0


@pytest.mark.django_db
def test_trim_keeps_the_window_below_what_is_committed(conn):
    flow = Flow(conn, 8, fee_account=fee_account_id(), users=4, seed=5)
    flow.run(400, batch=2)  # 200 entries (+2)
    proc = processor(conn, 8, batch_size=150, trim_keep=50)
    proc.ensure_group()
    conn.xgroup_setid(keys.events_stream(8), GROUP, "0")
    proc.run_once()  # 150 entries committed
    committed = ProcessorState.objects.get(shard=8).last_entry_id
    removed = proc.trim()
    remaining = entries(conn, 8)
    ids = [i.decode() for i, _ in remaining]
    assert removed == 2 * (150 - 50)  # from the event stream and from the command log
    assert ids.index(committed) == 49  # the 50 up to the committed entry are kept
    assert len(remaining) == len(ids) - ids.index(committed) + 49  # and everything after
    assert conn.xlen(keys.commands_stream(8)) == len(remaining)  # one log entry per batch


def _entry(first_seq: int, last_seq: int, records: list[dict[str, Any]]) -> tuple[bytes, dict]:
    state = {"next_seq": last_seq + 1, "depth_seq": {}}
    return (
        f"{last_seq}-0".encode(),
        {
            b"first_seq": str(first_seq).encode(),
            b"last_seq": str(last_seq).encode(),
            b"records": json.dumps(records).encode(),
            b"state": json.dumps(state).encode(),
        },
    )


def _order(order_id: int, user: int, status: str, sequence: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "user_id": user,
        "client_order_id": 'tab\there back\\slash\nnew "line" é',
        "symbol": "HAND_USDT",
        "side": "buy",
        "type": "limit",
        "time_in_force": "GTC",
        "post_only": True,
        "price": "10.5",
        "quantity": "2",
        "filled_quantity": "0",
        "average_price": None,
        "status": status,
        "created_at_ms": 1_795_000_000_123,
        "updated_at_ms": 1_795_000_000_123 + sequence,
        "sequence": sequence,
        **fields,
    }


@pytest.mark.django_db
def test_hand_written_records_are_stored_exactly(conn):
    """Every column of every table, including text that needs quoting, nulls, a missing
    filled_quote_quantity, millisecond times, a rejected record and an older order state
    that must not overwrite a newer one."""
    user, order_id, ts = USER_BASE + 990_000, 3 * ID_BASE + 1, 1_795_000_000_500
    usdt = {"user_id": user, "asset": "USDT"}
    batch = [
        _entry(
            1,
            3,
            [
                {
                    "seq": 1,
                    "kind": "Deposit",
                    "ts": ts,
                    "transfers": [{**usdt, "kind": "deposit", "amount": "1000"}],
                    "balances": [{**usdt, "available": "1000", "locked": "0"}],
                },
                {
                    "seq": 2,
                    "kind": "PlaceOrder",
                    "ts": ts + 1,
                    "orders": [_order(order_id, user, "new", 2)],
                    "balances": [{**usdt, "available": "979", "locked": "21"}],
                },
                {"seq": 3, "kind": "PlaceOrder", "ts": ts + 2, "rejected": "post_only"},
            ],
        ),
        _entry(
            4,
            4,
            [
                {
                    "seq": 4,
                    "kind": "CancelOrder",
                    "ts": ts + 3,
                    "orders": [_order(order_id, user, "cancelled", 4)],
                    "balances": [{**usdt, "available": "1000", "locked": "0"}],
                }
            ],
        ),
    ]
    proc = processor(conn, 12)
    result = proc.apply(batch)
    assert (result.commands, result.orders, result.balances, result.transfers) == (4, 1, 1, 1)
    assert (result.ledger, result.mismatches, result.last_ts) == (3, [], ts + 3)
    # an older state of the order, in a later entry: the order does not move back
    proc.apply([_entry(5, 5, [{"seq": 5, "kind": "X", "ts": ts + 4,
                                "orders": [_order(order_id, user, "new", 2)]}])])  # fmt: skip

    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=1)
    order = Order.objects.get(id=order_id)
    assert order.client_order_id == 'tab\there back\\slash\nnew "line" é'
    assert (order.post_only, order.price, order.quantity, order.filled_quantity) == (
        True,
        Decimal("10.5"),
        Decimal(2),
        Decimal(0),
    )
    assert (order.filled_quote_quantity, order.average_price) == (Decimal(0), None)
    assert (order.status, order.sequence) == ("cancelled", 4)
    assert order.created_at == at + timedelta(milliseconds=1_795_000_000_122)
    assert order.updated_at == at + timedelta(milliseconds=1_795_000_000_126)
    assert db_balances({user}) == {(user, "USDT"): (Decimal(1000), Decimal(0))}
    assert Balance.objects.get(user_id=user).sequence == 4
    assert list(
        Transfer.objects.filter(user_id=user).values_list("kind", "amount", "sequence", "time")
    ) == [("deposit", Decimal(1000), 1, at + timedelta(milliseconds=ts - 1))]
    assert list(
        LedgerEntry.objects.filter(user_id=user)
        .order_by("id")
        .values_list("cause", "delta_available", "delta_locked", "sequence", "order_id", "time")
    ) == [
        ("deposit", Decimal(1000), Decimal(0), 1, None, at + timedelta(milliseconds=ts - 1)),
        ("lock", Decimal(-21), Decimal(21), 2, order_id, at + timedelta(milliseconds=ts)),
        ("unlock", Decimal(21), Decimal(-21), 4, order_id, at + timedelta(milliseconds=ts + 2)),
    ]
    assert ProcessorState.objects.get(shard=12).last_seq == 5


@pytest.mark.django_db
def test_a_failed_batch_writes_nothing_and_the_next_one_applies(conn):
    """A batch that fails part-way (an asset too long for its column) leaves no row
    behind, in the tables or in what the next batch writes."""
    user, ts = USER_BASE + 991_000, 1_795_000_000_500

    def deposit(seq: int, asset: str) -> tuple[bytes, dict]:
        return _entry(
            seq,
            seq,
            [
                {
                    "seq": seq,
                    "kind": "Deposit",
                    "ts": ts,
                    "transfers": [
                        {"user_id": user, "asset": asset, "kind": "deposit", "amount": "5"}
                    ],
                    "balances": [
                        {"user_id": user, "asset": asset, "available": "5", "locked": "0"}
                    ],
                }
            ],
        )

    with pytest.raises(psycopg.DataError):
        processor(conn, 13).apply([deposit(1, "USDT"), deposit(2, "A" * 40)])
    assert not Transfer.objects.filter(user_id=user).exists()
    assert not LedgerEntry.objects.filter(user_id=user).exists()
    assert not Balance.objects.filter(user_id=user).exists()
    processor(conn, 13).apply([deposit(1, "USDT"), deposit(2, "BTC")])
    assert db_balances({user}) == {
        (user, "USDT"): (Decimal(5), Decimal(0)),
        (user, "BTC"): (Decimal(5), Decimal(0)),
    }
    assert Transfer.objects.filter(user_id=user).count() == 2
    assert LedgerEntry.objects.filter(user_id=user).count() == 2
    assert ProcessorState.objects.get(shard=13).last_seq == 2


@pytest.mark.django_db
def test_end_to_end_two_traders_cross_through_the_engine(make_trader, market, conn):
    seller, buyer = make_trader(), make_trader()
    placed = seller.post(
        "/api/v1/orders",
        {"symbol": market, "side": "sell", "type": "limit", "price": "30000", "quantity": "0.01"},
        format="json",
    )
    assert placed.status_code == 201, placed.content
    taken = buyer.post(
        "/api/v1/orders",
        {"symbol": market, "side": "buy", "type": "limit", "price": "30100", "quantity": "0.01"},
        format="json",
    )
    assert taken.status_code == 201, taken.content
    stream = keys.events_stream(0)
    try:
        conn.xgroup_destroy(stream, GROUP)  # a fresh read of the whole stream
    except redis.ResponseError:
        pass
    proc = processor(conn, 0, block_ms=50)
    proc.setup()
    while proc.run_once():
        pass

    maker = Order.objects.get(id=placed.json()["order"]["id"])
    taker = Order.objects.get(id=taken.json()["order"]["id"])
    for order, side in ((maker, "sell"), (taker, "buy")):
        assert (order.side, order.status, order.filled_quantity) == (
            side,
            "filled",
            Decimal("0.01"),
        )
    assert maker.filled_quote_quantity == Decimal("300")
    trade = Trade.objects.get(symbol=market)
    assert (trade.price, trade.quantity, trade.quote_quantity) == (
        Decimal("30000"),
        Decimal("0.01"),
        Decimal("300"),
    )
    assert (trade.maker_user_id, trade.taker_user_id, trade.taker_side) == (
        seller.user_id,
        buyer.user_id,
        "buy",
    )
    # maker (seller) 10 bps of the quote it receives, taker (buyer) 20 bps of the base
    assert (trade.maker_fee, trade.maker_fee_asset) == (Decimal("0.3"), "USDT")
    assert (trade.taker_fee, trade.taker_fee_asset) == (Decimal("0.00002"), "BTC")

    sums = ledger_sums()
    for client in (seller, buyer):
        api = {
            b["asset"]: (Decimal(b["available"]), Decimal(b["locked"]))
            for b in client.get("/api/v1/balances").json()
        }
        mine = {a: v for (u, a), v in db_balances({client.user_id}).items()}
        assert mine == api
        assert {a: v for (u, a), v in sums.items() if u == client.user_id} == mine
        deposits = Transfer.objects.filter(user_id=client.user_id, kind="deposit")
        assert {t.asset: t.amount for t in deposits} == settings.SIGNUP_DEMO_FUNDS
    assert mine["BTC"] == (Decimal("1.00998"), Decimal(0))  # the buyer: +0.01 - 0.00002
    fee_account = fee_account_id()
    assert {k: v for k, v in sums.items() if k[0] == fee_account} == db_balances({fee_account})
    causes = set(
        LedgerEntry.objects.filter(user_id__in=[seller.user_id, buyer.user_id]).values_list(
            "cause", flat=True
        )
    )
    assert causes == {"deposit", "lock", "trade", "fee"}


def _database_url() -> str:
    s = connection.settings_dict
    auth = f"{s.get('USER') or 'postgres'}"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _last_seq(shard: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_seq FROM engine_worker_processorstate WHERE shard = %s", [shard]
        )
        row = cursor.fetchone()
    return row[0] if row else 0


@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_batch_then_restart_persists_every_trade_once(conn):
    shard = 9
    flow = Flow(conn, shard, fee_account=fee_account_id(), users=30, seed=11)
    flow.run(20_000, batch=10)
    engine = flow.runtime.engine
    final_seq = engine.next_seq - 1
    try:
        conn.xgroup_destroy(keys.events_stream(shard), GROUP)
    except redis.ResponseError:
        pass
    env = {**os.environ, "DATABASE_URL": _database_url(), "SERVICE_NAME": "test-dbprocessor"}
    command = [
        sys.executable,
        "manage.py",
        "run_dbprocessor",
        "--shard",
        str(shard),
        "--batch-size",
        "20",
        "--block-ms",
        "100",
    ]

    proc = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while _last_seq(shard) == 0:
            assert proc.poll() is None, "the processor exited"
            assert time.monotonic() < deadline, "no batch committed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = _last_seq(shard)
        assert 0 < killed_at < final_seq, "killed too late to test anything"
        pending = conn.xpending(keys.events_stream(shard), GROUP)["pending"]

        proc = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
        deadline = time.monotonic() + 120
        while _last_seq(shard) < final_seq:
            assert proc.poll() is None, "the restarted processor exited"
            assert time.monotonic() < deadline, f"stuck at {_last_seq(shard)} of {final_seq}"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)  # a graceful stop
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    assert pending > 0 or killed_at > 0
    assert Trade.objects.count() == engine.next_trade_id - ID_BASE
    trade_ids = list(Trade.objects.values_list("id", flat=True))
    assert sorted(trade_ids) == list(range(ID_BASE, engine.next_trade_id))
    users = set(flow.users)
    expected = {k: v for k, v in flow.engine_balances().items() if k[0] in users}
    assert db_balances(users) == expected
    # the read model's rm:bal hashes say the same
    for user in flow.users:
        for asset, body in conn.hgetall(keys.rm_balances(user)).items():
            import json

            b = json.loads(body)
            assert expected[(user, asset.decode())] == (
                Decimal(b["available"]),
                Decimal(b["locked"]),
            )
    sums = ledger_sums()
    assert {k: v for k, v in sums.items() if k[0] in users} == db_balances(users)
    assert conn.xpending(keys.events_stream(shard), GROUP)["pending"] == 0
