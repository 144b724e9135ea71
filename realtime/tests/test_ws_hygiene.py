"""Every bad input gets its error frame and the socket keeps working; abuse closes it."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime.tests.test_ws_streams import ask, recv

# The database marker only sets the test database up as the rest of the suite does; what
# the sockets read (users, tokens, markets) is committed by daphne and manage.py processes.
pytestmark = pytest.mark.django_db


def test_every_bad_input_gets_its_error_and_the_socket_keeps_working(stack, paced_stack, ws_market):
    symbol = ws_market
    bad = [
        ("{not json", "bad_json"),
        (b"\x00\x01binary", "bad_message"),
        ("[1, 2]", "bad_message"),
        ({"channels": ["trades." + symbol]}, "bad_message"),
        ({"op": "dance"}, "unknown_op"),
        ({"op": "subscribe"}, "bad_message"),
        ({"op": "subscribe", "channels": "trades." + symbol}, "bad_message"),
        ({"op": "subscribe", "channels": ["weather.NYC"]}, "unknown_channel"),
        ({"op": "subscribe", "channels": ["trades.NOPE_USDT"]}, "unknown_channel"),
        ({"op": "subscribe", "channels": [f"klines.{symbol}.7m"]}, "unknown_channel"),
        ({"op": "subscribe", "channels": [42]}, "unknown_channel"),
        ({"op": "subscribe", "channels": ["user"]}, "auth_required"),
        ({"op": "auth"}, "bad_message"),
        ({"op": "auth", "token": "not-a-token"}, "auth_failed"),
        (
            {
                "op": "subscribe",
                "channels": [f"klines.{symbol}.{i}" for i in ("1m", "5m", "15m", "1h", "4h", "1d")],
            },
            "too_many_subscriptions",
        ),  # fmt: skip
    ]

    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            for message, code in bad:
                frame = await ask(ws, message)
                assert frame["type"] == "error", (message, frame)
                assert frame["code"] == code, (message, frame)
                assert frame["message"]
                pong = await ask(ws, {"op": "ping", "id": "after"})
                assert pong["type"] == "pong" and pong["id"] == "after"
                await asyncio.sleep(0.05)
            # still subscribes fine, and a request id comes back
            reply = await ask(ws, {"op": "subscribe", "channels": [f"trades.{symbol}"], "id": 7})
            assert reply == {"type": "subscribed", "channels": [f"trades.{symbol}"], "id": 7}
            reply = await ask(ws, {"op": "unsubscribe", "channels": [f"trades.{symbol}"]})
            assert reply == {"type": "unsubscribed", "channels": [f"trades.{symbol}"]}

        # too fast: past the burst, rate_limited errors; the socket stays open. 60 pings at
        # once against 5 a second: at least 30 refused unless daphne took over 4 s to answer
        # them, and fewer than WS_ABUSE_ERRORS (100) errors, which would close the socket
        async with connect(paced_stack.ws_url) as ws:  # a new socket: a full bucket
            for _ in range(60):
                await ws.send(json.dumps({"op": "ping"}))
            codes = [(await recv(ws)).get("code") for _ in range(60)]
            assert codes.count("rate_limited") >= 30
            assert codes[0] is None  # the first ones within the burst were answered
            await asyncio.sleep(1.5)
            assert (await ask(ws, {"op": "ping"}))["type"] == "pong"

    asyncio.run(scenario())


UNSTORABLE = ["x\x00", "x\ud800", "\udfff", "\x00"]


def test_unstorable_text_in_any_field_is_an_error_frame_not_a_1011(stack, ws_user):
    """A NUL or a lone surrogate (JSON's \\u0000, \\ud800) reached the token's query as a
    DataError or an encoding error, which closed the socket with 1011. Now an error frame
    (an unknown token's auth_failed; an unknown channel; a bad message elsewhere), the
    socket stays open, and a good token still authenticates afterwards."""
    user = ws_user()
    bad = []
    for text in UNSTORABLE:
        bad += [
            ({"op": "auth", "token": text}, "auth_failed"),
            ({"op": "auth", "token": user["token"] + text, "id": 4}, "auth_failed"),
            ({"op": "subscribe", "channels": ["trades." + text]}, "unknown_channel"),
            ({"op": "subscribe", "channels": [text]}, "unknown_channel"),
            ({"op": "unsubscribe", "channels": [text]}, "unknown_channel"),
            ({"op": "ping", "id": text}, "bad_message"),
            ({"op": "ping" + text}, "bad_message"),
            ({"op": "ping", text: 1}, "bad_message"),
        ]

    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            for message, code in bad:
                frame = await ask(ws, message)
                assert frame["type"] == "error", (message, frame)
                assert frame["code"] == code, (message, frame)
                if message.get("id") == 4:
                    assert frame["id"] == 4, frame
                else:  # an unstorable id is never echoed back
                    assert "id" not in frame, (message, frame)
                pong = await ask(ws, {"op": "ping", "id": "after"})
                assert pong["type"] == "pong" and pong["id"] == "after"
            reply = await ask(ws, {"op": "auth", "token": user["token"], "id": 9})
            assert reply == {"type": "authenticated", "user_id": user["user_id"], "id": 9}

    asyncio.run(scenario())


def test_abuse_closes_the_socket_with_a_policy_code(stack):
    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            for _ in range(300):
                await ws.send("{nope")
            codes = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    codes.append((await recv(ws))["code"])
            assert closed.value.rcvd.code == 4008
            assert codes[-1] == "abuse"

    asyncio.run(scenario())


def test_server_pings_and_answers_client_pings(stack):
    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["type"] == "ping" and isinstance(frame["time"], int)
            await ws.send(json.dumps({"op": "pong"}))
            assert (await ask(ws, {"op": "ping", "id": 3}))["id"] == 3

    asyncio.run(scenario())
