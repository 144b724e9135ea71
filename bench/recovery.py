"""Engine recovery time, printed as figures (issue 3).

Builds, on a database and a Redis database of its own (exchange_bench_rec, Redis db 13):
--orders resting orders persisted in PostgreSQL by the DB processor (the snapshot), then
--entries stream entries after it (one command each: new resting orders, cancels and
deposits, as the engine worker would log them). Then times what a restarting engine
worker does: load the snapshot, restore it into a fresh engine, replay the entries;
and checks the recovered engine equals the live one.

Usage: .venv/bin/python bench/recovery.py [--orders 100000] [--entries 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "exchange_bench_rec"
BASE_DB_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")
DB_URL = BASE_DB_URL.rsplit("/", 1)[0] + "/" + BENCH_DB
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.update(
    {
        "DATABASE_URL": DB_URL,
        "TIMESERIES_DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "LOG_LEVEL": "WARNING",
    }
)
USERS = 1000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup() -> None:
    import psycopg

    with psycopg.connect(BASE_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True
    )


def place(rng: random.Random, n: int, mid: int) -> dict:
    side = rng.choice(("buy", "sell"))
    offset = rng.randint(1, 2000)
    return {
        "kind": "PlaceOrder", "request_id": f"p{n}", "ts": 1_800_000_000_000 + n,
        "user_id": 1_000_000 + rng.randrange(USERS), "symbol": "BENCH_USDT", "side": side,
        "type": "limit", "time_in_force": "GTC",
        "price": mid - offset if side == "buy" else mid + offset,
        "quantity": rng.randint(1, 50), "post_only": False, "client_order_id": None,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()

    log("setting up the bench database ...")
    setup()
    import django

    django.setup()
    import redis

    from accounts.selectors import fee_account_id
    from engine_worker.fold import decode
    from engine_worker.runtime import EngineRuntime
    from infra import keys
    from marketdata.units import MarketUnits
    from persistence.dbprocessor import DbProcessor
    from persistence.snapshot import snapshot_load

    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    fee = fee_account_id()
    units = MarketUnits(
        symbol="BENCH_USDT", base="BENCH", quote="USDT", base_decimals=8, quote_decimals=8,
        tick_size=Decimal("0.01"), lot_size=Decimal("0.001"), min_quantity=Decimal(0),
        max_quantity=Decimal(10**6), min_notional=Decimal(0), maker_fee_bps=10,
        taker_fee_bps=20, status="trading", shard=0,
    )  # fmt: skip
    live = EngineRuntime(0, fee_account=fee, connection=conn)
    live.sync_markets([units])
    rng = random.Random(1)
    mid = 3_000_000
    funding = [
        {"kind": "Deposit", "request_id": f"f{u}{a}", "ts": 1_800_000_000_000,
         "user_id": 1_000_000 + u, "asset": a, "amount": 10**18, "decimals": 8}
        for u in range(USERS) for a in ("BENCH", "USDT")
    ]  # fmt: skip
    live.apply_batch(funding, reply_to=None)
    log(f"placing {args.orders:,} resting orders through the engine runtime ...")
    for start in range(0, args.orders, 1000):
        batch = [place(rng, n, mid) for n in range(start, min(args.orders, start + 1000))]
        live.apply_batch(batch, reply_to=None)
    log("persisting them with the DB processor ...")
    processor = DbProcessor(0, connection_=conn, fee_account=fee)
    entries = conn.xrange(keys.events_stream(0))
    for start in range(0, len(entries), 20):
        processor.apply(entries[start : start + 20])

    log(f"writing {args.entries:,} stream entries after the snapshot ...")
    engine = live.engine
    open_ids = [o.order_id for o in engine.iter_open_orders()]
    pipe = conn.pipeline(transaction=False)
    stream = keys.commands_stream(0)
    n = args.orders
    for i in range(args.entries):
        roll = rng.random()
        if roll < 0.5 or not open_ids:
            command = place(rng, n, mid)
        elif roll < 0.95:
            victim = open_ids.pop(rng.randrange(len(open_ids)))
            order = engine.get_order(victim)
            command = {"kind": "CancelOrder", "request_id": f"c{n}", "ts": 1_800_000_000_000 + n,
                       "user_id": order.user_id if order else 1, "order_id": victim}  # fmt: skip
        else:
            command = {"kind": "Deposit", "request_id": f"d{n}", "ts": 1_800_000_000_000 + n,
                       "user_id": 1_000_000 + rng.randrange(USERS), "asset": "USDT",
                       "amount": 10**8, "decimals": 8}  # fmt: skip
        n += 1
        seq = engine.next_seq
        events = engine.apply(decode(command, live.units, live.asset_decimals))
        if command["kind"] == "PlaceOrder" and events and hasattr(events[0], "order_id"):
            open_ids.append(events[0].order_id)
        pipe.xadd(
            stream,
            {"first_seq": seq, "last_seq": seq, "commands": json.dumps([command])},
            id=f"{seq}-0",
        )
        if i % 10_000 == 9_999:
            pipe.execute()
        if i % 200_000 == 199_999:
            log(f"  {i + 1:,} entries")
    pipe.execute()
    resting = sum(1 for _ in engine.iter_open_orders())

    log("recovering ...")
    started = time.perf_counter()
    snapshot = snapshot_load(shard=0)
    loaded = time.perf_counter()
    recovered = EngineRuntime(0, fee_account=fee, connection=conn)
    replayed = recovered.recover(snapshot)
    done = time.perf_counter()
    same = (
        recovered.engine.next_seq == engine.next_seq
        and sorted(recovered.engine.iter_balances()) == sorted(engine.iter_balances())
        and [o.order_id for o in recovered.engine.iter_open_orders()]
        == [o.order_id for o in engine.iter_open_orders()]
    )
    print("engine recovery")
    print(
        f"    snapshot: {len(snapshot.orders):,} open orders, {len(snapshot.balances):,} balances"
    )
    print(f"    stream after it: {args.entries:,} entries ({replayed:,} commands replayed)")
    print(f"    load from PostgreSQL:   {loaded - started:6.2f} s")
    print(f"    restore + replay:       {done - loaded:6.2f} s")
    print(f"    total:                  {done - started:6.2f} s   (aim: under 10 s)")
    print(f"    recovered == live:      {same}  ({resting:,} resting orders at the end)")
    print(f"    machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
