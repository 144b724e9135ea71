"""Recovery from the database plus the stream reproduces the engine exactly.

Random command streams go through an engine runtime (its stream on the real Redis); the
DB processor persists the stream up to a random cut; a second runtime recovers from the
database snapshot and the stream after it, and must equal the first in every balance,
resting order (in queue order), pending stop, OCO link, last price, counter and book, and
keep producing the same events (the stops it restored trigger as the first's would).
"""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
import redis
from django.conf import settings

from accounts.selectors import fee_account_id
from engine_worker import wire
from engine_worker.core.commands import AddMarket
from engine_worker.core.engine import Engine
from engine_worker.runtime import EngineRuntime
from infra import keys
from marketdata.units import MarketUnits
from persistence.dbprocessor import DbProcessor
from persistence.snapshot import Limits, snapshot_load

SHARD = 9  # a stream and a ProcessorState of this test's own

UNITS = MarketUnits(
    symbol="REC_USDT",
    base="REC",
    quote="USDT",
    base_decimals=8,
    quote_decimals=8,
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.001"),
    min_quantity=Decimal(0),
    max_quantity=Decimal(1_000_000),
    min_notional=Decimal(0),
    maker_fee_bps=10,
    taker_fee_bps=25,
    status="trading",
    shard=SHARD,
)


def random_commands(rng: random.Random, count: int) -> list[dict]:
    users = [9_000_001 + i for i in range(5)]
    commands: list[dict] = []
    order_ids = list(range(1, count))
    shadow = Engine()  # the commands so far, applied: only to pick amends' targets
    shadow.apply(AddMarket("m", 0, UNITS.rules()))
    applied = 0

    def shadow_apply(commands: list[dict]) -> None:
        nonlocal applied
        for n, command in enumerate(commands[applied:], start=applied):
            shadow.apply(wire.command_from_wire({"request_id": "s", "ts": n, **command})[0])
        applied = len(commands)

    for user in users:
        for asset in ("REC", "USDT"):
            commands.append(
                {
                    "kind": "Deposit",
                    "user_id": user,
                    "asset": asset,
                    "amount": rng.randint(10**9, 10**12),
                    "decimals": 8,
                }
            )
    for _ in range(count):
        roll = rng.random()
        user = rng.choice(users)
        if roll < 0.55:
            kind = rng.choice(["limit"] * 6 + ["market", "stop_limit", "stop_limit", "stop_market"])
            commands.append(
                {
                    "kind": "PlaceOrder",
                    "user_id": user,
                    "symbol": UNITS.symbol,
                    "side": rng.choice(("buy", "sell")),
                    "type": kind,
                    "time_in_force": rng.choice(("GTC", "GTC", "GTC", "IOC", "FOK")),
                    "price": rng.randint(990, 1010) if kind in ("limit", "stop_limit") else 0,
                    "quantity": rng.randint(1, 300),
                    "post_only": rng.random() < 0.1,
                    "client_order_id": rng.choice([None, None, f"c{rng.randint(0, 30)}"]),
                    "stop_price": rng.randint(990, 1010) if kind.startswith("stop") else None,
                }
            )
        elif roll < 0.6:
            side = rng.choice(("buy", "sell"))
            price = rng.randint(990, 1010)
            stop = price + rng.randint(1, 8) * (1 if side == "buy" else -1)
            commands.append(
                {
                    "kind": "PlaceOrderList",
                    "user_id": user,
                    "symbol": UNITS.symbol,
                    "side": side,
                    "quantity": rng.randint(1, 300),
                    "price": price,
                    "stop_price": stop,
                    "stop_limit_price": rng.choice([None, stop, stop + 2, stop - 2]),
                }
            )
        elif roll < 0.72:
            # mostly an order open now, by its owner (a shadow engine knows which)
            shadow_apply(commands)
            open_now = list(shadow.iter_open_orders())
            target = rng.choice(open_now) if open_now and rng.random() < 0.8 else None
            commands.append(
                {
                    "kind": "AmendOrder",
                    "user_id": user if target is None else target.user_id,
                    "order_id": rng.choice(order_ids) if target is None else target.order_id,
                    "quantity": rng.choice([None, rng.randint(1, 300)]),
                    "price": rng.choice([None, None, rng.randint(990, 1010)]),
                }
            )
        elif roll < 0.85:
            commands.append(
                {"kind": "CancelOrder", "user_id": user, "order_id": rng.choice(order_ids)}
            )
        elif roll < 0.9:
            commands.append({"kind": "CancelAll", "user_id": user, "symbol": UNITS.symbol})
        elif roll < 0.95:
            commands.append(
                {
                    "kind": "Withdraw",
                    "user_id": user,
                    "asset": "USDT",
                    "amount": rng.randint(1, 10**9),
                    "decimals": 8,
                }
            )
        else:
            commands.append(
                {
                    "kind": "Deposit",
                    "user_id": user,
                    "asset": "REC",
                    "amount": rng.randint(1, 10**9),
                    "decimals": 8,
                }
            )
    for n, command in enumerate(commands):
        command["request_id"] = f"rec-{rng.random()}-{n}"
        command["ts"] = 1_800_000_000_000 + n + rng.randint(-3, 3)  # clocks disagree a little
    return commands


def state_of(runtime: EngineRuntime) -> dict:
    engine = runtime.engine
    orders = [
        (
            o.order_id,
            o.user_id,
            o.side,
            o.type,
            o.price,
            o.quantity,
            o.filled_quantity,
            o.filled_quote,
            o.status,
            o.client_order_id,
            o.created_ts,
            o.updated_ts,
            o.stop_price,
            o.order_list_id,
            o.priority,
            None if (other := engine.linked(o.order_id)) is None else other.order_id,
        )
        for o in engine.iter_open_orders()
    ]
    return {
        "balances": sorted((u, a, av, lk) for u, a, av, lk in engine.iter_balances() if av or lk),
        "orders": orders,
        "counters": (engine.next_seq, engine.next_order_id, engine.next_trade_id),
        "depth": engine.depth_snapshot(UNITS.symbol, 1000),
        "last_price": engine.last_price(UNITS.symbol),
        "client_order_ids": (engine.coid_horizon, sorted(engine._recent_coids.items())),
        "markets": dict(engine.markets),
    }


def stream_stats(entries: list) -> dict[str, int]:
    """What the stream did: triggers, OCO lists placed, amends applied (the test's streams
    must have some of each, or it would prove little about them)."""
    stats = {"triggered": 0, "lists": 0, "amended": 0}
    for _, fields in entries:
        for record in json.loads(fields[b"records"]):
            if "rejected" in record:
                continue
            stats["lists"] += record["kind"] == "PlaceOrderList"
            stats["amended"] += record["kind"] == "AmendOrder"
            stats["triggered"] += sum(
                1 for o in record.get("orders", ()) if o["type"].startswith("stop")
                and o["status"] != "pending" and record["kind"] != "PlaceOrder"
            )  # fmt: skip
    return stats


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", range(6))
def test_recovery_from_database_and_stream_is_exact(seed):
    rng = random.Random(seed)
    connection = redis.Redis.from_url(settings.REDIS_URL)
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))
    fee_account = fee_account_id()
    live = EngineRuntime(SHARD, fee_account=fee_account, connection=connection)
    live.sync_markets([UNITS])
    # client order ids stay taken for 60 ms (60 commands or so): some are reused, some not
    live.sync_limits(Limits(max_open_orders=0, client_order_id_retention=60))
    commands = random_commands(rng, 400)
    tail = commands[-40:]
    commands = commands[:-40]
    while commands:  # batches of random sizes, as the gateway would send them
        size = rng.randint(1, 25)
        live.apply_batch(commands[:size], reply_to=None)
        commands = commands[size:]

    entries = connection.xrange(keys.events_stream(SHARD))
    cut = rng.randint(0, len(entries))
    processor = DbProcessor(SHARD, connection_=connection, fee_account=fee_account)
    for start in range(0, cut, 7):  # the processor's batches need not match the engine's
        processor.apply(entries[start : min(cut, start + 7)])

    recovered = EngineRuntime(SHARD, fee_account=fee_account, connection=connection)
    replayed = recovered.recover(snapshot_load(shard=SHARD))
    assert replayed == sum(len(json.loads(fields[b"records"])) for _, fields in entries[cut:])
    recovered.engine.check_invariants()
    assert state_of(recovered) == state_of(live)
    stats = stream_stats(entries)
    assert stats["triggered"] and stats["lists"] and stats["amended"], stats
    # and from here on both behave the same: same replies, same state
    after_recovery = recovered.apply_batch(tail, reply_to=None)
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))  # same ids next
    assert live.apply_batch(tail, reply_to=None) == after_recovery
    assert state_of(recovered) == state_of(live)


@pytest.mark.django_db(transaction=True)
def test_limits_survive_a_restart_from_the_database_and_from_the_log():
    """The limits are engine state: the snapshot's engine_state carries them (merged from
    the event stream's ``state``) and the log replays later changes; at start-up the
    engine then aligns them with the settings and the users' OrderLimit rows."""
    connection = redis.Redis.from_url(settings.REDIS_URL)
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))
    fee_account = fee_account_id()
    live = EngineRuntime(SHARD, fee_account=fee_account, connection=connection)
    live.sync_markets([UNITS])
    first, second = 9_100_001, 9_100_002
    live.sync_limits(Limits(max_open_orders=3, client_order_id_retention=60_000,
                            users={first: 5}))  # fmt: skip
    processor = DbProcessor(SHARD, connection_=connection, fee_account=fee_account)
    processor.apply(connection.xrange(keys.events_stream(SHARD)))  # persisted up to here
    live.apply_batch(
        [{"kind": "SetOrderLimit", "request_id": "l-2", "ts": 1, "user_id": second,
          "max_open_orders": 7}],
        reply_to=None,
    )  # fmt: skip  # only in the log

    recovered = EngineRuntime(SHARD, fee_account=fee_account, connection=connection)
    assert recovered.recover(snapshot_load(shard=SHARD)) == 1
    engine = recovered.engine
    assert (engine.max_open_orders, engine.coid_retention) == (3, 60_000)
    assert engine.order_limits == {first: 5, second: 7}
    recovered.sync_limits(Limits(max_open_orders=200, client_order_id_retention=60_000,
                                 users={first: 5}))  # fmt: skip
    assert (engine.max_open_orders, engine.order_limits) == (200, {first: 5})
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))


@pytest.mark.django_db(transaction=True)
def test_recovery_keeps_pending_stops_lists_queue_places_and_the_last_price():
    """Everything persisted, nothing to replay: what the database holds alone must give
    back the pending stops, a still-linked OCO list, a re-queued order's place behind a
    later one and the last price the stops compare with."""
    connection = redis.Redis.from_url(settings.REDIS_URL)
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))
    fee_account = fee_account_id()
    live = EngineRuntime(SHARD, fee_account=fee_account, connection=connection)
    live.sync_markets([UNITS])
    a, b, c = 9_200_001, 9_200_002, 9_200_003
    ts = iter(range(1_800_000_000_000, 1_900_000_000_000))

    def cmd(kind: str, **fields) -> dict:
        return {"kind": kind, "request_id": f"k-{next(ts)}", "ts": next(ts), **fields}

    def order(user, side, otype, price, qty, stop=None, tif="GTC") -> dict:
        return cmd("PlaceOrder", user_id=user, symbol=UNITS.symbol, side=side, type=otype,
                   time_in_force=tif, price=price, quantity=qty, post_only=False,
                   client_order_id=None, stop_price=stop)  # fmt: skip

    setup = [cmd("Deposit", user_id=u, asset=x, amount=10**12, decimals=8)
             for u in (a, b, c) for x in ("REC", "USDT")]  # fmt: skip
    setup += [
        order(a, "sell", "limit", 1000, 10),
        order(b, "buy", "limit", 1000, 10),  # trades: last price 1000
        order(a, "sell", "stop_limit", 990, 5, stop=995),  # pending
        order(b, "buy", "stop_market", 0, 5, stop=1005),  # pending
        cmd(
            "PlaceOrderList",
            user_id=c,
            symbol=UNITS.symbol,
            side="sell",
            quantity=4,
            price=1010,
            stop_price=992,
            stop_limit_price=None,
        ),  # linked, limit at 1010
        order(a, "sell", "limit", 1008, 3),
        order(b, "sell", "limit", 1008, 3),
    ]
    live.apply_batch(setup, reply_to=None)
    first_at_1008 = live.engine.open_orders_of(a)[-1].order_id
    live.apply_batch(
        [cmd("AmendOrder", user_id=a, order_id=first_at_1008, quantity=4, price=None)],
        reply_to=None,
    )  # a larger quantity: behind b's order at 1008 now
    processor = DbProcessor(SHARD, connection_=connection, fee_account=fee_account)
    for entry in connection.xrange(keys.events_stream(SHARD)):  # the amend updates the row
        processor.apply([entry])

    recovered = EngineRuntime(SHARD, fee_account=fee_account, connection=connection)
    assert recovered.recover(snapshot_load(shard=SHARD)) == 0  # all from the database
    engine = recovered.engine
    engine.check_invariants()
    assert state_of(recovered) == state_of(live)
    assert engine.last_price(UNITS.symbol) == 1000
    lists = [o for o in engine.iter_open_orders() if o.order_list_id is not None]
    assert len(lists) == 2 and engine.linked(lists[0].order_id) is lists[1]
    assert [o.user_id for o in engine.iter_open_orders() if o.price == 1008] == [b, a]
    # a trade at 992 triggers a's stop and the list's, in both engines alike
    tail = [order(b, "buy", "limit", 992, 1), order(c, "sell", "limit", 992, 1)]
    after_recovery = recovered.apply_batch(tail, reply_to=None)
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))
    assert live.apply_batch(tail, reply_to=None) == after_recovery
    assert state_of(recovered) == state_of(live)
    assert engine.linked(lists[0].order_id) is None  # the list's stop triggered
    connection.delete(keys.events_stream(SHARD), keys.commands_stream(SHARD))
