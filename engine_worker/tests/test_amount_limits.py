"""Issue 10, items 1 and 7, at the engine worker: an order at a market's maximum price and
quantity (18-decimal assets, 32-digit amounts) is rendered exactly and persisted by the
DB processor; and anything that fails after the engine applied a batch but before its
commit stops the worker before a reply, so that it restarts from the command log.

Real EngineRuntimes in this process, on shards of their own (41, 42) and with ids far
above the engine subprocess's, as in test_dbprocessor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal, localcontext
from typing import Any

import pytest
import redis
from django.conf import settings

from accounts.models import Balance
from accounts.selectors import fee_account_id
from engine_worker import jobs
from engine_worker.core.engine import Engine
from engine_worker.fold import APPLY_OPS
from engine_worker.runtime import EngineRuntime, FailStop
from engine_worker.worker import check_consistent
from infra import keys
from marketdata.units import AMOUNT_MAX, CONTEXT, MarketUnits, market_units_to_wire
from orders.models import Order, Trade
from persistence.dbprocessor import DbProcessor
from persistence.snapshot import Snapshot
from persistence.tests.test_dbprocessor import ledger_sums

ID_BASE = 3 * 10**12
SELLER, BUYER = 7_000_001, 7_000_002


@pytest.fixture
def conn() -> Iterator[redis.Redis]:
    """The session's Redis. These tests run engines of their own on it, whose fees credit
    the real fee account in the read model: those balances go again afterwards, or a
    later reconcile against the session's engine would see them (user 1's BIGB, BIGQ)."""
    connection = redis.Redis.from_url(settings.REDIS_URL)
    yield connection
    for user in (fee_account_id(), SELLER, BUYER):
        connection.hdel(keys.rm_balances(user), "BIGB", "BIGQ")


def big_market(symbol: str) -> MarketUnits:
    """18-decimal base and quote, a tick of 10^-18: the default maximum price is
    99999999999999.999999999999999999, its notional at 10^6 lots 32 digits long."""
    return MarketUnits(
        symbol=symbol, base="BIGB", quote="BIGQ", base_decimals=18, quote_decimals=18,
        tick_size=Decimal("1E-18"), lot_size=Decimal(1), min_quantity=Decimal(0),
        max_quantity=Decimal(1_000_000), min_notional=Decimal(0), maker_fee_bps=10,
        taker_fee_bps=20, status="trading", shard=0,
    )  # fmt: skip


class Shard:
    def __init__(self, conn: redis.Redis, shard: int, *, fresh: bool = True) -> None:
        self.conn, self.shard, self.requests = conn, shard, 0
        if fresh:
            conn.delete(keys.events_stream(shard), keys.commands_stream(shard))
        self.runtime = EngineRuntime(shard, fee_account=fee_account_id(), connection=conn)
        self.runtime.engine = Engine(
            fee_account=fee_account_id(), next_order_id=ID_BASE, next_trade_id=ID_BASE
        )

    def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.requests += 1
        return {
            "kind": kind,
            "request_id": f"lim-{self.shard}-{time.time_ns()}-{self.requests}",
            "ts": time.time_ns() // 1_000_000,
            **fields,
        }

    def limit(self, user: int, side: str, symbol: str, price: int, quantity: int) -> dict:
        return self.command(
            "PlaceOrder", user_id=user, symbol=symbol, side=side, type="limit",
            time_in_force="GTC", price=price, quantity=quantity, post_only=False,
            client_order_id=None,
        )  # fmt: skip


@pytest.mark.django_db
def test_an_order_at_the_maximum_price_and_quantity_is_persisted(conn):
    shard = Shard(conn, 41)
    market = big_market(f"BIG{shard.shard}_{time.time_ns() % 10**6}")
    rules = market.rules()
    price, quantity = rules.max_price, rules.max_quantity
    notional = CONTEXT.multiply(market.max_price, market.max_quantity)
    assert market.max_price == Decimal("99999999999999.999999999999999999")
    add = shard.command("AddMarket", market=market_units_to_wire(market))
    most = int(CONTEXT.scaleb(AMOUNT_MAX, 18))  # all the quote there can be
    deposits = [
        shard.command("Deposit", user_id=SELLER, asset="BIGB", amount=10**24, decimals=18),
        shard.command("Deposit", user_id=BUYER, asset="BIGQ", amount=most, decimals=18),
    ]
    shard.runtime.apply_batch([add, *deposits], reply_to=None)
    replies = shard.runtime.apply_batch(
        [
            shard.limit(SELLER, "sell", market.symbol, price, quantity),
            shard.limit(BUYER, "buy", market.symbol, price, quantity),
        ],
        reply_to=None,
    )
    taker = replies[1]["order"]
    assert taker["status"] == "filled", replies
    assert taker["average_price"] == taker["price"] == "99999999999999.999999999999999999"
    assert Decimal(taker["filled_quote_quantity"]) == notional

    proc = DbProcessor(41, connection_=conn, fee_account=fee_account_id())
    result = proc.apply(conn.xrange(keys.events_stream(41)))
    assert result.mismatches == []
    trade = Trade.objects.get(symbol=market.symbol)
    assert (trade.price, trade.quantity, trade.quote_quantity) == (
        market.max_price,
        Decimal(1_000_000),
        notional,
    )
    orders = Order.objects.filter(symbol=market.symbol)
    assert {(o.status, o.price, o.average_price, o.filled_quote_quantity) for o in orders} == {
        ("filled", market.max_price, market.max_price, notional)
    }
    stored = {
        (b.user_id, b.asset): (b.available, b.locked)
        for b in Balance.objects.filter(user_id__in=[SELLER, BUYER])
    }
    engine = shard.runtime.engine
    for user, asset in stored:
        available, locked = engine.balance(user, asset)
        assert stored[(user, asset)] == (
            CONTEXT.scaleb(Decimal(available), -18),
            CONTEXT.scaleb(Decimal(locked), -18),
        )
    assert stored[(BUYER, "BIGQ")][0] == CONTEXT.subtract(AMOUNT_MAX, notional)
    with localcontext(CONTEXT):  # the ledger's 38-digit sums, exactly
        sums = ledger_sums()
    assert {k: sums[k] for k in stored} == stored


def _start(conn: redis.Redis, number: int) -> Shard:
    """A shard's runtime as the worker starts it: an empty database snapshot, then the
    command log replayed, then the start-up consistency check."""
    shard = Shard(conn, number, fresh=False)
    shard.runtime.recover(Snapshot())
    check_consistent(shard.runtime, conn)
    return shard


@pytest.mark.django_db
def test_a_failure_after_apply_stops_before_any_reply_and_the_restart_is_clean(conn, monkeypatch):
    shard = Shard(conn, 42)
    market = big_market(f"FS{shard.shard}_{time.time_ns() % 10**6}")
    shard.runtime.apply_batch(
        [
            shard.command("AddMarket", market=market_units_to_wire(market)),
            shard.command("Deposit", user_id=SELLER, asset="BIGB", amount=10**20, decimals=18),
        ],
        reply_to=None,
    )
    commands, events = keys.commands_stream(42), keys.events_stream(42)
    logged, streamed = conn.xlen(commands), conn.xlen(events)
    seq = shard.runtime.engine.next_seq
    channel = f"failstop-replies-{time.time_ns()}"
    listener = conn.pubsub()
    listener.subscribe(channel)
    # Its confirmation read first, so the reads below see replies only: ignored, it was
    # what the "nobody was told" read took (None either way), and when it came late, what
    # the read for the reply after the restart took instead of the reply.
    assert listener.get_message(timeout=10)["type"] == "subscribe"

    # the market's decimal units gone: the order decodes and the engine applies it, then
    # rendering its events (the fold, compiled: its calls cannot be patched) fails
    monkeypatch.delitem(shard.runtime.units, market.symbol)
    order = shard.limit(SELLER, "sell", market.symbol, 10**18, 5)
    with pytest.raises(FailStop) as stopped:
        shard.runtime.apply_batch([order], reply_to=channel)
    assert isinstance(stopped.value.__cause__, KeyError)
    assert shard.runtime.engine.next_seq == seq + 1  # the memory had moved on...
    assert (conn.xlen(commands), conn.xlen(events)) == (logged, streamed)  # ...the log not
    time.sleep(0.05)
    assert listener.get_message(timeout=0.2) is None  # and nobody was told anything
    monkeypatch.undo()

    # the next start: the log without the batch, consistent, and the same order works
    restarted = _start(conn, 42)
    assert restarted.runtime.engine.next_seq == seq
    assert list(restarted.runtime.engine.iter_open_orders()) == []
    assert restarted.runtime.engine.balance(SELLER, "BIGB") == (10**20, 0)
    reply = restarted.runtime.apply_batch([order], reply_to=channel)[0]
    assert reply["ok"] and reply["order"]["status"] == "new", reply
    assert listener.get_message(timeout=10)["type"] == "message"
    listener.close()


@pytest.mark.django_db
def test_a_failure_before_anything_was_applied_is_an_ordinary_error(conn, monkeypatch):
    shard = Shard(conn, 42)
    # a state dump (a read: nothing applied) that fails, first in its batch
    monkeypatch.setattr(shard.runtime, "dump", lambda request_id: 1 / 0)
    seq = shard.runtime.engine.next_seq
    dump = {"kind": "Dump", "request_id": f"dump-{time.time_ns()}"}
    with pytest.raises(ZeroDivisionError):
        shard.runtime.apply_batch([dump, shard.command("Deposit")], reply_to=None)
    assert shard.runtime.engine.next_seq == seq


def test_the_job_exits_the_worker_on_a_fail_stop(monkeypatch):
    class Stopping:
        shard = 5

        def apply_batch(self, commands: Any, reply_to: Any) -> None:
            raise FailStop("applied but not committed")

    exits: list[int] = []

    def exit_(status: int) -> None:
        exits.append(status)

    monkeypatch.setattr(jobs, "RUNTIME", Stopping())
    monkeypatch.setattr(jobs.os, "_exit", exit_)
    jobs.apply_batch([], "replies", 5)  # RQ would catch a raise and run the next job
    assert exits == [jobs.FAIL_STOP_EXIT]


@pytest.mark.django_db
def test_the_worker_refuses_a_deposit_past_the_storable_total_and_logs_nothing(conn):
    shard = Shard(conn, 43)
    most = 10**38 - 1  # 99999999999999999999.999999999999999999 in 18-decimal units
    deposit = shard.command("Deposit", user_id=SELLER, asset="HUGE", amount=most + 1, decimals=18)
    reply = shard.runtime.apply_batch([deposit], reply_to=None)[0]
    assert (reply["ok"], reply["code"]) == (False, "balance_limit")
    assert conn.xlen(keys.commands_stream(43)) == 0
    assert "HUGE" not in shard.runtime.asset_decimals  # not learnt from a refused command
    ok = shard.command("Deposit", user_id=SELLER, asset="HUGE", amount=most, decimals=18)
    over = shard.command("Deposit", user_id=BUYER, asset="HUGE", amount=1, decimals=18)
    replies = shard.runtime.apply_batch([ok, over], reply_to=None)
    assert [r["ok"] for r in replies] == [True, False]
    assert replies[0]["balance"]["available"] == "99999999999999999999.999999999999999999"
    assert shard.runtime.engine.balance(BUYER, "HUGE") == (0, 0)


@pytest.mark.django_db
def test_a_redis_without_the_commit_script_is_given_it_and_the_batch_commits_once(conn):
    shard = Shard(conn, 43)
    shard.runtime._apply_ops.sha = "0" * 40  # unknown to Redis, as after a restart
    deposit = shard.command("Deposit", user_id=SELLER, asset="BIGB", amount=5, decimals=18)
    reply = shard.runtime.apply_batch([deposit], reply_to=None)[0]
    assert reply["ok"], reply
    assert conn.xlen(keys.commands_stream(43)) == conn.xlen(keys.events_stream(43)) == 1
    assert shard.runtime._apply_ops.sha == conn.script_load(APPLY_OPS)
    conn.delete(keys.events_stream(43), keys.commands_stream(43))
