"""The market maker against the real stack: deploy/supervisord.conf as is (engine, web,
dbprocessor, marketmaker) on a database, a Redis and a port of the test's own. The bot's
behaviour is checked from outside, through the public API, with its own tokens."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from apikit.testing import ScratchRedis, free_port
from exchange_site.tests.test_supervisor import Stack, http

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
SYMBOLS = ("BTC_USDT", "ETH_USDT")


class LoggedStack(Stack):
    """The stack, its output kept in a file (shown when a test fails)."""

    def start(self) -> None:
        self.log = self.conf.parent / "stack.log"
        self.proc = subprocess.Popen(  # noqa: S603
            [str(VENV_BIN / "supervisord"), "-n", "-c", str(self.conf)],
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_blocker):
    from django.db import connection

    tmp = tmp_path_factory.mktemp("mmstack")
    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_mmstack"
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    admin_url = f"postgresql://postgres@{host}:{port}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_server = ScratchRedis(tmp)
    redis_server.start()
    database_url = f"postgresql://postgres@{host}:{port}/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "REDIS_TEST_URL": redis_server.url,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "MARKET_MAKER_SEED": "7",
    }
    manage = [str(VENV_BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "seed_demo", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    running = LoggedStack(tmp, env)
    running.database_url = database_url
    running.started = time.monotonic()
    running.start()
    try:
        yield running
    finally:
        running.stop()
        redis_server.kill()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bot_token(stack: LoggedStack, username: str) -> str:
    def token() -> str | None:
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "SELECT t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id"
                " WHERE u.username = %s",
                [username],
            ).fetchone()
        return row[0] if row else None

    stack.wait(lambda: token() is not None, timeout=60)
    return token()  # type: ignore[return-value]


def depth(stack: LoggedStack, symbol: str) -> dict:
    status, body = http("GET", f"{stack.base}/api/v1/markets/{symbol}/depth?limit=50")
    return body if status == 200 else {"bids": [], "asks": []}


def liquid(stack: LoggedStack) -> bool:
    for symbol in SYMBOLS:
        book = depth(stack, symbol)
        if len(book["bids"]) < 5 or len(book["asks"]) < 5:
            return False
        if Decimal(book["bids"][0][0]) >= Decimal(book["asks"][0][0]):
            return False
    return True


def fill_times(stack: LoggedStack, token: str) -> dict[str, list[float]]:
    """When the bots' fills happened, per market (epoch seconds, oldest first)."""
    status, page = http("GET", f"{stack.base}/api/v1/trades?limit=1000", token=token)
    assert status == 200, page
    times: dict[str, set[float]] = defaultdict(set)
    for fill in page["results"]:
        times[fill["symbol"]].add(datetime.fromisoformat(fill["time"]).timestamp())
    return {symbol: sorted(ts) for symbol, ts in times.items()}


def test_every_demo_book_has_5_levels_a_side_and_trades_within_30_seconds(stack):
    try:
        # the stack's own start (migrated, seeded) first...
        stack.wait(lambda: liquid(stack), timeout=90)
        stack.wait(stack.healthy, timeout=5)
        # ...then within 30 s of a healthy stack: the bot started with it, waiting on /healthz
        taker = bot_token(stack, "marketmaker-taker")
        window_start = time.time()
        time.sleep(21)
        now = time.time()
        fills = fill_times(stack, taker)
        for symbol in SYMBOLS:
            recent = [t for t in fills.get(symbol, []) if t >= window_start - 10]
            marks = [window_start, *[t for t in recent if t >= window_start], now]
            gaps = [b - a for a, b in zip(marks, marks[1:], strict=False)]
            assert max(gaps) <= 10, (symbol, gaps)
        assert liquid(stack)
    except BaseException:
        print(stack.tail())
        raise


def test_its_orders_respect_the_market_rules_and_its_book_never_crosses(stack):
    try:
        stack.wait(lambda: liquid(stack), timeout=90)
        token = bot_token(stack, "marketmaker")
        _, markets = http("GET", f"{stack.base}/api/v1/markets")
        rules = {m["symbol"]: m for m in markets}
        samples = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status, page = http("GET", f"{stack.base}/api/v1/orders?limit=1000", token=token)
            assert status == 200, page
            by_symbol: dict[str, dict[str, list[Decimal]]] = defaultdict(
                lambda: {"buy": [], "sell": []}
            )
            for order in page["results"]:
                market = rules[order["symbol"]]
                price, quantity = Decimal(order["price"]), Decimal(order["quantity"])
                assert price % Decimal(market["tick_size"]) == 0, order
                assert quantity % Decimal(market["lot_size"]) == 0, order
                assert quantity >= Decimal(market["min_quantity"]), order
                assert price * quantity >= Decimal(market["min_notional"]), order
                by_symbol[order["symbol"]][order["side"]].append(price)
            for symbol, sides in by_symbol.items():
                if sides["buy"] and sides["sell"]:
                    assert max(sides["buy"]) < min(sides["sell"]), (symbol, sides)
            status, balances = http("GET", f"{stack.base}/api/v1/balances", token=token)
            assert status == 200
            for balance in balances:
                assert Decimal(balance["available"]) >= 0
                assert Decimal(balance["locked"]) >= 0
            samples += 1
            time.sleep(0.2)
        assert samples > 10
    except BaseException:
        print(stack.tail())
        raise


def test_it_keeps_quoting_and_trading_through_an_engine_restart(stack):
    try:
        stack.wait(lambda: liquid(stack), timeout=90)
        taker = bot_token(stack, "marketmaker-taker")
        bot = stack.service_pid("marketmaker")
        engine = stack.service_pid("engine")
        assert bot is not None and engine is not None, stack.ctl("status")
        os.kill(engine, signal.SIGKILL)
        killed = time.time()
        stack.wait(
            lambda: stack.service_pid("engine") not in (None, engine) and stack.healthy(),
            timeout=20,
        )

        def trading_again() -> bool:
            fills = fill_times(stack, taker)
            return all(any(t > killed for t in fills.get(s, [])) for s in SYMBOLS)

        stack.wait(trading_again, timeout=30)
        stack.wait(lambda: liquid(stack), timeout=15)
        assert stack.service_pid("marketmaker") == bot, "the bot itself never died"

        # a longer outage of each: the engine stopped for 4 s (503s), the web service
        # killed (connection refused); the bot backs off and resumes, without dying
        for outage in ("engine", "web"):
            if outage == "engine":
                stack.ctl("stop", "engine")
                time.sleep(4)
                stack.ctl("start", "engine")
            else:
                os.kill(stack.service_pid("web"), signal.SIGKILL)
            back = time.time()
            stack.wait(stack.healthy, timeout=30)
            killed = back
            stack.wait(trading_again, timeout=30)
            stack.wait(lambda: liquid(stack), timeout=15)
            assert stack.service_pid("marketmaker") == bot, "the bot itself never died"
        log = stack.log.read_text(errors="replace")
        assert "backing off" in log and "quoting resumes" in log
    except BaseException:
        print(stack.tail())
        raise
