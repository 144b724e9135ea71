"""Batches of any size commit completely: a command that closes or fills thousands of
orders writes every one of them to the read model (APPLY_OPS' commands are split below
Lua's unpack() limit), in the same atomic step as its reply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
import redis
from django.conf import settings

from engine_client.gateway import get_gateway, now_ms
from engine_worker.fold import MAX_OP_WORDS, MAX_VALUES_PER_OP, split_op
from infra import keys
from orders.tests.helpers import balances, place

pytestmark = pytest.mark.django_db

MANY = 8_200  # past the ~8,000 values one Lua unpack() takes


def test_split_op_splits_every_multi_value_command_and_keeps_the_rest():
    assert split_op(("SET", "k", "v")) == [("SET", "k", "v")]
    members = [str(i) for i in range(2 * MAX_VALUES_PER_OP + 1)]
    commands = split_op(("ZREM", "k", *members))
    assert len(commands[0]) == MAX_VALUES_PER_OP + 2
    assert all(len(c) <= MAX_OP_WORDS for c in commands)
    assert [c[:2] for c in commands] == [("ZREM", "k")] * 3
    assert [m for c in commands for m in c[2:]] == members
    pairs = [w for i in range(MAX_VALUES_PER_OP + 3) for w in (str(i), f"v{i}")]
    commands = split_op(("HSET", "h", *pairs))
    assert len(commands[0]) == 2 + 2 * MAX_VALUES_PER_OP  # pairs stay whole
    with pytest.raises(ValueError, match="cannot be split"):
        split_op(("PUBLISH", "channel", *members))


def test_split_op_splits_mset_into_whole_pairs_without_a_key_head():
    pairs = [w for i in range(2 * MAX_VALUES_PER_OP + 1) for w in (f"k{i}", f"v{i}")]
    commands = split_op(("MSET", *pairs))
    for c in commands:
        assert len(c) <= MAX_OP_WORDS and len(c) % 2 == 1  # MSET and whole key-value pairs
    assert [c[0] for c in commands] == ["MSET"] * 3
    assert [w for c in commands for w in c[1:]] == pairs


def place_many(user_id: int, symbol: str, side: str, prices: list[int], lots: int) -> list[dict]:
    """Limit orders through one gateway without waiting for each: they batch."""
    gateway = get_gateway()
    futures = [
        gateway.submit(
            0,
            {
                "kind": "PlaceOrder",
                "request_id": gateway.new_request_id(),
                "ts": now_ms(),
                "user_id": user_id,
                "symbol": symbol,
                "side": side,
                "type": "limit",
                "time_in_force": "GTC",
                "price": price,
                "quantity": lots,
                "post_only": False,
                "client_order_id": None,
            },
        )
        for price in prices
    ]
    replies = [f.result(60) for f in futures]
    assert all(r["ok"] for r in replies), next(r for r in replies if not r["ok"])
    return replies


def fund(user_id: int, asset: str, amount: int) -> None:
    from engine_client.gateway import engine_call

    reply = engine_call(
        {"kind": "Deposit", "user_id": user_id, "asset": asset, "amount": amount, "decimals": 8}
    )
    assert reply["ok"], reply


@contextmanager
def own_order_limit(user_id: int, max_open_orders: int) -> Iterator[None]:
    """The user's own open-order limit for the test's duration. Set back afterwards: the
    engine lives for the session, and its next start would align its limits with the
    database, where the test's row is rolled back (one more command in the log)."""
    from orders.services import order_limit_set

    order_limit_set(user_id=user_id, max_open_orders=max_open_orders)
    try:
        yield
    finally:
        order_limit_set(user_id=user_id, max_open_orders=None)


def test_cancel_all_of_thousands_of_orders_commits_completely(make_trader, client, market):
    trader = make_trader()
    with own_order_limit(trader.user_id, MANY):
        fund(trader.user_id, "USDT", 10**16)
        # 0.01 BTC each at 100.00 .. 104.99
        prices = [100_00 + i % 500 for i in range(MANY)]
        place_many(trader.user_id, market, "buy", prices, 1000)
        assert Decimal(balances(trader)["USDT"][1]) == sum(Decimal(p) / 10_000 for p in prices)

        response = trader.delete(f"/api/v1/orders?symbol={market}")
        assert response.status_code == 200, response.content[:500]
        assert len(response.json()) == MANY
        assert balances(trader)["USDT"][1] == "0"
        assert trader.get(f"/api/v1/orders?symbol={market}").json()["results"] == []
        conn = redis.Redis.from_url(settings.REDIS_URL)
        assert conn.zcard(keys.rm_open_orders(trader.user_id)) == 0
        depth = client.get(f"/api/v1/markets/{market}/depth").json()
        assert (depth["bids"], depth["asks"]) == ([], [])


def test_one_taker_sweeping_thousands_of_orders_commits_completely(make_trader, client, market):
    maker, taker = make_trader(), make_trader()
    with own_order_limit(maker.user_id, MANY):
        fund(maker.user_id, "BTC", 10**12)
        fund(taker.user_id, "USDT", 10**16)
        place_many(maker.user_id, market, "sell", [100_00 + i % 500 for i in range(MANY)], 1000)
        assert balances(maker)["BTC"][1] == str(MANY // 100)

        swept = place(
            taker, symbol=market, side="buy", price="105", quantity=str(MANY // 100)
        )  # 0.01 BTC times MANY
        assert swept["order"]["status"] == "filled"
        assert len(swept["fills"]) == MANY
        assert balances(maker)["BTC"][1] == "0"
        assert maker.get(f"/api/v1/orders?symbol={market}").json()["results"] == []
        conn = redis.Redis.from_url(settings.REDIS_URL)
        assert conn.zcard(keys.rm_open_orders(maker.user_id)) == 0
        closed = conn.lrange(keys.rm_closed_orders(maker.user_id), 0, 0)
        assert json.loads(conn.get(keys.rm_order(int(closed[0]))))["status"] == "filled"
        depth = client.get(f"/api/v1/markets/{market}/depth").json()
        assert (depth["bids"], depth["asks"]) == ([], [])
