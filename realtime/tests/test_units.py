"""The bridge's coalescing and candles, the protocol's validation and the slow-client
check, without any server."""

from __future__ import annotations

import functools
import json
from decimal import Decimal

import pytest

from realtime.bridge import Coalescer, MarketStats
from realtime.consumers import buffered_bytes, find_transport
from realtime.protocol import ProtocolError, parse_channel, parse_message


def depth(first: int, last: int, bids=(), asks=()) -> dict:
    return {"symbol": "X_Y", "first_sequence": first, "sequence": last,
            "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}  # fmt: skip


def test_a_window_keeps_each_levels_last_quantity_and_the_covered_range():
    c = Coalescer(0.1)
    assert c.add_depth(depth(1, 2, bids=[("10", "1")]), now=0) == []
    assert c.add_depth(depth(3, 3, bids=[("10", "0"), ("9", "2")], asks=[("11", "1")]), 0.05) == []
    assert c.due(0.09) == []
    [(symbol, window)] = c.due(0.1)
    assert (symbol, window.first_sequence, window.sequence) == ("X_Y", 1, 3)
    assert window.bids == {"10": "0", "9": "2"} and window.asks == {"11": "1"}
    assert c.next_deadline() is None


def test_a_break_in_the_engines_sequence_sends_the_window_so_far_on_its_own():
    c = Coalescer(0.1)
    c.add_depth(depth(1, 2), now=0)
    [(_, before)] = c.add_depth(depth(5, 5), now=0.01)
    assert (before.first_sequence, before.sequence) == (1, 2)
    [(_, after)] = c.due(1)
    assert (after.first_sequence, after.sequence) == (5, 5)


def trade(i: int, ms: int, price: str, qty: str) -> dict:
    return {"id": i, "time_ms": ms, "price": price, "quantity": qty}


def test_candles_follow_trades_per_interval_and_a_new_bucket_starts_a_new_candle():
    stats = MarketStats("X_Y")
    stats.add(trade(1, 59_999, "10.00", "1"))
    touched = stats.add(trade(2, 60_000, "12.00", "2"))
    [one_minute] = touched["1m"]
    assert one_minute.json()["open_time_ms"] == 60_000 and one_minute.trades == 1
    [hour] = touched["1h"]
    body = hour.json()
    assert (body["open"], body["high"], body["low"], body["close"]) == (
        "10.00",
        "12.00",
        "10.00",
        "12.00",
    )
    assert Decimal(body["volume"]) == 3 and Decimal(body["quote_volume"]) == 34
    assert body["trades"] == 2
    assert stats.add(trade(2, 60_000, "12.00", "2")) == {}  # a trade already counted
    ticker = stats.ticker(120_000, "11.00", "13.00")
    assert ticker["last"] == "12" and ticker["open"] == "10"  # as REST writes decimals
    assert ticker["change_percent"] == "20.00" and ticker["best_bid"] == "11.00"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", "bad_json"),
        (None, "bad_message"),
        ('"a string"', "bad_message"),
        ('{"op": 1}', "bad_message"),
        ('{"op": "x"}', "unknown_op"),
        ('{"op": "subscribe", "channels": []}', "bad_message"),
        ('{"op": "auth", "token": 5}', "bad_message"),
        ('{"op": "ping", "id": [1]}', "bad_message"),
    ],
)
def test_bad_messages_are_refused_with_their_code(text, code):
    with pytest.raises(ProtocolError) as refused:
        parse_message(text)
    assert refused.value.code == code


@pytest.mark.parametrize(
    "name", ["depth", "depth.btc_usdt", "depth.BTC_USDT.x", "klines.BTC_USDT", "klines.BTC_USDT.2m",
             "users", "trades.", "ticker.A_B.C"],
)  # fmt: skip
def test_unknown_channels_are_refused(name):
    with pytest.raises(ProtocolError) as refused:
        parse_channel(name)
    assert refused.value.code == "unknown_channel"


def test_channels_map_to_their_groups():
    assert parse_channel("depth.BTC_USDT").group() == "md.depth.BTC_USDT"
    assert parse_channel("klines.BTC_USDT.15m").group() == "md.klines.BTC_USDT.15m"
    assert parse_channel("user").group(7) == "user.7"


def test_the_slow_client_check_reads_the_transport_under_daphnes_send():
    class Transport:
        dataBuffer = b"x" * 100
        offset = 40
        _tempDataLen = 5

    class Protocol:
        transport = Transport()

        def sendPreparedMessage(self, prepared):
            pass

    async def handle_reply(protocol, message):
        pass

    class SessionWrapper:  # channels.sessions.InstanceSessionWrapper's shape
        def __init__(self, send):
            self.real_send = send

        async def send(self, message):
            pass

    send = SessionWrapper(functools.partial(handle_reply, Protocol())).send
    transport = find_transport(send)
    assert buffered_bytes(transport) == 65
    assert find_transport(lambda message: None) is None


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_the_bridge_ticker_equals_the_rest_ticker_for_the_same_trades():
    """One ticker: the REST body and the bridge's, for the same trades, field by field,
    with a change at the half (0.005 %: half to even gives 0.00), huge volumes and prices
    18 orders of magnitude apart, and a market without a trade in the last 24 h."""
    from datetime import UTC, datetime, timedelta

    from rest_framework.test import APIClient

    from infra import keys
    from marketdata import selectors, timeseries
    from marketdata.tests.test_market_data import new_market, trade

    now = (datetime.now(tz=UTC) - timeseries.EPOCH) // timedelta(milliseconds=1)
    big = "9999999999999999.99"
    half, wide, quiet = new_market(), new_market(), new_market()
    trades = {
        half: [
            trade(half, 1, now - 3_600_000, "1000.00", "0.5"),
            trade(half, 2, now - 1_800_000, "1200.00", "1.25"),
            trade(half, 3, now - 1_800_000, "900.00", "2"),
            trade(half, 4, now - 1000, "1000.05", "0.00001"),
        ],
        wide: [
            trade(wide, 1, now - 1000, "0.000000000000000001", "1"),
            *(trade(wide, i, now - 1000 + i, big, "10000") for i in (2, 3, 4)),
        ],
        quiet: [trade(quiet, 1, now - 3 * 86_400_000, "7.00", "1")],
    }
    client = APIClient()
    for symbol, records in trades.items():
        timeseries.ticks_write(records)
        depth = {"symbol": symbol, "sequence": 9, "bids": [["99", "1"]], "asks": []}
        selectors.read_model().set(keys.rm_depth(symbol), json.dumps(depth))
        stats = MarketStats(symbol)
        for record in records:
            stats.add(record)
        rest = client.get(f"/api/v1/markets/{symbol}/ticker").json()
        assert stats.ticker(now, "99", None) == rest, symbol
    assert client.get(f"/api/v1/markets/{half}/ticker").json()["change_percent"] == "0.00"
