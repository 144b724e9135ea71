"""GET /markets/{s}/depth: up to 5,000 levels a side or the whole book (limit=all), from
the read model's whole book, which the engine keeps level by level in each batch's MULTI."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis
from django.conf import settings

from infra import keys
from marketdata.units import market_units_to_wire
from orders.tests.helpers import place

pytestmark = pytest.mark.django_db


def depth(client, symbol: str, limit: object = None) -> dict:
    path = f"/api/v1/markets/{symbol}/depth" + ("" if limit is None else f"?limit={limit}")
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json()


def test_deep_depth_follows_the_book_past_100_levels(engine, market, make_trader):
    # two makers: each stays within the default open-order limit (200 per market)
    maker, seller, taker = make_trader(), make_trader(), make_trader()
    bids = [Decimal(100 + i) for i in range(150)]  # 150 bid levels, 120 ask levels
    asks = [Decimal(300 + i) for i in range(120)]
    for price in bids:
        place(maker, symbol=market, side="buy", price=str(price), quantity="0.01")
    orders = [
        place(seller, symbol=market, side="sell", price=str(price), quantity="0.005")["order"]
        for price in asks
    ]
    top = depth(maker, market, 100)
    deep = depth(maker, market, 5000)
    assert len(top["bids"]) == len(top["asks"]) == 100
    assert (len(deep["bids"]), len(deep["asks"])) == (150, 120)
    assert deep["bids"][0] == ["249", "0.01"] and deep["bids"][-1] == ["100", "0.01"]
    assert deep["asks"][0] == ["300", "0.005"] and deep["asks"][-1] == ["419", "0.005"]
    assert deep["sequence"] == top["sequence"]
    assert (deep["bids"][:100], deep["asks"][:100]) == (top["bids"], top["asks"])
    assert depth(maker, market, "all") == deep
    part = depth(maker, market, 120)
    assert (len(part["bids"]), len(part["asks"])) == (120, 120)

    # a partial fill of the best bid, a swept ask level, a cancel deep in the book
    place(taker, symbol=market, side="sell", price="249", quantity="0.005")
    place(taker, symbol=market, side="buy", price="300", quantity="0.005")
    response = seller.delete(f"/api/v1/orders/{orders[110]['id']}")  # the ask at 410
    assert response.status_code == 200, response.content
    top, deep = depth(maker, market, 100), depth(maker, market, "all")
    assert deep["sequence"] == top["sequence"]
    assert deep["bids"][0] == ["249", "0.005"] and len(deep["bids"]) == 150
    assert deep["asks"][0] == ["301", "0.005"] and len(deep["asks"]) == 118
    assert ["410", "0.005"] not in deep["asks"] and ["411", "0.005"] in deep["asks"]
    assert (deep["bids"][:100], deep["asks"][:100]) == (top["bids"], top["asks"])

    # the whole book is rewritten from memory at start-up
    engine.stop()
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete(keys.rm_book(market, "bids"), keys.rm_book(market, "asks"))
    engine.start()
    assert depth(maker, market, "all") == deep


@pytest.mark.parametrize("limit", ["0", "-1", "5001", "abc", "1.5", "1e3", "５", "alll"])
def test_bad_depth_limits_are_400_in_the_contract_shape(client, engine, market, limit):
    response = client.get(f"/api/v1/markets/{market}/depth?limit={limit}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("limit: ") and '"all"' in error["message"]
    assert list(error["details"]) == ["limit"]


def test_an_empty_book_answers_at_any_depth(client, engine, market):
    for limit in (None, 1, 100, 101, 5000, "all", "ALL"):
        body = client.get(
            f"/api/v1/markets/{market}/depth" + ("" if limit is None else f"?limit={limit}")
        ).json()
        assert (body["bids"], body["asks"]) == ([], []), (limit, body)


def test_a_batch_that_changes_thousands_of_levels_keeps_the_whole_book_exact():
    """One batch rests 5,000 ask levels (a ZADD of 10,000 values, past Lua's unpack
    limit), the next sweeps 4,200 of them: the whole book's ZADD / ZREM go in parts and it
    still equals the engine's book."""
    from engine_worker import wire
    from engine_worker.runtime import EngineRuntime
    from infra import deepbook
    from marketdata.units import MarketUnits

    conn = redis.Redis.from_url(settings.REDIS_URL)
    runtime = EngineRuntime(9, fee_account=1, connection=conn)  # a shard no engine serves
    symbol = "DEEP9_USDT"
    units = MarketUnits(
        symbol=symbol, base="BTC", quote="USDT", base_decimals=8, quote_decimals=8,
        tick_size=Decimal("0.01"), lot_size=Decimal("0.00001"), min_quantity=Decimal(0),
        max_quantity=Decimal(1000), min_notional=Decimal(0), maker_fee_bps=0, taker_fee_bps=0,
        status="trading", shard=9,
    )  # fmt: skip
    makers, taker = range(990_010, 990_020), 990_002  # 500 orders each: one op per user

    def order(n: int, user: int, side: str, price: int, lots: int, tif: str = "GTC") -> dict:
        return {
            "kind": "PlaceOrder", "request_id": f"deep9-{n}", "ts": 1, "user_id": user,
            "symbol": symbol, "side": side, "type": "limit", "time_in_force": tif,
            "price": price, "quantity": lots, "post_only": False, "client_order_id": None,
        }  # fmt: skip

    try:
        runtime.apply_batch(
            [
                {"kind": "AddMarket", "request_id": "deep9-m", "ts": 1,
                 "market": market_units_to_wire(units)},
                *({"kind": "Deposit", "request_id": f"deep9-b{m}", "ts": 1, "user_id": m,
                   "asset": "BTC", "amount": 10**12, "decimals": 8} for m in makers),
                {"kind": "Deposit", "request_id": "deep9-u", "ts": 1, "user_id": taker,
                 "asset": "USDT", "amount": 10**16, "decimals": 8},
            ],
            reply_to=None,
        )  # fmt: skip
        runtime.apply_batch(
            [order(i, makers[i % 10], "sell", 10_000 + i, 3) for i in range(5000)], reply_to=None
        )
        assert len(deepbook.read(conn, symbol, None)[2]) == 5000
        runtime.apply_batch(
            [order(9000, taker, "buy", 10_000 + 4199, 3 * 4200, "IOC")], reply_to=None
        )
        bids, asks, depth_seq = runtime.engine.depth_snapshot(symbol, 10**9)
        book_seq, _, book_asks = deepbook.read(conn, symbol, None)
        assert len(asks) == 800 and not bids
        assert book_seq == depth_seq
        assert book_asks == wire.depth_json(units, bids, asks)["asks"]
        assert book_asks[0] == ["142", "0.00003"]
        assert deepbook.read(conn, symbol, 5)[2] == book_asks[:5]
    finally:
        for key in conn.scan_iter("rm:*DEEP9_USDT*"):
            conn.delete(key)
        conn.delete(keys.events_stream(9), keys.commands_stream(9))
