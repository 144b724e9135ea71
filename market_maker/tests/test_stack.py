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
# A deadline for anything the stack does by itself (a restart, the bot resuming, a trade):
# seconds on a quiet machine, many times that on a loaded one; a wait returns as soon as
# its condition holds, so a generous deadline costs nothing when all is well.
LOADED = 120.0


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

    def wait(self, predicate, timeout: float, interval: float = 0.1) -> float:
        started = time.monotonic()
        while not predicate():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not within {timeout} s")
            time.sleep(interval)
        return time.monotonic() - started

    def log_size(self) -> int:
        """A mark in the log: what comes after it is :meth:`bot_lines`."""
        return self.log.stat().st_size

    def bot_lines(self, mark: int) -> list[str]:
        """The market maker's back-off and resume lines since ``mark``."""
        with self.log.open("rb") as log:
            log.seek(mark)
            text = log.read().decode(errors="replace")
        return [
            line
            for line in text.splitlines()
            if line.startswith("[marketmaker]")
            and ("backing off" in line or "quoting resumes" in line)
        ]

    def backed_off(self, mark: int, errors: tuple[str, ...]) -> bool:
        """The bot backed off since ``mark``, on one of ``errors``."""
        return any(
            "backing off" in line and any(error in line for error in errors)
            for line in self.bot_lines(mark)
        )

    def bot_settled(self, mark: int) -> bool:
        """Not backing off now: no back-off since ``mark``, or quoting resumed since."""
        lines = self.bot_lines(mark)
        return not lines or "quoting resumes" in lines[-1]


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


def fill_times(stack: LoggedStack, token: str) -> dict[str, list[float]] | None:
    """When the bots' fills happened, per market (epoch seconds, oldest first); None when
    the API did not answer."""
    status, page = http("GET", f"{stack.base}/api/v1/trades?limit=1000", token=token)
    if status != 200:
        return None
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
        assert fills is not None
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
        # 15 s of samples, and more than 10 of them however long a loaded machine takes to
        # serve each (two requests a sample: 15 s alone gave fewer than 11 when slow)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline or samples <= 10:
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
    except BaseException:
        print(stack.tail())
        raise


def test_it_keeps_quoting_and_trading_through_an_engine_restart(stack):
    """Killed, the engine and the web service come back by themselves (supervisord) and the
    bot goes on quoting and trading, the same process throughout. Held down, each gives the
    bot an error it backs off from: the gateway's 503 (or, for a command sent as the engine
    went, its 504), and haproxy's 503 when gunicorn is gone. Each outage lasts until the
    bot has backed off, not a fixed time: the bot may well see no error at all for a
    while (a command waits ENGINE_REPLY_TIMEOUT for the engine; haproxy retries a refused
    connection for 3 s and queues on a listening socket)."""
    try:
        stack.wait(lambda: liquid(stack), timeout=LOADED)
        maker = bot_token(stack, "marketmaker")
        taker = bot_token(stack, "marketmaker-taker")
        bot = stack.service_pid("marketmaker")
        assert bot is not None, stack.ctl("status")

        def trading_since(mark: float) -> bool:
            fills = fill_times(stack, taker)
            return fills is not None and all(
                any(t > mark for t in fills.get(s, [])) for s in SYMBOLS
            )

        def quoting_since(mark: float) -> bool:
            """The maker has a quote placed after ``mark`` resting in every market."""
            status, page = http(
                "GET", f"{stack.base}/api/v1/orders?status=open&limit=1000", token=maker
            )
            if status != 200:
                return False
            fresh = {o["symbol"] for o in page["results"] if o["created_at_ms"] > mark * 1000}
            return fresh >= set(SYMBOLS)

        def still_quoting_and_trading(since: float, log_mark: int) -> None:
            stack.wait(stack.healthy, timeout=LOADED)
            stack.wait(lambda: quoting_since(since), timeout=LOADED, interval=0.5)
            stack.wait(lambda: trading_since(since), timeout=LOADED, interval=0.5)
            stack.wait(lambda: liquid(stack), timeout=LOADED)
            # not backing off any more (the next outage's back-off is then a new line)
            stack.wait(lambda: stack.bot_settled(log_mark), timeout=LOADED)
            assert stack.service_pid("marketmaker") == bot, "the bot itself never died"

        # crashes: SIGKILL, supervisord restarts the service (the whole web program:
        # gunicorn's master and its worker, which would otherwise serve on as an orphan)
        for crashed in ("engine", "web"):
            pid = stack.service_pid(crashed)
            assert pid is not None, stack.ctl("status")
            log_mark, since = stack.log_size(), time.time()
            os.killpg(pid, signal.SIGKILL)  # its own process group (scripts/prefix.py)
            stack.wait(lambda n=crashed, p=pid: stack.service_pid(n) not in (None, p), LOADED)
            still_quoting_and_trading(since, log_mark)

        # outages: the service stopped until the bot has backed off, then started again
        for stopped, errors in (
            ("engine", ("503 engine_unavailable", "504 engine_timeout")),
            # haproxy's 502/503 (service_unavailable), its 504, or no answer in time
            ("web", ("service_unavailable", "504 gateway_timeout", "0 unreachable")),
        ):
            log_mark = stack.log_size()
            stack.ctl("stop", stopped)
            stack.wait(lambda e=errors, m=log_mark: stack.backed_off(m, e), timeout=LOADED)
            since = time.time()
            stack.ctl("start", stopped)
            still_quoting_and_trading(since, log_mark)
            resumed = stack.bot_lines(log_mark)
            assert any("quoting resumes" in line for line in resumed), resumed
        # every outage was one to back off from, none a failure of the bot's loop
        log = stack.log.read_text(errors="replace")
        assert "marketmaker: failure" not in log
    except BaseException:
        print(stack.tail())
        raise
