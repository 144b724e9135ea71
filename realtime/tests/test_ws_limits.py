"""Protocol-level limits of /ws/v1 against a real daphne started as `make run` starts it
(``python -m realtime.server``): an oversized message is refused from its frame header,
before its payload is read, and sockets per client address are capped."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from apikit.throttling import scope_client_address as client_address
from realtime.security import CLOSE_TOO_MANY
from realtime.tests.test_ws_streams import ask, recv

pytestmark = pytest.mark.django_db

MIB = 1 << 20


def _handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def _close_code(data: bytes) -> int | None:
    """The status code of the first close frame (opcode 8) in what the server sent."""
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        start = 2 + {126: 2, 127: 8}.get(length, 0)
        if length == 126:
            length = struct.unpack("!H", data[2:4])[0]
        elif length == 127:
            length = struct.unpack("!Q", data[2:10])[0]
        if opcode == 8:
            return struct.unpack("!H", data[start : start + 2])[0]
        data = data[start + length :]
    return None


def test_an_oversized_frame_is_refused_from_its_header_before_its_payload(stack):
    """The header of a 1 MiB text frame, and none of its payload: the server closes with
    1009 at once, so it never waited for (or buffered) the megabyte."""
    sock = _handshake(stack.port)
    try:
        mask = os.urandom(4)
        sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", MIB) + mask)
        received = b""
        while _close_code(received) is None:
            chunk = sock.recv(4096)
            assert chunk, received  # the close frame comes before the TCP connection ends
            received += chunk
    finally:
        sock.close()
    assert _close_code(received) == 1009


def test_a_one_mib_message_closes_the_socket_with_1009(stack):
    async def scenario() -> None:
        async with connect(stack.ws_url, max_size=None) as ws:
            assert (await ask(ws, {"op": "ping"}))["type"] == "pong"
            with pytest.raises(ConnectionClosed) as closed:
                await ws.send("x" * MIB)
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    asyncio.run(scenario())


def test_a_message_fragmented_past_the_limit_is_refused_too(stack):
    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.send(iter(["x" * 3000, "x" * 3000]))  # two frames, one message
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    asyncio.run(scenario())


def test_a_message_at_the_limit_still_reaches_the_consumer(stack):
    async def scenario() -> None:
        async with connect(stack.ws_url) as ws:
            frame = await ask(ws, "x" * 4096)  # WS_MAX_MESSAGE_BYTES: not JSON, answered
            assert frame["code"] == "bad_json"
            assert (await ask(ws, {"op": "ping"}))["type"] == "pong"

    asyncio.run(scenario())


async def let_in(url: str, *, within: float) -> bool:
    """Whether a new socket is let in (answers a ping) within ``within`` seconds. daphne
    ends a closed socket's application, which frees its place under the cap, a moment
    after the close handshake: a fixed pause was too short on a loaded machine, so a
    socket still told too_many_connections is closed and another one tried."""
    deadline = time.monotonic() + within
    while True:
        async with connect(url) as ws:
            with contextlib.suppress(ConnectionClosed):  # a refused one may be closed already
                await ws.send(json.dumps({"op": "ping"}))
            frame = await recv(ws)  # a refused socket's error frame comes before its close
        if frame["type"] == "pong":
            return True
        assert frame["code"] == "too_many_connections", frame
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)


def test_sockets_per_client_address_are_capped(stack):
    """WS_MAX_CONNECTIONS_PER_ADDRESS defaults to 50: the 51st socket from 127.0.0.1 is
    told too_many_connections and closed (4029); once one closes, a new one is let in."""

    async def scenario() -> None:
        sockets = [await connect(stack.ws_url) for _ in range(50)]
        try:
            for ws in sockets[:3]:
                assert (await ask(ws, {"op": "ping"}))["type"] == "pong"
            async with connect(stack.ws_url) as extra:
                frame = await recv(extra)
                assert frame["code"] == "too_many_connections"
                with pytest.raises(ConnectionClosed) as closed:
                    await recv(extra)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_MANY
            await sockets.pop().close()
            assert await let_in(stack.ws_url, within=30)
        finally:
            for ws in sockets:
                await ws.close()

    asyncio.run(scenario())


def test_the_client_address_is_the_socket_peer_unless_proxies_are_trusted(settings):
    scope = {
        "client": ["10.0.0.9", 5555],
        "headers": [(b"x-forwarded-for", b"1.1.1.1, 2.2.2.2"), (b"host", b"x")],
    }
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(scope) == "10.0.0.9"  # a client's own header is not believed
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(scope) == "2.2.2.2"  # what our one proxy saw
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(scope) == "1.1.1.1"
    settings.TRUSTED_PROXY_COUNT = 5
    assert client_address(scope) == "1.1.1.1"
    assert client_address({"client": ["10.0.0.9", 1], "headers": []}) == "10.0.0.9"


def test_a_frame_the_server_sends_may_exceed_the_client_message_limit(stack, ws_market, ws_user):
    """WS_MAX_MESSAGE_BYTES bounds what a client sends, not what it is sent: a depth
    snapshot of a book with 100 levels a side is over 4,096 bytes, and must reach the
    client (autobahn applies maxMessagePayloadSize to sendMessage too; with it, the
    snapshot raised PayloadExceededError and the socket closed with 1011)."""
    user = ws_user()
    for i in range(100):
        for side, price, quantity in (
            ("buy", Decimal("100.01") + Decimal(i) / 100, "0.12345"),
            ("sell", Decimal("200.01") + Decimal(i) / 100, "0.00987"),
        ):
            status, body = stack.http(
                "POST",
                "/api/v1/orders",
                {"symbol": ws_market, "side": side, "type": "limit", "price": str(price),
                 "quantity": quantity},
                user["token"],
            )  # fmt: skip
            assert status == 201, body

    async def scenario() -> None:
        async with connect(stack.ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channels": [f"depth.{ws_market}"]}))
            assert (await recv(ws))["type"] == "subscribed"
            raw = await asyncio.wait_for(ws.recv(), 10)
            assert len(raw) > 4096  # over the client limit, so the test means something
            snapshot = json.loads(raw)
            assert snapshot["type"] == "snapshot"
            assert len(snapshot["data"]["bids"]) == len(snapshot["data"]["asks"]) == 100
            assert (await ask(ws, {"op": "ping"}))["type"] == "pong"  # still open

    asyncio.run(scenario())


def test_a_pong_longer_than_the_client_limit_is_sent(stack):
    """The pong echoes the ping's id: an integer id that fits in a 4,096-byte message
    makes a longer pong, which must go out rather than fail the socket (1011)."""

    async def scenario() -> None:
        async with connect(stack.ws_url, max_size=None) as ws:
            message = '{"op":"ping","id":' + "9" * 4070 + "}"
            assert len(message) <= 4096
            pong = await ask(ws, message)
            assert pong["type"] == "pong" and pong["id"] == int("9" * 4070)

    asyncio.run(scenario())
