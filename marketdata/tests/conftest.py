"""Fixtures of the market-data tests: the TimescaleDB server (PGlite) for the module's
second run, and a clean close of the timeseries alias's pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from marketdata.tests.timescale import TimescaleServer


@pytest.fixture(scope="session")
def timescale_server() -> Iterator[TimescaleServer]:
    """TimescaleDB compiled into PGlite on a free port (tools/timescaledb; npm ci once)."""
    server = TimescaleServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _timeseries_pool_closed(django_db_setup, django_db_blocker) -> Iterator[None]:
    """When the timeseries alias mirrors default (one database), its pool still holds
    connections to the test database at the end; close it before the database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connection = connections["timeseries"]
        connection.close()
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()
