"""The bot against the errors the split web tier really gives (deploy/haproxy.cfg in front
of gunicorn; the order gateway behind it): haproxy's own error replies, a request nobody
answers, the gateway's 503/504. Each is transient: the bot backs off, then resumes."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from market_maker.bot import BotConfig, MarketMaker
from market_maker.client import ApiClient, ApiError

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_ERRORS = ROOT / "deploy" / "haproxy-errors"


class RawServer:
    """A TCP server of the test's own that answers every request with ``reply`` (bytes
    as sent, e.g. one of haproxy's error files), or, with ``reply=None``, never answers."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            if self.reply is None:
                self._held.append(conn)
                time.sleep(30)  # the client times out first
                return
            conn.sendall(self.reply)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Any]:
    servers: list[RawServer] = []

    def start(reply: bytes | None) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("status", "code"),
    [(502, "service_unavailable"), (503, "service_unavailable"), (504, "gateway_timeout")],
)
def test_the_front_proxys_error_replies_are_transient_contract_errors(raw_server, status, code):
    server = raw_server((HAPROXY_ERRORS / f"{status}.http").read_bytes())
    client = ApiClient(f"http://127.0.0.1:{server.port}", timeout=5)
    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            client.balances()
        assert (caught.value.status, caught.value.code) == (status, code)
        assert caught.value.transient
    assert server.connections == 2  # "Connection: close": a new connection each time


def test_a_request_nobody_answers_fails_transient_within_the_client_timeout(raw_server):
    server = raw_server(None)  # e.g. queued on a listening socket nobody accepts from
    client = ApiClient(f"http://127.0.0.1:{server.port}", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        client.place(symbol="BTC_USDT", side="buy", type="limit", price=1, quantity=1)
    assert time.monotonic() - started < 5
    assert caught.value.status == 0 and caught.value.transient


class ScriptedClient:
    """The bot's API client, each endpoint answering from ``errors`` (raised, oldest
    first) and then with an empty account (no balances, orders or fills)."""

    def __init__(self, errors: list[ApiError] | None = None) -> None:
        self.errors = list(errors or [])
        self.calls: list[str] = []

    def _answer(self, name: str, value: Any) -> Any:
        self.calls.append(name)
        if self.errors:
            raise self.errors.pop(0)
        return value

    def markets(self) -> list[dict[str, Any]]:
        return self._answer("markets", [])

    def balances(self) -> list[dict[str, Any]]:
        return self._answer("balances", [])

    def fills(self, symbol: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._answer("fills", [])

    def close(self) -> None:
        pass


def a_bot(maker: ScriptedClient, *, markets_due: bool) -> MarketMaker:
    bot = MarketMaker(BotConfig(base_url="http://127.0.0.1:9", max_backoff=5.0))
    bot.maker = bot.taker = maker  # type: ignore[assignment]
    bot._markets_loaded = 0.0 if markets_due else time.monotonic()
    return bot


GATEWAY_503 = ApiError(503, "engine_unavailable", "Engine shard 0 is not running.")
GATEWAY_504 = ApiError(504, "engine_timeout", "The engine did not answer in time.")
PROXY_503 = ApiError(503, "service_unavailable", "The web service is not answering.")
NO_ANSWER = ApiError(0, "unreachable", "POST /api/v1/orders: TimeoutError('timed out')")


@pytest.mark.parametrize("error", [GATEWAY_503, GATEWAY_504, PROXY_503, NO_ANSWER])
def test_a_cycle_that_meets_an_outage_backs_off_then_quoting_resumes(error, caplog):
    maker = ScriptedClient([error, error])
    bot = a_bot(maker, markets_due=False)
    with caplog.at_level(logging.INFO, logger="market_maker.bot"):
        first, second, third = (bot.handle([]) for _ in range(3))
    assert first["unavailable"] == 1 and second["unavailable"] == 1
    assert "unavailable" not in third
    messages = [r.getMessage() for r in caplog.records]
    assert sum("backing off" in m for m in messages) == 1, messages  # once an outage
    assert f"{error.status} {error.code}" in next(m for m in messages if "backing off" in m)
    assert sum("quoting resumes" in m for m in messages) == 1, messages
    assert bot._pause == 0.0


def test_a_market_list_refresh_that_meets_an_outage_backs_off_like_a_cycle(caplog):
    # the list is re-read every markets_refresh seconds, in the cycle: a 503 then must not
    # escape as a failure (a traceback, then setup again: it would wait on /healthz
    # without ever backing off, the account set-up redone)
    maker = ScriptedClient([PROXY_503])
    bot = a_bot(maker, markets_due=True)
    with caplog.at_level(logging.INFO, logger="market_maker.bot"):
        counters = bot.handle([])
    assert counters["unavailable"] == 1
    assert maker.calls == ["markets"]
    assert bot._pause == 0.5
    assert any("backing off" in r.getMessage() for r in caplog.records)
    counters = bot.handle([])  # the next cycle re-reads the list, and carries on
    assert "unavailable" not in counters
    assert maker.calls[1:] == ["markets", "balances", "fills"]


def test_an_error_that_is_not_transient_is_not_taken_for_an_outage():
    bot = a_bot(ScriptedClient([ApiError(400, "validation_error", "bad")]), markets_due=True)
    with pytest.raises(ApiError):
        bot.handle([])
    assert bot._pause == 0.0


@pytest.mark.parametrize(("retry_after", "waits"), [(0.0, 0.5), (7.0, 7.0), (3600.0, 60.0)])
def test_a_429_is_waited_out_for_its_retry_after(retry_after, waits):
    """The rate limit says when it lets the bot in again (Retry-After): the bot's next
    cycle is no sooner, however short its own back-off (capped at a minute)."""
    limited = ApiError(429, "rate_limited", "Too many requests.", retry_after)
    bot = a_bot(ScriptedClient([limited]), markets_due=False)
    before = time.monotonic()
    counters = bot.handle([])
    assert counters["unavailable"] == 1
    assert bot._pause == 0.5
    assert waits <= bot._next_cycle - before < waits + 1


@pytest.mark.parametrize("header", ["-5", "nan", "inf", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_a_retry_after_that_is_not_a_number_of_seconds_counts_as_none(raw_server, header):
    body = b'{"error": {"code": "rate_limited", "message": "slow down", "details": {}}}'
    server = raw_server(
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        b"Retry-After: "
        + header.encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    with pytest.raises(ApiError) as raised:
        ApiClient(f"http://127.0.0.1:{server.port}", timeout=5).markets()
    assert (raised.value.status, raised.value.retry_after) == (429, 0.0)
