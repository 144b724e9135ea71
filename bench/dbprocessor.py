"""DB processor throughput and lag, printed as figures (issue 3).

Runs on a database and a Redis database of its own (exchange_bench_dbp, created and
migrated here; Redis db 3, flushed). The stream is written by the engine worker's own
code (EngineRuntime, in this process) from a realistic flow: funded users, resting limit
orders, crossing limit and market orders (trades with both sides' balance changes),
cancels, a few deposits and withdrawals (persistence/tests/test_dbprocessor.py: Flow).

(a) Throughput: the processor (in this process, through its batch handler) persists
    --records records in steady state (the first batch, with its cold balance cache,
    left out); next to the rate of a plain COPY of the rows it produced into the same
    tables of the same PostgreSQL in the same run, as a ratio.
(b) Lag at --rate orders per second: `manage.py run_dbprocessor` as its own process while
    entries are fed at that rate (batches of 10 commands) for --seconds; the lag of an
    entry is from its XADD (the entry id's time) to the commit of the batch that holds
    it (ProcessorState polled every 2 ms): p50 / p99 / max.

Usage: .venv/bin/python bench/dbprocessor.py [--records 200000] [--rate 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "exchange_bench_dbp"
BASE_DB_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")
DB_URL = BASE_DB_URL.rsplit("/", 1)[0] + "/" + BENCH_DB
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "TIMESERIES_DATABASE_URL": DB_URL,
    "REDIS_URL": REDIS_URL,
    "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
    "LOG_LEVEL": "WARNING",
    "SERVICE_NAME": "bench-dbprocessor",
}
os.environ.update(ENV)
TABLES = {
    "orders_order": None,
    "orders_trade": None,
    "accounts_balance": "id",
    "accounts_transfer": "id",
    "accounts_ledgerentry": "id",
}
SHARD_A, SHARD_B = 0, 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup() -> None:
    import psycopg

    with psycopg.connect(BASE_DB_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    log(f"migrating {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=ENV, check=True)
    import django

    django.setup()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    truncate()


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(TABLES)}, engine_worker_processorstate RESTART IDENTITY"
        )


def feed(flow, commands: int, batch: int) -> None:
    done = 0
    started = time.monotonic()
    while done < commands:
        flow.apply([flow.command() for _ in range(batch)])
        done += batch
        if done % 20_000 == 0:
            log(f"  fed {done:,} commands ({done / (time.monotonic() - started):,.0f}/s)")


def throughput(records: int) -> dict[str, float]:
    import redis
    from django.db import connection

    from accounts.selectors import fee_account_id
    from infra import keys
    from persistence.dbprocessor import GROUP, DbProcessor
    from persistence.tests.test_dbprocessor import Flow

    conn = redis.Redis.from_url(REDIS_URL)
    log(f"(a) writing {records:,} commands to the stream through EngineRuntime")
    flow = Flow(conn, SHARD_A, fee_account=fee_account_id(), users=500, seed=42)
    feed(flow, records, batch=20)
    stream = keys.events_stream(SHARD_A)
    log(f"  stream: {conn.xlen(stream):,} entries, {conn.memory_usage(stream) or 0:,} bytes")
    proc = DbProcessor(
        SHARD_A, connection_=conn, fee_account=fee_account_id(), batch_size=500, trim_every=0
    )
    proc.ensure_group()
    conn.xgroup_setid(stream, GROUP, "0")
    first = proc.run_once()  # cold: balance cache empty
    log(f"  first batch: {first['commands']:,} commands (not timed)")
    commands = rows = 0
    started = time.monotonic()
    last_log = started
    while True:
        counters = proc.run_once()
        if not counters:
            break
        commands += counters["commands"]
        rows += counters["rows"]
        if time.monotonic() - last_log > 2:
            last_log = time.monotonic()
            log(f"  persisted {commands:,} commands, {rows:,} row writes")
    elapsed = time.monotonic() - started - proc.block_ms / 1000  # the last, empty read
    log(f"  processor: {commands:,} commands, {rows:,} row writes in {elapsed:.2f} s")

    # The rows it produced, copied out, then COPYed back into the emptied tables.
    dumps: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    raw = connection.connection
    with raw.cursor() as cur:
        for table in TABLES:
            buffer = io.BytesIO()
            with cur.copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
    raw.commit()
    truncate()
    log(f"  COPY of the same rows: {counts}")
    started = time.monotonic()
    with raw.transaction(), raw.cursor() as cur:
        for table, data in dumps.items():
            with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data)
    copy_elapsed = time.monotonic() - started
    truncate()  # a clean slate (and identities) for part (b)
    total_rows = sum(counts.values())
    # the first batch's share of the rows, left out of the processor's timing too
    share = commands / (commands + first["commands"])
    copy_elapsed *= share
    return {
        "commands": commands,
        "row_writes": rows,
        "elapsed": elapsed,
        "rate": commands / elapsed,
        "rows_rate": rows / elapsed,
        "copy_rows": total_rows * share,
        "copy_elapsed": copy_elapsed,
        "copy_rate": commands / copy_elapsed,
        "copy_rows_rate": total_rows * share / copy_elapsed,
    }


def lag(rate: int, seconds: float) -> dict[str, float]:
    import redis

    from accounts.selectors import fee_account_id
    from persistence.tests.test_dbprocessor import Flow

    conn = redis.Redis.from_url(REDIS_URL)
    log(f"(b) lag at {rate} orders/s for {seconds:.0f} s (run_dbprocessor as a process)")
    flow = Flow(conn, SHARD_B, fee_account=fee_account_id(), users=500, seed=7)
    proc = subprocess.Popen(  # a warm process before the clock starts
        [sys.executable, "manage.py", "run_dbprocessor", "--shard", str(SHARD_B)],
        cwd=ROOT,
        env=ENV,
    )
    try:
        return _measure_lag(proc, flow, conn, rate, seconds)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _measure_lag(proc, flow, conn, rate: int, seconds: float) -> dict[str, float]:
    import psycopg

    pg = psycopg.connect(DB_URL, autocommit=True)

    def committed() -> str:
        row = pg.execute(
            "SELECT last_entry_id FROM engine_worker_processorstate WHERE shard = %s", (SHARD_B,)
        ).fetchone()
        return row[0] if row else "0-0"

    deadline = time.monotonic() + 30
    while committed() == "0-0":  # the set-up entries are in
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("run_dbprocessor did not start")
        time.sleep(0.05)
    batch = 10
    interval = batch / rate
    added: list[tuple[str, float]] = []  # (entry id, time of XADD)
    stop = threading.Event()

    def feeder() -> None:
        next_at = time.monotonic()
        end = next_at + seconds
        while next_at < end:
            flow.apply([flow.command() for _ in range(batch)])
            entry_id = conn.xrevrange(flow.runtime.stream, count=1)[0][0].decode()
            added.append((entry_id, time.time()))
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        stop.set()

    thread = threading.Thread(target=feeder)
    thread.start()
    lags: list[float] = []
    seen = 0

    def key(entry_id: str) -> tuple[int, int]:
        ms, n = entry_id.split("-")
        return int(ms), int(n)

    last_progress = time.monotonic()
    while True:
        now = time.time()
        upto = key(committed())
        while seen < len(added) and key(added[seen][0]) <= upto:
            lags.append(now - added[seen][1])
            seen += 1
        if stop.is_set() and seen == len(added):
            break
        if time.monotonic() - last_progress > 2:
            last_progress = time.monotonic()
            log(f"  {len(added):,} entries fed, {seen:,} committed")
        time.sleep(0.002)
    thread.join()
    pg.close()
    lags.sort()
    return {
        "entries": len(lags),
        "orders": len(lags) * batch,
        "p50": lags[len(lags) // 2] * 1000,
        "p99": lags[int(len(lags) * 0.99)] * 1000,
        "max": lags[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    setup()
    a = throughput(args.records)
    b = lag(args.rate, args.seconds)
    print("DB processor (issue 3)")
    print(
        f"  throughput: {a['rate']:,.0f} records/s ({a['rows_rate']:,.0f} row writes/s) "
        f"over {a['commands']:,} records in {a['elapsed']:.2f} s"
    )
    print(
        f"  plain COPY of the same rows, same tables: {a['copy_rows_rate']:,.0f} rows/s "
        f"= {a['copy_rate']:,.0f} records/s"
    )
    print(f"  ratio: {a['rate'] / a['copy_rate']:.0%} of the bulk rate (aim: at least 50%)")
    print(
        f"  lag at {args.rate} orders/s over {b['orders']:,} orders ({b['entries']} entries): "
        f"p50 {b['p50']:.0f} ms, p99 {b['p99']:.0f} ms, max {b['max']:.0f} ms (aim: under 1 s)"
    )


if __name__ == "__main__":
    main()
