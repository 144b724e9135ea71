"""Kline query latency on plain PostgreSQL, printed as figures (issue 4).

Fills a database of its own (exchange_bench_klines, created and migrated here with the
timeseries alias on it, plain PostgreSQL) with --ticks price ticks of one market spread
over a year, and the rollups timeseries.ticks_write keeps (built here in bulk, the same
rows), then times the two reads of the issue, each way:

  - 1,440 one-minute candles (the last day) and 365 daily candles (the whole year);
  - rollup: the API's query (timeseries.kline_query) on the rollup table;
  - date_bin: the same candles computed from the ticks through their (symbol, time) key;
  - full scan: date_bin with index scans disabled, as a table without the index would.

Median of --repeat runs (after one warm-up), in ms. Aim: under 20 ms either query.

Usage: .venv/bin/python bench/klines.py [--ticks 10000000] [--repeat 7] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "exchange_bench_klines"
BASE_DB_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")
DB_URL = BASE_DB_URL.rsplit("/", 1)[0] + "/" + BENCH_DB
SYMBOL = "BENCH_USDT"
END = datetime(2025, 1, 1, tzinfo=UTC)
START = END - timedelta(days=365)

DATE_BIN = """
    SELECT date_bin(%(width)s::interval, time, timestamptz '2000-01-03 00:00:00+00') AS open_time,
           (array_agg(price ORDER BY trade_id))[1], max(price), min(price),
           (array_agg(price ORDER BY trade_id DESC))[1], sum(quantity), sum(quote_quantity),
           count(*)
    FROM marketdata_tick WHERE symbol = %(symbol)s AND time >= %(start)s AND time < %(end)s
    GROUP BY 1 ORDER BY 1 LIMIT %(limit)s
"""


def setup(ticks: int) -> None:
    import psycopg

    admin = BASE_DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": DB_URL, "TIMESERIES_BACKEND": "postgresql"}
    env.pop("TIMESERIES_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    from marketdata.timeseries import INTERVALS

    step_us = int((END - START) / timedelta(microseconds=1) / ticks)
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        started = time.monotonic()
        # a random walk would need a window function over 10M rows; a smooth curve with
        # noise gives candles just as real for timing
        conn.execute(
            "INSERT INTO marketdata_tick (symbol, time, trade_id, price, quantity, "
            "quote_quantity, taker_side) "
            "SELECT %s, %s::timestamptz + g * %s * interval '1 microsecond', g, p, q, p * q, "
            "CASE WHEN g %% 2 = 0 THEN 'buy' ELSE 'sell' END "
            "FROM generate_series(1::bigint, %s::bigint) AS g, "
            "LATERAL (SELECT round((30000 + 5000 * sin(g / 500000.0) + random() * 50)::numeric, 2) "
            "AS p, round((random() * 0.5 + 0.001)::numeric, 5) AS q) AS v",
            [SYMBOL, START, step_us, ticks],
        )
        print(f"  {ticks:,} ticks written in {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        for name, width in INTERVALS.items():
            conn.execute(
                "INSERT INTO marketdata_kline (symbol, interval, open_time, open, high, low, "
                "close, volume, quote_volume, trades, open_trade_id, close_trade_id) "
                "SELECT symbol, %s, date_bin(%s, time, timestamptz '2000-01-03 00:00:00+00'), "
                "(array_agg(price ORDER BY trade_id))[1], max(price), min(price), "
                "(array_agg(price ORDER BY trade_id DESC))[1], sum(quantity), "
                "sum(quote_quantity), count(*), min(trade_id), max(trade_id) "
                "FROM marketdata_tick GROUP BY 1, 3",
                [name, width],
            )
        conn.execute("VACUUM ANALYZE marketdata_tick")
        conn.execute("VACUUM ANALYZE marketdata_kline")
        print(f"  rollups of {len(INTERVALS)} intervals built in {time.monotonic() - started:.1f}s")


def timed(cursor, sql: str, params, repeat: int, *, full_scan: bool = False) -> tuple[float, int]:
    if full_scan:
        cursor.execute("SET enable_indexscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        cursor.execute("SET enable_indexonlyscan = off")
    try:
        cursor.execute(sql, params)
        rows = len(cursor.fetchall())
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        cursor.execute("RESET ALL")
    return statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the filled bench database")
    args = parser.parse_args()

    print(f"==> klines: {args.ticks:,} ticks of one market over 365 days (plain PostgreSQL)")
    if not args.keep:
        setup(args.ticks)
    os.environ.update(DATABASE_URL=DB_URL, TIMESERIES_BACKEND="postgresql")
    os.environ.pop("TIMESERIES_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    import django

    django.setup()
    from django.db import connections

    from marketdata import timeseries

    assert not timeseries.timescale_enabled()
    cases = [
        ("1,440 x 1m (last day)", "1m", END - timedelta(days=1), 1440),
        ("365 x 1d (the year)", "1d", START, 365),
    ]
    print(f"{'query':<24} {'rollup (API)':>14} {'date_bin+index':>16} {'full scan':>12}")
    with connections["timeseries"].cursor() as cursor:
        for label, interval, start, limit in cases:
            sql, params, _ = timeseries.kline_query(
                symbol=SYMBOL,
                interval=interval,
                start=start,
                end=END - timedelta(milliseconds=1),  # open time in [start, END)
                limit=limit,
            )
            rollup, n1 = timed(cursor, sql, params, args.repeat)
            bin_params = {
                "width": str(timeseries.INTERVALS[interval]),
                "symbol": SYMBOL,
                "start": start,
                "end": END,
                "limit": limit,
            }
            indexed, n2 = timed(cursor, DATE_BIN, bin_params, args.repeat)
            scan, n3 = timed(cursor, DATE_BIN, bin_params, max(1, args.repeat // 3), full_scan=True)
            assert n1 == n2 == n3, (n1, n2, n3)
            print(f"{label:<24} {rollup:>11.2f} ms {indexed:>13.2f} ms {scan:>9.1f} ms")
    scans = max(1, args.repeat // 3)
    print(f"({n1} candles each; median of {args.repeat} runs, of {scans} for the full scan)")


if __name__ == "__main__":
    main()
