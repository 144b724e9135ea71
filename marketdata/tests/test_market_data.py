"""Market data: ticks, klines, 24 h tickers and public trades.

This module runs twice in the suite: here on the configured timeseries database (plain
PostgreSQL in `make test`), and again by test_timescaledb_run.py in a pytest of its own
with the timeseries alias on the PGlite TimescaleDB server. The expectations are the same
on both; the TimescaleDB-only checks skip on plain PostgreSQL.

API tests do not materialise the continuous aggregates: on TimescaleDB they read them in
real time. test_materialised_klines_match_and_newest_bucket_is_real_time refreshes them
(outside a transaction, so it is a transactional test of the timeseries alias only).
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from infra import keys
from marketdata import selectors, timeseries
from marketdata.models import Asset, Market

BOTH = ["default", "timeseries"]
_symbols = itertools.count(1)


def new_symbol(prefix: str = "MD") -> str:
    return f"{prefix}{os.getpid()}X{next(_symbols)}_USDT"


def new_market() -> str:
    symbol = new_symbol()
    base, _ = Asset.objects.get_or_create(symbol="BTC", defaults={"decimals": 8})
    quote, _ = Asset.objects.get_or_create(symbol="USDT", defaults={"decimals": 6})
    Market.objects.create(
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
    )
    return symbol


def ms(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (moment - timeseries.EPOCH) // timedelta(milliseconds=1)


def trade(symbol: str, id_: int, time: str | int, price: str, quantity: str, side="buy"):
    """A trade record as the engine's stream has it (extra keys included)."""
    time_ms = ms(time) if isinstance(time, str) else time
    return {
        "id": id_,
        "symbol": symbol,
        "price": price,
        "quantity": quantity,
        "quote_quantity": str(Decimal(price) * Decimal(quantity)),
        "taker_side": side,
        "time_ms": time_ms,
        "sequence": id_,
        "maker_order_id": 1,
        "taker_order_id": 2,
    }


# A known day of trades. t2 and t3 share a millisecond (one taker, two makers): the
# trade id orders them. 12:59:59.999 and 13:00:00 fall in different 1m and 1h candles,
# 15:59:59.999 and 16:00 in different 4h ones, 23:59:59.999 and 00:00 in different days.
DAY = [
    (1, "2024-01-01 12:59:59.999", "100", "1"),
    (2, "2024-01-01 13:00:00.000", "101", "2"),
    (3, "2024-01-01 13:00:00.000", "99.5", "0.5"),
    (4, "2024-01-01 13:04:59.999", "102", "1"),
    (5, "2024-01-01 13:05:00.000", "98", "3"),
    (6, "2024-01-01 15:59:59.999", "103", "0.25"),
    (7, "2024-01-01 16:00:00.000", "104", "1"),
    (8, "2024-01-01 23:59:59.999", "105", "1"),
    (9, "2024-01-02 00:00:00.000", "106", "2"),
]

# interval -> [(open_time, open, high, low, close, volume, quote_volume, trades)]
EXPECTED = {
    "1m": [
        ("2024-01-01T12:59:00.000Z", "100", "100", "100", "100", "1", "100", 1),
        ("2024-01-01T13:00:00.000Z", "101", "101", "99.5", "99.5", "2.5", "251.75", 2),
        ("2024-01-01T13:04:00.000Z", "102", "102", "102", "102", "1", "102", 1),
        ("2024-01-01T13:05:00.000Z", "98", "98", "98", "98", "3", "294", 1),
        ("2024-01-01T15:59:00.000Z", "103", "103", "103", "103", "0.25", "25.75", 1),
        ("2024-01-01T16:00:00.000Z", "104", "104", "104", "104", "1", "104", 1),
        ("2024-01-01T23:59:00.000Z", "105", "105", "105", "105", "1", "105", 1),
        ("2024-01-02T00:00:00.000Z", "106", "106", "106", "106", "2", "212", 1),
    ],
    "5m": [
        ("2024-01-01T12:55:00.000Z", "100", "100", "100", "100", "1", "100", 1),
        ("2024-01-01T13:00:00.000Z", "101", "102", "99.5", "102", "3.5", "353.75", 3),
        ("2024-01-01T13:05:00.000Z", "98", "98", "98", "98", "3", "294", 1),
        ("2024-01-01T15:55:00.000Z", "103", "103", "103", "103", "0.25", "25.75", 1),
        ("2024-01-01T16:00:00.000Z", "104", "104", "104", "104", "1", "104", 1),
        ("2024-01-01T23:55:00.000Z", "105", "105", "105", "105", "1", "105", 1),
        ("2024-01-02T00:00:00.000Z", "106", "106", "106", "106", "2", "212", 1),
    ],
    "15m": [
        ("2024-01-01T12:45:00.000Z", "100", "100", "100", "100", "1", "100", 1),
        ("2024-01-01T13:00:00.000Z", "101", "102", "98", "98", "6.5", "647.75", 4),
        ("2024-01-01T15:45:00.000Z", "103", "103", "103", "103", "0.25", "25.75", 1),
        ("2024-01-01T16:00:00.000Z", "104", "104", "104", "104", "1", "104", 1),
        ("2024-01-01T23:45:00.000Z", "105", "105", "105", "105", "1", "105", 1),
        ("2024-01-02T00:00:00.000Z", "106", "106", "106", "106", "2", "212", 1),
    ],
    "1h": [
        ("2024-01-01T12:00:00.000Z", "100", "100", "100", "100", "1", "100", 1),
        ("2024-01-01T13:00:00.000Z", "101", "102", "98", "98", "6.5", "647.75", 4),
        ("2024-01-01T15:00:00.000Z", "103", "103", "103", "103", "0.25", "25.75", 1),
        ("2024-01-01T16:00:00.000Z", "104", "104", "104", "104", "1", "104", 1),
        ("2024-01-01T23:00:00.000Z", "105", "105", "105", "105", "1", "105", 1),
        ("2024-01-02T00:00:00.000Z", "106", "106", "106", "106", "2", "212", 1),
    ],
    "4h": [
        ("2024-01-01T12:00:00.000Z", "100", "103", "98", "103", "7.75", "773.5", 6),
        ("2024-01-01T16:00:00.000Z", "104", "104", "104", "104", "1", "104", 1),
        ("2024-01-01T20:00:00.000Z", "105", "105", "105", "105", "1", "105", 1),
        ("2024-01-02T00:00:00.000Z", "106", "106", "106", "106", "2", "212", 1),
    ],
    "1d": [
        ("2024-01-01T00:00:00.000Z", "100", "105", "98", "105", "9.75", "982.5", 8),
        ("2024-01-02T00:00:00.000Z", "106", "106", "106", "106", "2", "212", 1),
    ],
}
FIELDS = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "trades")


def write_day(symbol: str, *, shift: timedelta = timedelta(0), other: str | None = None) -> None:
    """The known day, in two batches out of order (the second repeating a trade of the
    first, as a replayed stream entry would), interleaved with another market's trades."""
    rows = [
        trade(symbol, id_, ms(time) + shift // timedelta(milliseconds=1), price, qty)
        for id_, time, price, qty in DAY
    ]
    noise = [trade(other, 100 + r["id"], r["time_ms"], "1", "1") for r in rows] if other else []
    first = [rows[1], rows[3], rows[5], rows[7], *noise[:4]]
    second = [rows[0], rows[2], rows[4], rows[6], rows[8], rows[1], *noise[4:]]
    assert timeseries.ticks_write(first) == len(first)
    assert timeseries.ticks_write(second) == len(second) - 1


def as_rows(klines: list[dict]) -> list[tuple]:
    return [tuple(k[f] for f in FIELDS) for k in klines]


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.mark.django_db(databases=BOTH)
@pytest.mark.parametrize("interval", list(EXPECTED))
def test_klines_of_every_interval_are_exact(client, interval):
    symbol = new_market()
    write_day(symbol, other=new_market())
    response = client.get(
        f"/api/v1/markets/{symbol}/klines",
        {"interval": interval, "start": "2024-01-01T00:00:00Z", "end": ms("2024-01-03 00:00")},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert as_rows(body) == EXPECTED[interval]
    assert body[0]["open_time_ms"] == ms(EXPECTED[interval][0][0][:-1].replace("T", " "))


@pytest.mark.django_db(databases=BOTH)
def test_kline_range_and_limit(client):
    symbol = new_market()
    write_day(symbol)
    url = f"/api/v1/markets/{symbol}/klines"
    # from start, oldest first, at most limit
    body = client.get(url, {"interval": "1m", "start": "2024-01-01T13:00:00", "limit": 2}).json()
    assert [k["open_time"][11:16] for k in body] == ["13:00", "13:04"]
    # no start: the newest up to end (inclusive of a candle opening at end), oldest first
    body = client.get(url, {"interval": "1m", "end": ms("2024-01-01 16:00"), "limit": 3}).json()
    assert [k["open_time"][11:16] for k in body] == ["13:05", "15:59", "16:00"]
    # no range at all: the newest
    body = client.get(url, {"interval": "1h", "limit": 2}).json()
    assert [k["open_time"][:16] for k in body] == ["2024-01-01T23:00", "2024-01-02T00:00"]
    # a limit past 1000 is served as 1000
    assert len(client.get(url, {"interval": "1m", "limit": 5000}).json()) == 8


@pytest.mark.django_db(databases=BOTH)
def test_trades_newest_first(client):
    symbol = new_market()
    write_day(symbol, other=new_market())
    response = client.get(f"/api/v1/markets/{symbol}/trades", {"limit": 3})
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": 9,
            "price": "106",
            "quantity": "2",
            "quote_quantity": "212",
            "taker_side": "buy",
            "time": "2024-01-02T00:00:00.000Z",
            "time_ms": ms("2024-01-02 00:00"),
        },
        {
            "id": 8,
            "price": "105",
            "quantity": "1",
            "quote_quantity": "105",
            "taker_side": "buy",
            "time": "2024-01-01T23:59:59.999Z",
            "time_ms": ms("2024-01-01 23:59:59.999"),
        },
        {
            "id": 7,
            "price": "104",
            "quantity": "1",
            "quote_quantity": "104",
            "taker_side": "buy",
            "time": "2024-01-01T16:00:00.000Z",
            "time_ms": ms("2024-01-01 16:00"),
        },
    ]
    ids = [t["id"] for t in client.get(f"/api/v1/markets/{symbol}/trades").json()]
    assert ids == [9, 8, 7, 6, 5, 4, 3, 2, 1]  # 3 before 2: same millisecond, later id


@pytest.mark.django_db(databases=BOTH)
def test_ticker_is_24h_rolling_with_best_bid_and_ask(client):
    symbol, quiet, never = new_market(), new_market(), new_market()
    now = datetime.now(tz=UTC)

    def at(delta: timedelta) -> int:
        return (now - delta - timeseries.EPOCH) // timedelta(milliseconds=1)

    timeseries.ticks_write(
        [
            trade(symbol, 1, at(timedelta(hours=24, seconds=20)), "50", "9"),  # before the window
            trade(symbol, 2, at(timedelta(hours=23, minutes=59, seconds=40)), "100", "1"),
            trade(symbol, 3, at(timedelta(hours=12)), "120", "2"),
            trade(symbol, 4, at(timedelta(hours=12)), "90", "1", side="sell"),
            trade(symbol, 5, at(timedelta(minutes=1)), "110", "0.5"),
            trade(quiet, 1, at(timedelta(days=3)), "7", "1"),
        ]
    )
    depth = {"symbol": symbol, "sequence": 3, "bids": [["109", "1"]], "asks": [["111", "2"]]}
    selectors.read_model().set(keys.rm_depth(symbol), json.dumps(depth))
    response = client.get(f"/api/v1/markets/{symbol}/ticker")
    assert response.status_code == 200
    expected = {
        "symbol": symbol,
        "last": "110",
        "open": "100",
        "high": "120",
        "low": "90",
        "volume": "4.5",
        "quote_volume": "485",
        "trades": 4,
        "change_percent": "10.00",
        "best_bid": "109",
        "best_ask": "111",
    }
    assert response.json() == expected
    tickers = {t["symbol"]: t for t in client.get("/api/v1/tickers").json()}
    assert tickers[symbol] == expected
    assert tickers[quiet] == {
        "symbol": quiet,
        "last": "7",
        "open": None,
        "high": None,
        "low": None,
        "volume": "0",
        "quote_volume": "0",
        "trades": 0,
        "change_percent": None,
        "best_bid": None,
        "best_ask": None,
    }
    assert tickers[never]["last"] is None


@pytest.mark.django_db(databases=BOTH)
@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/markets/NOPE_USDT/klines", {"interval": "1m"}, 404, "unknown_market"),
        ("/api/v1/markets/NOPE_USDT/trades", {}, 404, "unknown_market"),
        ("/api/v1/markets/NOPE_USDT/ticker", {}, 404, "unknown_market"),
        ("/api/v1/markets/{s}/klines", {"interval": "2m"}, 400, "invalid_interval"),
        ("/api/v1/markets/{s}/klines", {}, 400, "invalid_input"),
        ("/api/v1/markets/{s}/klines", {"interval": "1m", "start": 2, "end": 1}, 400,
         "invalid_range"),
        ("/api/v1/markets/{s}/klines", {"interval": "1m", "start": "yesterday"}, 400,
         "invalid_input"),
        ("/api/v1/markets/{s}/klines", {"interval": "1m", "end": "9" * 30}, 400, "invalid_input"),
        ("/api/v1/markets/{s}/klines", {"interval": "1m", "limit": 0}, 400, "invalid_input"),
        ("/api/v1/markets/{s}/trades", {"limit": "x"}, 400, "invalid_input"),
    ],
)  # fmt: skip
def test_bad_requests_in_the_contract_error_shape(client, path, params, status, code):
    response = client.get(path.format(s=new_market()), params)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


@pytest.mark.django_db(databases=BOTH)
def test_ticks_write_is_idempotent(client):
    symbol = new_market()
    write_day(symbol)
    again = [trade(symbol, id_, time, price, qty) for id_, time, price, qty in DAY]
    assert timeseries.ticks_write(again) == 0
    assert timeseries.ticks_write([]) == 0
    body = client.get(f"/api/v1/markets/{symbol}/klines", {"interval": "1d", "limit": 10}).json()
    assert as_rows(body) == EXPECTED["1d"]


@pytest.mark.django_db(databases=BOTH)
def test_backfill_from_the_trades_table(client):
    from orders.models import Trade

    symbol = new_market()
    Trade.objects.bulk_create(
        Trade(
            id=10_000_000 + id_,
            symbol=symbol,
            price=Decimal(price),
            quantity=Decimal(qty),
            quote_quantity=Decimal(price) * Decimal(qty),
            taker_side="buy",
            maker_order_id=1,
            taker_order_id=2,
            maker_user_id=1,
            taker_user_id=1,
            maker_fee=0,
            maker_fee_asset="BTC",
            taker_fee=0,
            taker_fee_asset="USDT",
            time=datetime.fromisoformat(time).replace(tzinfo=UTC),
            sequence=id_,
        )
        for id_, time, price, qty in DAY
    )
    out = StringIO()
    call_command(
        "backfill_timeseries", "--symbol", symbol, "--batch", "4", "--no-refresh", stdout=out
    )
    assert "9 trades read, 9 ticks written" in out.getvalue()
    for interval, rows in EXPECTED.items():
        klines = client.get(f"/api/v1/markets/{symbol}/klines", {"interval": interval}).json()
        assert as_rows(klines) == rows
    out = StringIO()
    call_command("backfill_timeseries", "--symbol", symbol, "--no-refresh", stdout=out)
    assert "9 trades read, 0 ticks written" in out.getvalue()


# -- materialisation (TimescaleDB) / rollups (plain): transactional on the timeseries alias --


@pytest.mark.django_db(transaction=True, databases=["timeseries"])
def test_materialised_klines_match_and_newest_bucket_is_real_time():
    symbol = new_symbol("MAT")
    shift = datetime(2020, 3, 2, tzinfo=UTC) - datetime(2024, 1, 1, tzinfo=UTC)
    write_day(symbol, shift=shift)
    start, end = datetime(2020, 3, 1, tzinfo=UTC), datetime(2020, 3, 4, tzinfo=UTC)
    timeseries.klines_refresh(start, end)

    def shifted(rows: list[tuple]) -> list[tuple]:
        out = []
        for row in rows:
            moment = datetime.fromisoformat(row[0].replace("Z", "+00:00")) + shift
            out.append((moment, *(Decimal(v) for v in row[1:7]), row[7]))
        return out

    for interval, rows in EXPECTED.items():
        klines = timeseries.kline_list(symbol=symbol, interval=interval, start=start, end=end)
        assert [tuple(k[f] for f in FIELDS) for k in klines] == shifted(rows), interval
    # trades after the materialised window: served at once, without a refresh
    later = ms("2020-03-04 00:00:30")
    newer = [trade(symbol, 50, later, "200", "1"), trade(symbol, 51, later, "1", "1")]
    timeseries.ticks_write(newer)
    klines = timeseries.kline_list(symbol=symbol, interval="1d", start=start)
    assert [(k["open_time"].day, k["open"], k["close"], k["trades"]) for k in klines] == [
        (2, Decimal(100), Decimal(105), 8),
        (3, Decimal(106), Decimal(106), 1),
        (4, Decimal(200), Decimal(1), 2),
    ]


def _timescale() -> bool:
    return timeseries.timescale_enabled()


@pytest.mark.django_db(databases=["timeseries"])
def test_timescaledb_ticks_are_a_hypertable_and_intervals_continuous_aggregates():
    if not _timescale():
        pytest.skip("plain PostgreSQL: rollups instead of TimescaleDB objects")
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        assert "marketdata_tick" in {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
            " WHERE hypertable_name = 'marketdata_tick'"
        )
        views = dict(cursor.fetchall())
        assert views == {timeseries.aggregate_name(i): False for i in timeseries.INTERVALS}
        cursor.execute(
            "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs "
            "WHERE proc_name IN ('policy_refresh_continuous_aggregate', 'policy_compression')"
        )
        assert sorted(row[0] for row in cursor.fetchall()) == [
            "policy_compression",
            *["policy_refresh_continuous_aggregate"] * len(timeseries.INTERVALS),
        ]


@pytest.mark.django_db(transaction=True, databases=["timeseries"])
@pytest.mark.parametrize("interval", ["1m", "1d"])
def test_a_kline_query_reads_its_continuous_aggregate(interval):
    if not _timescale():
        pytest.skip("plain PostgreSQL: rollups instead of TimescaleDB objects")
    symbol = new_symbol("AGG")
    write_day(symbol, shift=datetime(2019, 6, 3, tzinfo=UTC) - datetime(2024, 1, 1, tzinfo=UTC))
    start, end = datetime(2019, 6, 1, tzinfo=UTC), datetime(2019, 6, 5, tzinfo=UTC)
    timeseries.klines_refresh(start, end)
    sql, params, _ = timeseries.kline_query(symbol=symbol, interval=interval, start=start)
    assert f"FROM {timeseries.aggregate_name(interval)} " in sql
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT c.chunk_name FROM timescaledb_information.continuous_aggregates a "
            "JOIN timescaledb_information.chunks c "
            "ON c.hypertable_name = a.materialization_hypertable_name WHERE a.view_name = %s",
            [timeseries.aggregate_name(interval)],
        )
        chunks = {row[0] for row in cursor.fetchall()}
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert chunks and any(chunk in plan for chunk in chunks), plan
        # the candles come from the materialised aggregate: without the raw ticks (and
        # without a refresh) they are still there
        before = timeseries.kline_list(symbol=symbol, interval=interval, start=start)
        cursor.execute("DELETE FROM marketdata_tick WHERE symbol = %s", [symbol])
    assert timeseries.kline_list(symbol=symbol, interval=interval, start=start) == before
    assert len(before) == len(EXPECTED[interval])


@pytest.mark.django_db(databases=["timeseries"])
def test_plain_postgresql_klines_read_the_rollup_by_its_key():
    if _timescale():
        pytest.skip("TimescaleDB: continuous aggregates instead of rollups")
    sql, params, _ = timeseries.kline_query(symbol="ANY_USDT", interval="1m", limit=1440)
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "marketdata_kline_pkey" in plan
