"""/ws/v1 end to end: real daphne, the bridge and the engine worker as processes, real
Redis and PostgreSQL, the `websockets` client library."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect

from realtime.tests.stack import WebStack

# The database marker only sets the test database up as the rest of the suite does; what
# the sockets read (users, tokens, markets) is committed by daphne and manage.py processes.
pytestmark = pytest.mark.django_db


async def recv(ws: Any, timeout: float = 10) -> dict[str, Any]:
    """The next frame that is not a server ping, within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") != "ping":
                return frame


async def drain(ws: Any, *, quiet: float = 1.0, limit: float = 15.0) -> list[dict[str, Any]]:
    """The frames that arrive until ``quiet`` seconds pass without one, or ``limit``
    seconds in all: a busy shared Redis must not keep a test reading forever."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            frames.append(await recv(ws, timeout=min(quiet, deadline - time.monotonic())))
        except TimeoutError:
            break
    return frames


async def ask(ws: Any, message: Any) -> dict[str, Any]:
    await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
    return await recv(ws)


def apply_levels(book: dict[str, str], levels: list[list[str]]) -> None:
    for price, qty in levels:
        if Decimal(qty) == 0:
            book.pop(price, None)
        else:
            book[price] = qty


def place_orders(
    stack: WebStack, tokens: list[str], symbol: str, count: int, seed: int, errors: list
) -> None:
    try:
        _place_orders(stack, tokens, symbol, count, seed)
    except BaseException as exc:  # noqa: BLE001 - the main thread fails on any
        errors.append(exc)


def _place_orders(stack: WebStack, tokens: list[str], symbol: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        token = rng.choice(tokens)
        side = rng.choice(["buy", "sell"])
        price = Decimal(100) + Decimal(rng.randint(-20, 20)) / 10
        status, body = stack.http(
            "POST",
            "/api/v1/orders",
            {
                "symbol": symbol,
                "side": side,
                "type": "limit",
                "price": str(price),
                "quantity": str(Decimal(rng.randint(10, 200)) / 1000),
                "time_in_force": "GTC",
            },
            token,
        )
        if status == 422 and body["error"]["code"] == "insufficient_balance":
            continue
        assert status == 201, body
        if rng.random() < 0.2 and body["order"]["status"] in ("new", "partially_filled"):
            status, body = stack.http(
                "DELETE", f"/api/v1/orders/{body['order']['id']}", None, token
            )
            assert status == 200 or body["error"]["code"] == "order_not_open", body


@pytest.mark.parametrize("web", ["stack", "stack0"], ids=["coalesced", "every_batch"])
def test_depth_snapshot_then_gapless_updates_rebuild_the_rest_book_and_trades_come_in_order(
    web, request, ws_market, ws_user
):
    stack = request.getfixturevalue(web)
    symbol = ws_market
    tokens = [ws_user()["token"] for _ in range(3)]

    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            reply = await ask(
                ws,
                {
                    "op": "subscribe",
                    "channels": [f"depth.{symbol}", f"trades.{symbol}", f"klines.{symbol}.1m"],
                    "id": 1,
                },
            )
            assert reply == {
                "type": "subscribed",
                "channels": [f"depth.{symbol}", f"trades.{symbol}", f"klines.{symbol}.1m"],
                "id": 1,
            }
            snapshot = await recv(ws)
            assert snapshot["channel"] == f"depth.{symbol}"
            assert snapshot["type"] == "snapshot"
            bids = {p: q for p, q in snapshot["data"]["bids"]}
            asks = {p: q for p, q in snapshot["data"]["asks"]}
            last = snapshot["sequence"]

            errors: list[BaseException] = []
            threads = [
                threading.Thread(
                    target=place_orders, args=(stack, tokens, symbol, 40, seed, errors)
                )
                for seed in range(3)
            ]
            for thread in threads:
                thread.start()
            trades: list[dict[str, Any]] = []
            frames: list[dict[str, Any]] = []
            updates = 0
            done_at: float | None = None
            target: int | None = None
            while True:
                if done_at is None and not any(t.is_alive() for t in threads):
                    done_at = time.monotonic()
                    status, rest = await asyncio.to_thread(
                        stack.http, "GET", f"/api/v1/markets/{symbol}/depth?limit=100"
                    )
                    assert status == 200
                    target = rest["sequence"]
                if target is not None and last >= target:
                    break
                assert done_at is None or time.monotonic() - done_at < 10, "updates stopped"
                try:
                    frame = await recv(ws, timeout=0.5)
                except TimeoutError:
                    continue
                frames.append(frame)
                if frame["channel"] == f"depth.{symbol}":
                    assert frame["type"] == "update", frame
                    assert frame["first_sequence"] == last + 1, (frame, last)
                    assert frame["sequence"] >= frame["first_sequence"]
                    last = frame["sequence"]
                    apply_levels(bids, frame["data"]["bids"])
                    apply_levels(asks, frame["data"]["asks"])
                    updates += 1
                elif frame["channel"] == f"trades.{symbol}":
                    trades.extend(frame["data"])
            # drain what is still in flight for trades and klines
            for frame in await drain(ws):
                frames.append(frame)
                if frame["channel"] == f"trades.{symbol}":
                    trades.extend(frame["data"])

        assert not errors, errors
        assert updates > 3
        assert last == rest["sequence"]
        by_price = lambda levels: {p: q for p, q in levels}  # noqa: E731
        assert bids == by_price(rest["bids"])
        assert asks == by_price(rest["asks"])
        # best first, as GET depth orders them
        assert sorted(bids, key=Decimal, reverse=True) == [p for p, _ in rest["bids"]]

        # trades: every one, in engine order (the read model keeps them newest first)
        from infra import keys
        from marketdata.selectors import read_model

        engine_order = [
            json.loads(t)["id"]
            for t in reversed(read_model().lrange(keys.rm_trades(symbol), 0, -1))
        ]
        assert engine_order, "the orders crossed: there were trades"
        assert [t["id"] for t in trades] == engine_order

        # a kline update follows each trades message, with the candle after those trades
        pending: int | None = None
        for frame in frames:
            if frame["channel"] == f"trades.{symbol}":
                assert pending is None, "a trades message without its kline update"
                pending = frame["sequence"]
            elif frame["channel"] == f"klines.{symbol}.1m":
                assert frame["sequence"] == pending
                pending = None
        assert pending is None
        candles: dict[int, dict[str, Any]] = {}
        for frame in frames:
            if frame["channel"] == f"klines.{symbol}.1m":
                candles[frame["data"]["open_time_ms"]] = frame["data"]
        for open_ms, candle in candles.items():
            bucket = [t for t in trades if open_ms <= t["time_ms"] < open_ms + 60_000]
            assert candle["trades"] == len(bucket)
            assert Decimal(candle["volume"]) == sum(Decimal(t["quantity"]) for t in bucket)
            assert candle["open"] == bucket[0]["price"]
            assert candle["close"] == bucket[-1]["price"]
            assert Decimal(candle["high"]) == max(Decimal(t["price"]) for t in bucket)

    asyncio.run(scenario())


def test_private_stream_reaches_only_its_user(stack, ws_market, ws_user):
    symbol = ws_market
    alice, bob = ws_user(), ws_user()

    async def scenario() -> None:
        async with connect(stack.ws_url) as a, connect(stack.ws_url) as b:
            for ws, user in ((a, alice), (b, bob)):
                reply = await ask(ws, {"op": "auth", "token": user["token"]})
                assert reply == {"type": "authenticated", "user_id": user["user_id"]}
                reply = await ask(ws, {"op": "subscribe", "channels": ["user"]})
                assert reply["type"] == "subscribed"
            sell = {"symbol": symbol, "side": "sell", "type": "limit", "price": "100.00",
                    "quantity": "0.01", "time_in_force": "GTC"}  # fmt: skip
            status, placed = await asyncio.to_thread(
                stack.http, "POST", "/api/v1/orders", sell, alice["token"]
            )
            assert status == 201, placed
            status, taken = await asyncio.to_thread(
                stack.http, "POST", "/api/v1/orders", {**sell, "side": "buy"}, bob["token"]
            )
            assert status == 201, taken
            assert taken["order"]["status"] == "filled"

            seen: dict[str, list[dict[str, Any]]] = {}
            for name, ws in (("alice", a), ("bob", b)):
                frames = await drain(ws, quiet=1.5)
                assert {frame["channel"] for frame in frames} <= {"user"}
                seen[name] = [frame["data"] for frame in frames]

        # Pub/Sub is shared by every Redis database of the server: only this market's
        # events (and balances) are this test's; other runs may publish user.<same id>.
        mine = {"alice": placed["order"]["id"], "bob": taken["order"]["id"]}
        for name, user, other in (("alice", alice, "bob"), ("bob", bob, "alice")):
            events = [e for e in seen[name] if e.get("symbol", symbol) == symbol]
            kinds = {e["event"] for e in events}
            assert {"order", "fill", "balance"} <= kinds, (name, events)
            for event in events:
                if event["event"] in ("order", "fill"):
                    assert event["user_id"] == user["user_id"], (name, event)
            orders = {e["id"] for e in events if e["event"] == "order"}
            fills = {e["order_id"] for e in events if e["event"] == "fill"}
            assert orders == fills == {mine[name]}, (name, events)
            assert mine[other] not in orders | fills

    asyncio.run(scenario())


def test_logout_ends_the_private_subscription(stack, ws_user):
    user = ws_user()

    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            await ask(ws, {"op": "auth", "token": user["token"]})
            assert (await ask(ws, {"op": "subscribe", "channels": ["user"]}))["type"] == (
                "subscribed"
            )
            status, _ = await asyncio.to_thread(
                stack.http, "POST", "/api/v1/auth/logout", None, user["token"]
            )
            assert status == 204
            frame = await recv(ws, timeout=5)
            # the sign-up's deposits, published before the subscription, may still be on
            # their way through the bridge (coalesced, on a loaded machine): updates up to
            # the revocation are the user's own; none may follow it (the asks below)
            while frame["type"] == "update" and frame["channel"] == "user":
                frame = await recv(ws, timeout=5)
            assert frame["type"] == "error" and frame["code"] == "auth_revoked", frame
            reply = await ask(ws, {"op": "subscribe", "channels": ["user"]})
            assert reply["code"] == "auth_required"
            assert (await ask(ws, {"op": "auth", "token": user["token"]}))["code"] == (
                "auth_failed"
            )

    asyncio.run(scenario())
