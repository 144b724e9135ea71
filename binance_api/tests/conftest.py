from __future__ import annotations

from collections.abc import Iterator

import pytest

from binance_api.tests.stack import BinanceStack

# the timeseries pool closed before the test database is dropped (tickers read it)
from marketdata.tests.conftest import _timeseries_pool_closed  # noqa: F401


@pytest.fixture(scope="module")
def live(tmp_path_factory, django_db_blocker) -> Iterator[BinanceStack]:
    """A live exchange of the module's own (binance_api/tests/stack.py)."""
    from django.db import connection

    settings_dict = connection.settings_dict
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    stack = BinanceStack(
        tmp_path_factory.mktemp("binance"),
        f"postgresql://postgres@{host}:{port}/postgres",
        f"{settings_dict['NAME']}_binance",
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
