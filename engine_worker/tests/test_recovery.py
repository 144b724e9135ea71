"""Recovery from the database plus the stream reproduces the engine exactly.

Random command streams go through an engine runtime (its stream on the real Redis); the
DB processor persists the stream up to a random cut; a second runtime recovers from the
database snapshot and the stream after it, and must equal the first in every balance,
resting order (in queue order), counter and book, and keep producing the same events.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
import redis
from django.conf import settings

from accounts.selectors import fee_account_id
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
            kind = rng.choice(["limit"] * 6 + ["market"])
            commands.append(
                {
                    "kind": "PlaceOrder",
                    "user_id": user,
                    "symbol": UNITS.symbol,
                    "side": rng.choice(("buy", "sell")),
                    "type": kind,
                    "time_in_force": rng.choice(("GTC", "GTC", "GTC", "IOC", "FOK")),
                    "price": rng.randint(990, 1010) if kind == "limit" else 0,
                    "quantity": rng.randint(1, 300),
                    "post_only": rng.random() < 0.1,
                    "client_order_id": rng.choice([None, None, f"c{rng.randint(0, 30)}"]),
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
        )
        for o in engine.iter_open_orders()
    ]
    return {
        "balances": sorted((u, a, av, lk) for u, a, av, lk in engine.iter_balances() if av or lk),
        "orders": orders,
        "counters": (engine.next_seq, engine.next_order_id, engine.next_trade_id),
        "depth": engine.depth_snapshot(UNITS.symbol, 1000),
        "client_order_ids": (engine.coid_horizon, sorted(engine._recent_coids.items())),
        "markets": dict(engine.markets),
    }


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
