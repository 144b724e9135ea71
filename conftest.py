"""Fixtures shared by the whole suite.

Integration tests run against the real PostgreSQL (pytest-django's test database) and
the real Redis, on a Redis database of their own (exchange_site/settings_test.py; flushed
at the start), with the engine worker running as its own process (it inherits the test
settings through DJANGO_SETTINGS_MODULE).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rest_framework.test import APIClient


ROOT = Path(__file__).resolve().parent


def _database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}" if password else user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings_dict['NAME']}"


class EngineProcess:
    """An engine worker (`manage.py run_engine`) in a subprocess of its own."""

    def __init__(self, env: dict[str, str], shard: int = 0, redis_url: str | None = None) -> None:
        self.env = dict(env)
        self.shard = shard
        self.redis_url = redis_url
        if redis_url:  # settings_test reads it
            self.env["REDIS_TEST_URL"] = redis_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        import redis
        from django.conf import settings

        from infra import keys

        connection = redis.Redis.from_url(self.redis_url or settings.REDIS_URL)
        connection.delete(keys.alive(self.shard))
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "run_engine", "--shard", str(self.shard)],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while not connection.exists(keys.alive(self.shard)):
            if self.proc.poll() is not None:
                raise RuntimeError(f"engine exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("engine did not come up")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="session")
def engine(django_db_setup, django_db_blocker) -> Iterator[EngineProcess]:
    """The demo markets in the test database and an engine worker trading them."""
    import redis
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    with django_db_blocker.unblock():
        call_command("seed_demo", verbosity=0)
        env = dict(os.environ)
        env["DATABASE_URL"] = _database_url(connection.settings_dict)
        env["SERVICE_NAME"] = "test-engine"
    process = EngineProcess(env)
    process.start()
    yield process
    process.stop()


_names = itertools.count(1)


@pytest.fixture
def make_trader(engine, db):
    """Sign up a new user through the API (demo funds included) and return a client
    authenticated with its token, as a bot would be."""

    from rest_framework.test import APIClient

    def make() -> APIClient:
        client = APIClient()
        name = f"trader{os.getpid()}x{next(_names)}"
        response = client.post(
            "/api/v1/auth/register",
            {"username": name, "password": "correct-horse-9"},
            format="json",
        )
        assert response.status_code == 201, response.content
        client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
        client.user_id = response.json()["user_id"]
        return client

    return make


_markets = itertools.count(1)


@pytest.fixture
def market(engine, db) -> str:
    """A fresh BTC/USDT-like market of this test's own, added while the engine runs (so
    no test sees another's orders): tick 0.01, lot 0.00001, fees 10/20 bps."""
    from decimal import Decimal

    from marketdata.services import market_create

    symbol = f"BTC{os.getpid()}T{next(_markets)}_USDT"
    market_create(
        symbol=symbol,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_notional=Decimal("1"),
        maker_fee_bps=10,
        taker_fee_bps=20,
    )
    return symbol


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Rate limits count per client address and every test client is 127.0.0.1: each
    test starts with fresh counts (they live in the process-local "throttle" cache)."""
    from django.conf import settings

    if settings.configured:  # the pure core's tests run without Django too
        from django.core.cache import caches

        caches["throttle"].clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every database test may reach the `timeseries` alias too: the DB processor writes
    price ticks there (in tests a mirror of the default database unless a run points
    TIMESERIES_DATABASE_URL elsewhere)."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and "databases" not in marker.kwargs:
            item.add_marker(
                pytest.mark.django_db(
                    *marker.args, **marker.kwargs, databases=["default", "timeseries"]
                ),
                append=False,
            )
