"""The second run of test_market_data.py: the same module in a pytest of its own, with the
timeseries alias on TimescaleDB (PGlite, started here) and default on a test database of
its own, so it never touches this run's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = "marketdata/tests/test_market_data.py"


def test_market_data_module_passes_on_timescaledb(timescale_server, settings):
    if os.environ.get("MARKETDATA_TIMESCALE_RUN"):
        pytest.skip("already the TimescaleDB run")
    base = settings.DATABASE_URL.split("?", 1)[0]
    env = {
        **os.environ,
        "DATABASE_URL": f"{base}_tsrun",
        "TIMESERIES_DATABASE_URL": timescale_server.url,
        "TIMESERIES_BACKEND": "auto",  # detected from the server, as in production
        "TIMESERIES_DB_POOL": "0",  # PGlite serves one connection at a time
        "MARKETDATA_TIMESCALE_RUN": "1",
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--create-db", MODULE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    print(output)  # shown with -s, or on failure
    assert proc.returncode == 0, output
    # the TimescaleDB checks ran there (they skip only on plain PostgreSQL)
    assert "plain PostgreSQL: rollups instead of TimescaleDB objects" not in output
