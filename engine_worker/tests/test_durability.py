"""Crashes lose nothing acknowledged: the engine killed under load (stops and OCO lists in
the flow) or with pending stops, Redis restarted."""

from __future__ import annotations

import json
import random
import threading
import time
from decimal import Decimal

import pytest
import redis

from apikit.errors import ExchangeError
from apikit.testing import ScratchRedis
from conftest import EngineProcess
from engine_client.gateway import OrderGateway, get_gateway, now_ms
from engine_worker.core.engine import Engine
from engine_worker.wire import command_from_wire
from infra import keys
from marketdata.selectors import market_units_get
from marketdata.units import MarketUnits, format_scaled, market_units_to_wire
from orders.selectors import order_get
from orders.tests.test_history import empty_history, persist  # noqa: F401 - a fixture
from persistence.tests.test_reconcile import reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture
def scratch_redis(tmp_path):
    server = ScratchRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def place_command(user_id: int, symbol: str, side: str, price: int, quantity: int) -> dict:
    return {
        "kind": "PlaceOrder",
        "user_id": user_id,
        "symbol": symbol,
        "side": side,
        "type": "limit",
        "time_in_force": "GTC",
        "price": price,
        "quantity": quantity,
        "post_only": False,
        "client_order_id": None,
    }


def stop_command(user_id: int, symbol: str, side: str, stop: int, price: int, quantity: int):
    """A stop-limit order: at ``price`` once the last trade reaches ``stop``."""
    return {**place_command(user_id, symbol, side, price, quantity), "type": "stop_limit",
            "stop_price": stop}  # fmt: skip


def call(gateway: OrderGateway, command: dict) -> dict:
    command = {**command, "request_id": gateway.new_request_id(), "ts": now_ms()}
    return gateway.call(0, command)


def replay(redis_url: str) -> Engine:
    """A fresh engine fed every command of the stream: what the worker must equal."""
    from accounts.selectors import fee_account_id

    engine = Engine(fee_account=fee_account_id())
    for _, fields in redis.Redis.from_url(redis_url).xrange(keys.commands_stream(0)):
        for command in json.loads(fields[b"commands"]):
            engine.apply(command_from_wire(command)[0])
    return engine


def read_balances(redis_url: str, user_id: int) -> dict[str, tuple[str, str]]:
    raw = redis.Redis.from_url(redis_url).hgetall(keys.rm_balances(user_id))
    return {
        k.decode(): (json.loads(v)["available"], json.loads(v)["locked"]) for k, v in raw.items()
    }


def test_engine_killed_under_load_loses_nothing_acknowledged(engine, market, empty_history):  # noqa: F811
    from django.conf import settings

    gateway = OrderGateway(settings.REDIS_URL, reply_timeout=2)  # a 504 after 2 s
    users = [400_001 + i for i in range(4)]
    for user in users:
        for asset in ("USDT", "BTC"):
            call(
                gateway,
                {
                    "kind": "Deposit",
                    "user_id": user,
                    "asset": asset,
                    "amount": 10**15,
                    "decimals": 8,
                },
            )
    acknowledged: list[dict] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(user: int) -> None:
        rng = random.Random(user)
        while not stop.is_set():
            side = rng.choice(("buy", "sell"))
            price = 100_00 + rng.randint(-20, 20)
            quantity = rng.randint(1000, 9000)
            roll = rng.random()
            if roll < 0.15:  # a stop near the price: many trigger, some wait (or are refused)
                command = stop_command(user, market, side, price, price, quantity)
            elif roll < 0.2:
                away = rng.randint(5, 30) * (1 if side == "buy" else -1)
                command = {"kind": "PlaceOrderList", "user_id": user, "symbol": market,
                           "side": side, "quantity": quantity, "price": price - away,
                           "stop_price": price + away, "stop_limit_price": None}  # fmt: skip
            else:
                command = place_command(user, market, side, price, quantity)
            try:
                reply = call(gateway, command)
            except ExchangeError as exc:  # 503/504 while the engine is down
                failures.append(exc.code)
                time.sleep(0.05)
                continue
            if reply["ok"] and "order" in reply:
                acknowledged.append(reply)

    threads = [threading.Thread(target=client, args=(u,)) for u in users]
    for t in threads:
        t.start()
    time.sleep(1.0)
    engine.kill()
    time.sleep(0.5)
    engine.start()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    gateway.close()
    gateway = get_gateway()
    assert len(acknowledged) > 20

    probe = call(
        gateway,
        {"kind": "Deposit", "user_id": users[0], "asset": "ETH", "amount": 1, "decimals": 8},
    )
    replayed = replay(settings.REDIS_URL)
    assert_engine_equals_replay(settings.REDIS_URL, replayed, users, market_units_get(market))
    # the next sequence number is the replay's (the probe itself is in the stream)
    assert probe["sequence"] == replayed.next_seq - 1
    for reply in acknowledged:  # every 201 is there, with at least the fills it was told of
        order = order_get(user_id=reply["order"]["user_id"], order_id=reply["order"]["id"])
        assert Decimal(order["filled_quantity"]) >= Decimal(reply["order"]["filled_quantity"])
    # and once the DB processor has caught up, the database agrees with the engine
    persist()
    code, out, err = reconcile()
    assert code == 0, out + err
    assert "no differences" in out


def assert_engine_equals_replay(
    redis_url: str, replayed: Engine, users: list[int], units: MarketUnits
) -> None:
    """The live engine's read model (its balances and book) equals the replay's."""
    for user in users:
        shown = read_balances(redis_url, user)
        for asset in ("USDT", "BTC"):
            available, locked = replayed.balance(user, asset)
            assert shown[asset] == (format_scaled(available, 8), format_scaled(locked, 8))
    bids, asks, depth_seq = replayed.depth_snapshot(units.symbol, 100)
    depth = json.loads(redis.Redis.from_url(redis_url).get(keys.rm_depth(units.symbol)))
    assert depth["sequence"] == depth_seq
    assert depth["bids"] == [[units.ticks_to_price(p), units.lots_to_quantity(q)] for p, q in bids]
    assert depth["asks"] == [[units.ticks_to_price(p), units.lots_to_quantity(q)] for p, q in asks]


def test_redis_restart_with_aof_loses_nothing_acknowledged(engine, scratch_redis):
    """An engine and a gateway on a Redis of the test's own with appendonly yes and
    appendfsync always: kill -9 Redis, start it again on the same files, restart the
    engine as supervisord would: every acknowledged order, fill and balance is there."""
    own_engine = EngineProcess(engine.env, redis_url=scratch_redis.url)
    own_engine.start()
    units = MarketUnits(  # like BTC_USDT; told to the engine directly, not through the DB
        symbol="AOF_USDT",
        base="BTC",
        quote="USDT",
        base_decimals=8,
        quote_decimals=8,
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_quantity=Decimal(0),
        max_quantity=Decimal(1000),
        min_notional=Decimal(1),
        maker_fee_bps=10,
        taker_fee_bps=20,
        status="trading",
        shard=0,
    )
    symbol = units.symbol
    gateway = OrderGateway(scratch_redis.url, reply_timeout=3)
    try:
        assert call(gateway, {"kind": "AddMarket", "market": market_units_to_wire(units)})["ok"]
        seller, buyer = 300_001, 300_002
        call(
            gateway,
            {"kind": "Deposit", "user_id": seller, "asset": "BTC", "amount": 10**8, "decimals": 8},
        )
        call(
            gateway,
            {"kind": "Deposit", "user_id": buyer, "asset": "USDT", "amount": 10**13, "decimals": 8},
        )
        rest = call(gateway, place_command(seller, symbol, "sell", 30_000_00, 50_000))
        take = call(gateway, place_command(buyer, symbol, "buy", 30_000_00, 20_000))
        assert rest["ok"] and take["fills"]
        before = replay(scratch_redis.url)

        scratch_redis.kill()
        scratch_redis.start()
        own_engine.kill()
        own_engine.start()

        after = replay(scratch_redis.url)
        assert after.next_seq == before.next_seq
        assert_engine_equals_replay(scratch_redis.url, after, [seller, buyer], units)
        # 0.2 BTC bought at 30000 with a 20 bps taker fee in BTC
        assert read_balances(scratch_redis.url, buyer)["BTC"] == ("0.1996", "0")
        assert read_balances(scratch_redis.url, buyer)["USDT"] == ("94000", "0")
        again = call(gateway, place_command(buyer, symbol, "buy", 30_000_00, 30_000))
        assert again["order"]["status"] == "filled"  # the rest of the ask survived
    finally:
        gateway.close()
        own_engine.stop()


def test_engine_killed_with_pending_stops_keeps_them_and_they_trigger(
    engine,
    market,
    empty_history,  # noqa: F811
):
    """kill -9 with a stop-loss, a stop-market buy and an OCO list pending: the restarted
    engine has them as they were (the read model and a replay agree), and a trade at the
    stop price triggers the stop-loss, which fills; the database then agrees with the
    engine. (The engine subprocess cannot see this test's uncommitted database, so it
    recovers from the command log here; test_recovery.py restores stops, lists, queue
    places and the last price from the database.)"""
    from django.conf import settings

    gateway = get_gateway()
    seller, buyer, stopper, lister = (410_001 + i for i in range(4))
    for user in (seller, buyer, stopper, lister):
        for asset in ("USDT", "BTC"):
            call(gateway, {"kind": "Deposit", "user_id": user, "asset": asset,
                           "amount": 10**13, "decimals": 8})  # fmt: skip
    assert call(gateway, place_command(seller, market, "sell", 100_00, 1000))["ok"]
    assert call(gateway, place_command(buyer, market, "buy", 100_00, 1000))["fills"]  # last 100
    stop_loss = call(gateway, stop_command(stopper, market, "sell", 96_00, 95_00, 2000))
    assert stop_loss["order"]["status"] == "pending"
    stop_buy = call(gateway, {**place_command(stopper, market, "buy", 0, 1000),
                              "type": "stop_market", "stop_price": 105_00})  # fmt: skip
    listed = call(gateway, {"kind": "PlaceOrderList", "user_id": lister, "symbol": market,
                            "side": "sell", "quantity": 3000, "price": 110_00,
                            "stop_price": 94_00, "stop_limit_price": None})  # fmt: skip
    assert stop_buy["order"]["status"] == "pending" and listed["ok"]
    assert call(gateway, place_command(buyer, market, "buy", 95_00, 2000))["ok"]  # takes the stop
    ids = [stop_loss["order"]["id"], stop_buy["order"]["id"]] + [
        o["id"] for o in listed["order_list"]["orders"]
    ]
    before = {i: order_get(user_id=u, order_id=i) for i, u in
              zip(ids, (stopper, stopper, lister, lister), strict=True)}  # fmt: skip

    engine.kill()
    engine.start()

    units = market_units_get(market)
    replayed = replay(settings.REDIS_URL)
    assert_engine_equals_replay(settings.REDIS_URL, replayed, [seller, buyer, stopper, lister],
                                units)  # fmt: skip
    after = {i: order_get(user_id=o["user_id"], order_id=i) for i, o in before.items()}
    assert after == before
    assert [after[i]["status"] for i in ids] == ["pending", "pending", "new", "pending"]
    # the restarted engine triggers the stop-loss at 96 (it knows the last price was 100)
    assert call(gateway, place_command(buyer, market, "buy", 96_00, 2000))["ok"]
    assert call(gateway, place_command(seller, market, "sell", 96_00, 2000))["fills"]
    filled = order_get(user_id=stopper, order_id=ids[0])
    assert (filled["status"], filled["filled_quantity"]) == ("filled", "0.02")
    assert order_get(user_id=lister, order_id=ids[3])["status"] == "pending"  # 94: not yet
    persist()
    code, out, err = reconcile()
    assert code == 0, out + err
    assert "no differences" in out
