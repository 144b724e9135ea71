"""The bridge's coalescing and candles, the protocol's validation and the slow-client
check, without any server."""

from __future__ import annotations

import functools
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
    assert ticker["last"] == "12.00" and ticker["open"] == "10.00"
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
