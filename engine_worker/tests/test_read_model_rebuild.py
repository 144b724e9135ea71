"""The read model is rebuilt from the engine's memory at start-up when it is missing (a
Redis restart without persistence, its rm:* keys deleted): GET /balances, the open
orders, an order by client_order_id and depth answer as before."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from infra import keys
from orders.selectors import order_get_by_client_id
from orders.tests.helpers import place

pytestmark = pytest.mark.django_db


def _views(trader, symbol: str) -> dict:
    def get(path: str):
        response = trader.get(path)
        assert response.status_code == 200, response.content
        return response.json()

    return {
        "balances": sorted(get("/api/v1/balances"), key=lambda b: b["asset"]),
        "open": get(f"/api/v1/orders?symbol={symbol}")["results"],
        "depth": get(f"/api/v1/markets/{symbol}/depth"),
    }


def _without_sequence(orders: list[dict]) -> list[dict]:
    return [{k: v for k, v in o.items() if k != "sequence"} for o in orders]


def test_deleted_read_model_is_rebuilt_at_engine_start(engine, market, make_trader):
    maker, taker = make_trader(), make_trader()
    place(maker, symbol=market, side="buy", price="100", quantity="0.5", client_order_id="bid-1")
    place(maker, symbol=market, side="sell", price="110", quantity="0.3", client_order_id="ask-1")
    place(maker, symbol=market, side="sell", price="111", quantity="0.2")
    place(taker, symbol=market, side="buy", price="110", quantity="0.1")  # a partial fill
    before = _views(maker, market)
    assert len(before["open"]) == 3 and before["depth"]["asks"][0] == ["110", "0.2"]

    engine.stop()
    conn = redis.Redis.from_url(settings.REDIS_URL)
    deleted = 0
    for key in conn.scan_iter("rm:*", count=1000):
        deleted += conn.delete(key)
    assert deleted and conn.get(keys.rm_ready(0)) is None
    assert maker.get("/api/v1/balances").json() == []  # what a user saw after a Redis loss
    engine.start()

    after = _views(maker, market)
    assert after["balances"] == before["balances"]
    assert after["depth"] == before["depth"]
    assert _without_sequence(after["open"]) == _without_sequence(before["open"])
    pairs = zip(after["open"], before["open"], strict=True)
    assert all(a["sequence"] >= b["sequence"] for a, b in pairs)  # the recovery point's
    ask = order_get_by_client_id(user_id=maker.user_id, client_order_id="ask-1")
    assert (ask["status"], ask["filled_quantity"]) == ("partially_filled", "0.1")
    assert conn.get(keys.rm_ready(0)) is not None

    # and it goes on from there: the rest of the ask fills, the books and balances follow
    place(taker, symbol=market, side="buy", price="110", quantity="0.2")
    now = _views(maker, market)
    assert now["depth"]["asks"][0] == ["111", "0.2"]
    assert len(now["open"]) == 2
    assert now["balances"] != before["balances"]


def test_read_model_lost_while_the_engine_runs_is_rebuilt_between_jobs(engine, market, make_trader):
    """A Redis restarted without persistence under a running engine: the heartbeat sees
    the marker gone and rebuilds between jobs, with no restart and no new command."""
    import time

    trader = make_trader()
    place(trader, symbol=market, side="buy", price="100", quantity="0.5", client_order_id="b-2")
    before = _views(trader, market)
    conn = redis.Redis.from_url(settings.REDIS_URL)
    for key in conn.scan_iter("rm:*", count=1000):
        conn.delete(key)
    deadline = time.monotonic() + 10
    while conn.get(keys.rm_ready(0)) is None:
        assert time.monotonic() < deadline, "not rebuilt"
        time.sleep(0.1)
    after = _views(trader, market)
    assert after["balances"] == before["balances"]
    assert after["depth"] == before["depth"]
    assert _without_sequence(after["open"]) == _without_sequence(before["open"])
