from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

# the timeseries pool closed before the test database is dropped (test_units reads tickers)
from marketdata.tests.conftest import _timeseries_pool_closed  # noqa: F401
from realtime.tests.stack import ROOT, WebStack

_markets = itertools.count(1)
_names = itertools.count(1)


@pytest.fixture(scope="module")
def stack(engine, django_db_blocker) -> Iterator[WebStack]:
    """daphne and the bridge (coalescing over 50 ms) on the test database."""
    from django.db import connection

    from conftest import _database_url

    with django_db_blocker.unblock():
        env = dict(os.environ)
        env["DATABASE_URL"] = _database_url(connection.settings_dict)
    env.update(
        WS_MAX_SUBSCRIPTIONS="5",
        WS_RATE_PER_SECOND="50",
        WS_ABUSE_ERRORS="100",
        WS_PING_INTERVAL="1",
        API_RATE_LIMIT="100000/minute",
    )
    web = WebStack(env, coalesce_ms=50)
    web.start()
    yield web
    web.stop()


@pytest.fixture(scope="module")
def stack0(stack) -> Iterator[WebStack]:
    """A second daphne and bridge with coalescing off (every engine batch on its own)."""
    env = {k: v for k, v in stack.env.items() if k != "CHANNEL_LAYER_PREFIX"}
    web = WebStack(env, coalesce_ms=0)
    web.start()
    yield web
    web.stop()


@pytest.fixture(scope="module")
def paced_stack(stack) -> Iterator[WebStack]:
    """A second daphne and bridge letting a socket send 5 messages a second (a bucket of
    10): a flood outruns that by far on any machine. At 50 a second (``stack``), whether
    150 pings sent at once got 30 rate_limited errors depended on daphne answering them
    all within 0.4 s, which a loaded machine did not always do."""
    env = {k: v for k, v in stack.env.items() if k != "CHANNEL_LAYER_PREFIX"}
    web = WebStack({**env, "WS_RATE_PER_SECOND": "5"}, coalesce_ms=50)
    web.start()
    yield web
    web.stop()


@pytest.fixture
def ws_market(stack) -> str:
    """A market of the test's own, added by `manage.py add_market` in a process of its own
    so that it is committed (daphne reads it through its own connections)."""
    symbol = f"WS{os.getpid()}M{next(_markets)}_USDT"
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "add_market", symbol, "--base", "BTC", "--quote", "USDT",
         "--tick-size", "0.01", "--lot-size", "0.00001", "--min-notional", "1",
         "--maker-fee-bps", "10", "--taker-fee-bps", "20"],
        cwd=ROOT, env=stack.env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return symbol


@pytest.fixture
def ws_user(stack):
    """Sign a user up through the API; returns {user_id, username, token}."""

    def make() -> dict:
        return stack.register(f"ws{os.getpid()}u{next(_names)}")

    return make
