"""The price feed and what is read from it: ticks, klines, 24 h tickers and public trades.

Two storage paths behind one set of functions, so the API cannot tell them apart:

- TimescaleDB (the migration found the extension): ``marketdata_tick`` is a hypertable and
  each interval is a continuous aggregate ``marketdata_kline_<interval>`` (time_bucket,
  first/last by trade id, real-time aggregation on), kept up to date by refresh policies;
  raw ticks are compressed and dropped by policies (settings TIMESERIES_COMPRESS_AFTER,
  TIMESERIES_RETAIN_TICKS).
- plain PostgreSQL: ``ticks_write`` maintains the rollup table ``marketdata_kline`` (one
  row per market, interval and bucket, date_bin) in the same statement as the ticks.

Buckets start at multiples of their width from 2000-01-03 00:00 UTC (time_bucket's
origin; date_bin is given the same), so 4 h and 1 d candles start at midnight UTC. A
candle's open and close are the prices of its trades with the lowest and highest trade id
(the engine's execution order within a market).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections

from marketdata.routers import TIMESERIES_ALIAS
from marketdata.units import EPOCH

logger = logging.getLogger(__name__)

INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
TICKER_WINDOW = timedelta(hours=24)

# TimescaleDB refresh policies per interval: (start_offset, end_offset, schedule_interval).
# The newest bucket is never materialised by a policy; real-time aggregation serves it.
REFRESH_POLICIES: dict[str, tuple[str, str, str]] = {
    "1m": ("2 hours", "1 minute", "1 minute"),
    "5m": ("6 hours", "5 minutes", "5 minutes"),
    "15m": ("1 day", "15 minutes", "15 minutes"),
    "1h": ("3 days", "1 hour", "30 minutes"),
    "4h": ("7 days", "4 hours", "1 hour"),
    "1d": ("30 days", "1 day", "1 hour"),
}


def _width_sql(interval: str) -> str:
    return f"interval '{int(INTERVALS[interval].total_seconds())} seconds'"


def aggregate_name(interval: str) -> str:
    """The continuous aggregate of an interval (TimescaleDB path)."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    return f"marketdata_kline_{interval}"


# -- writing ---------------------------------------------------------------------------------

_TICK_COLUMNS = "symbol, time, trade_id, price, quantity, quote_quantity, taker_side"
_TICK_ROWS = f"""
    INSERT INTO marketdata_tick ({_TICK_COLUMNS})
    SELECT t.symbol, timestamptz 'epoch' + t.time_ms * interval '1 millisecond', t.trade_id,
           t.price, t.quantity, t.quote_quantity, t.taker_side
    FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[],
                %s::numeric[], %s::text[])
         AS t(symbol, time_ms, trade_id, price, quantity, quote_quantity, taker_side)
    ON CONFLICT DO NOTHING
"""  # noqa: S608 - fixed names only
TICK_INSERT = _TICK_ROWS

_INTERVAL_VALUES = ", ".join(f"('{name}', {_width_sql(name)})" for name in INTERVALS)
# Plain PostgreSQL: the ticks and their rollups in one statement. Only the ticks this
# statement inserted (RETURNING) feed the rollups, so a replayed batch changes nothing.
TICK_INSERT_WITH_ROLLUP = f"""
WITH new AS (
    {_TICK_ROWS}
    RETURNING symbol, time, trade_id, price, quantity, quote_quantity
), rollup AS (
    SELECT n.symbol, i.name AS interval,
           date_bin(i.width, n.time, timestamptz '2000-01-03 00:00:00+00') AS open_time,
           (array_agg(n.price ORDER BY n.trade_id))[1] AS open,
           max(n.price) AS high, min(n.price) AS low,
           (array_agg(n.price ORDER BY n.trade_id DESC))[1] AS close,
           sum(n.quantity) AS volume, sum(n.quote_quantity) AS quote_volume,
           count(*) AS trades, min(n.trade_id) AS open_trade_id,
           max(n.trade_id) AS close_trade_id
    FROM new n CROSS JOIN (VALUES {_INTERVAL_VALUES}) AS i(name, width)
    GROUP BY 1, 2, 3
), upsert AS (
    INSERT INTO marketdata_kline AS k (symbol, interval, open_time, open, high, low, close,
        volume, quote_volume, trades, open_trade_id, close_trade_id)
    SELECT * FROM rollup
    ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
        open = CASE WHEN EXCLUDED.open_trade_id < k.open_trade_id
                    THEN EXCLUDED.open ELSE k.open END,
        open_trade_id = LEAST(k.open_trade_id, EXCLUDED.open_trade_id),
        high = GREATEST(k.high, EXCLUDED.high),
        low = LEAST(k.low, EXCLUDED.low),
        close = CASE WHEN EXCLUDED.close_trade_id > k.close_trade_id
                     THEN EXCLUDED.close ELSE k.close END,
        close_trade_id = GREATEST(k.close_trade_id, EXCLUDED.close_trade_id),
        volume = k.volume + EXCLUDED.volume,
        quote_volume = k.quote_volume + EXCLUDED.quote_volume,
        trades = k.trades + EXCLUDED.trades
)
SELECT count(*) FROM new
"""  # noqa: S608 - fixed names only


def _time_ms(trade: dict[str, Any]) -> int:
    if "time_ms" in trade:
        return int(trade["time_ms"])
    time = trade["time"]
    if isinstance(time, str):
        time = datetime.fromisoformat(time.replace("Z", "+00:00"))
    return (time - EPOCH) // timedelta(milliseconds=1)


def ticks_write(trades: Iterable[dict[str, Any]], *, using: str = TIMESERIES_ALIAS) -> int:
    """Write trades to the price feed, idempotently, in one statement; returns how many
    were new. A trade is the engine stream's trade record (id, symbol, price, quantity,
    quote_quantity, taker_side, time_ms; decimals as strings or Decimals; other keys are
    ignored); ``time`` (datetime or ISO) stands in for ``time_ms``. On plain PostgreSQL
    the same statement updates the kline rollups."""
    seen: set[tuple[str, int]] = set()
    columns: list[list[Any]] = [[], [], [], [], [], [], []]
    for trade in trades:
        key = (str(trade["symbol"]), int(trade["id"]))
        if key in seen:
            continue
        seen.add(key)
        row = (
            key[0],
            _time_ms(trade),
            key[1],
            str(trade["price"]),
            str(trade["quantity"]),
            str(trade["quote_quantity"]),
            str(trade["taker_side"]),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    if not seen:
        return 0
    with connections[using].cursor() as cursor:
        if timescale_enabled(using):
            cursor.execute(TICK_INSERT, columns)
            return max(cursor.rowcount, 0)
        cursor.execute(TICK_INSERT_WITH_ROLLUP, columns)
        return int(cursor.fetchone()[0])


# -- which path ------------------------------------------------------------------------------

_timescale: dict[tuple[Any, ...], bool] = {}


def timescale_enabled(using: str = TIMESERIES_ALIAS) -> bool:
    """Whether the time series of this alias are on TimescaleDB: read from the database
    (do the continuous aggregates exist?), once per process and database."""
    connection = connections[using]
    info = connection.settings_dict
    key = (info.get("HOST"), info.get("PORT"), info.get("NAME"))
    enabled = _timescale.get(key)
    if enabled is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [aggregate_name("1m")])
            enabled = bool(cursor.fetchone()[0])
        _timescale[key] = enabled
    return enabled


# -- reading ---------------------------------------------------------------------------------

KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "trades")


def kline_query(
    *,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    using: str = TIMESERIES_ALIAS,
) -> tuple[str, list[Any], bool]:
    """The SQL of a kline read, its parameters, and whether its rows come newest first
    (no start: the newest ``limit`` candles up to ``end``)."""
    columns = ", ".join(KLINE_COLUMNS)
    conditions = ["symbol = %s"]
    params: list[Any] = [symbol]
    if timescale_enabled(using):
        source = aggregate_name(interval)
    else:
        source = "marketdata_kline"
        conditions.append("interval = %s")
        params.append(interval)
    if start is not None:
        conditions.append("open_time >= %s")
        params.append(start)
    if end is not None:
        conditions.append("open_time <= %s")
        params.append(end)
    newest_first = start is None
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(conditions)} "  # noqa: S608 - fixed names
        f"ORDER BY open_time {order} LIMIT %s"
    )
    return sql, [*params, limit], newest_first


def kline_list(
    *,
    symbol: str,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    using: str = TIMESERIES_ALIAS,
) -> list[dict[str, Any]]:
    """Candles with an open time in [start, end], oldest first, at most ``limit`` (from
    ``start`` when given, else the newest up to ``end``); buckets without trades are left
    out."""
    sql, params, newest_first = kline_query(
        symbol=symbol, interval=interval, start=start, end=end, limit=limit, using=using
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if newest_first:
        rows.reverse()
    return [dict(zip(KLINE_COLUMNS, row, strict=True)) for row in rows]


def trade_list(*, symbol: str, limit: int, using: str = TIMESERIES_ALIAS) -> list[dict[str, Any]]:
    """A market's latest trades, newest first."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT trade_id, price, quantity, quote_quantity, taker_side, time "
            "FROM marketdata_tick WHERE symbol = %s ORDER BY time DESC, trade_id DESC LIMIT %s",
            [symbol, limit],
        )
        return [
            {
                "id": row[0],
                "price": row[1],
                "quantity": row[2],
                "quote_quantity": row[3],
                "taker_side": row[4],
                "time": row[5],
            }
            for row in cursor.fetchall()
        ]


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def ticker_stats(
    symbols: Sequence[str], *, now: datetime | None = None, using: str = TIMESERIES_ALIAS
) -> dict[str, dict[str, Any]]:
    """24 h rolling statistics of each market: trades in [now - 24 h, now]. Exact, yet
    cheap: the 1 m candles of the whole minutes of the window plus the raw ticks of its
    partial first minute. ``last`` is the newest trade's price even before the window;
    open, high and low are None without trades in the window. The body is
    ``tickers.ticker_body``'s."""
    now = now or datetime.now(tz=UTC)
    start = now - TICKER_WINDOW
    first_minute = _ceil_minute(start)
    klines = aggregate_name("1m") if timescale_enabled(using) else "marketdata_kline"
    interval_filter = "" if klines != "marketdata_kline" else "AND interval = '1m'"
    sql = f"""
        WITH parts AS (
            SELECT symbol, 0 AS part, trade_id::numeric AS ord, price AS open, price AS high,
                   price AS low, price AS close, quantity AS volume,
                   quote_quantity AS quote_volume, 1::bigint AS trades
            FROM marketdata_tick
            WHERE symbol = ANY(%s) AND time >= %s AND time < %s
            UNION ALL
            SELECT symbol, 1, extract(epoch FROM open_time)::numeric, open, high, low, close,
                   volume, quote_volume, trades
            FROM {klines}
            WHERE symbol = ANY(%s) {interval_filter} AND open_time >= %s AND open_time <= %s
        )
        SELECT symbol, (array_agg(open ORDER BY part, ord))[1], max(high), min(low),
               (array_agg(close ORDER BY part DESC, ord DESC))[1], sum(volume),
               sum(quote_volume), sum(trades)
        FROM parts GROUP BY symbol
    """  # noqa: S608 - fixed names
    names = list(symbols)
    stats: dict[str, dict[str, Any]] = {
        symbol: {
            "symbol": symbol,
            "last": None,
            "open": None,
            "high": None,
            "low": None,
            "volume": Decimal(0),
            "quote_volume": Decimal(0),
            "trades": 0,
        }
        for symbol in names
    }
    if not names:
        return stats
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [names, start, first_minute, names, first_minute, now])
        for symbol, open_, high, low, close, volume, quote_volume, trades in cursor.fetchall():
            row = stats[symbol]
            row.update(
                open=open_,
                high=high,
                low=low,
                last=close,
                volume=volume,
                quote_volume=quote_volume,
                trades=int(trades),
            )
        quiet = [symbol for symbol in names if stats[symbol]["last"] is None]
        if quiet:  # no trade in the window: the last price is the newest trade's
            cursor.execute(
                "SELECT s.symbol, t.price FROM unnest(%s::text[]) AS s(symbol) "
                "CROSS JOIN LATERAL (SELECT price FROM marketdata_tick "
                "WHERE symbol = s.symbol ORDER BY time DESC, trade_id DESC LIMIT 1) AS t",
                [quiet],
            )
            for symbol, price in cursor.fetchall():
                stats[symbol]["last"] = price
    return stats


# -- TimescaleDB -----------------------------------------------------------------------------


def klines_refresh(
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    using: str = TIMESERIES_ALIAS,
) -> None:
    """TimescaleDB: materialise the continuous aggregates over [start, end) now (what the
    refresh policies do in the background; the tests and the backfill call it, since
    PGlite runs no background jobs). Must run outside a transaction. Plain PostgreSQL:
    nothing to do, the rollups are written with the ticks."""
    if not timescale_enabled(using):
        return
    with connections[using].cursor() as cursor:
        for interval in INTERVALS:
            cursor.execute(
                "CALL refresh_continuous_aggregate(%s, %s::timestamptz, %s::timestamptz)",
                [aggregate_name(interval), start, end],
            )


def timescale_install(cursor: Any) -> None:
    """The TimescaleDB objects (migration 0002): the hypertable, one continuous aggregate
    per interval with its refresh policy, and the compression and retention policies."""
    cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    cursor.execute(
        "SELECT create_hypertable('marketdata_tick', 'time', "
        "chunk_time_interval => interval '1 day', migrate_data => true)"
    )
    for interval in INTERVALS:
        width = _width_sql(interval)
        cursor.execute(
            f"""
            CREATE MATERIALIZED VIEW {aggregate_name(interval)}
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT symbol, time_bucket({width}, time) AS open_time,
                   first(price, trade_id) AS open, max(price) AS high, min(price) AS low,
                   last(price, trade_id) AS close, sum(quantity) AS volume,
                   sum(quote_quantity) AS quote_volume, count(*) AS trades
            FROM marketdata_tick
            GROUP BY symbol, time_bucket({width}, time)
            WITH NO DATA
            """  # noqa: S608 - fixed names only
        )
        start_offset, end_offset, schedule = REFRESH_POLICIES[interval]
        cursor.execute(
            "SELECT add_continuous_aggregate_policy(%s, start_offset => %s::interval, "
            "end_offset => %s::interval, schedule_interval => %s::interval)",
            [aggregate_name(interval), start_offset, end_offset, schedule],
        )
    cursor.execute(
        "ALTER TABLE marketdata_tick SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'symbol', "
        "timescaledb.compress_orderby = 'time DESC, trade_id DESC')"
    )
    timescale_policies_apply(cursor)


def timescale_policies_apply(
    cursor: Any, *, compress_after: str | None = None, retain: str | None = None
) -> None:
    """(Re)set the compression and retention policies of the raw ticks from the settings
    (TIMESERIES_COMPRESS_AFTER, TIMESERIES_RETAIN_TICKS; "" for none)."""
    if compress_after is None:
        compress_after = settings.TIMESERIES_COMPRESS_AFTER
    if retain is None:
        retain = settings.TIMESERIES_RETAIN_TICKS
    cursor.execute("SELECT remove_compression_policy('marketdata_tick', if_exists => true)")
    if compress_after:
        cursor.execute(
            "SELECT add_compression_policy('marketdata_tick', %s::interval)", [compress_after]
        )
    cursor.execute("SELECT remove_retention_policy('marketdata_tick', if_exists => true)")
    if retain:
        cursor.execute("SELECT add_retention_policy('marketdata_tick', %s::interval)", [retain])


def timescale_uninstall(cursor: Any) -> None:
    for interval in INTERVALS:
        cursor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {aggregate_name(interval)}")
