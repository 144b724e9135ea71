"""The traders' web app end to end: the whole stack as `make run` starts it (supervisord
with deploy/supervisord.conf, on a database, a Redis and a port of the test's own), the
web app built (scripts/frontend_build.sh, skipped when up to date) and served by Django,
and frontend/e2e/*.spec.ts run by Playwright in Debian's Chromium (scripts/ensure_chromium.sh
installs it when missing). Screenshots: frontend/test-results/screenshots/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from apikit.testing import ScratchRedis, free_port
from exchange_site.tests.test_supervisor import Stack

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
VENV_BIN = ROOT / ".venv" / "bin"
E2E_MARKET = "E2EBTC_USDT"  # the market maker leaves it alone: only the test's traders

WSBRIDGE = """
[program:wsbridge]
command=%(here)s/../.venv/bin/python %(here)s/../scripts/prefix.py %(program_name)s
    %(here)s/../.venv/bin/python manage.py run_wsbridge
directory=%(here)s/..
environment=SERVICE_NAME="%(program_name)s"
autostart=true
autorestart=true
startsecs=2
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
"""


def _with_wsbridge(conf: Path) -> None:
    """Until deploy/supervisord.conf runs the WebSocket bridge itself, run it here."""
    text = conf.read_text()
    if re.search(r"^\[program:wsbridge\]", text, re.M) or "run_wsbridge" in text:
        return
    if not (ROOT / "realtime" / "management" / "commands" / "run_wsbridge.py").exists():
        return
    block = WSBRIDGE.replace("%(here)s/..", str(ROOT))
    conf.write_text(text + block)


@pytest.fixture
def web_stack(tmp_path, django_db_blocker):
    if not shutil.which("npx") or not shutil.which("node"):
        pytest.skip("Node.js is not installed: the web app cannot be built or tested")
    chromium = subprocess.run([str(ROOT / "scripts" / "ensure_chromium.sh")], check=False)  # noqa: S603
    assert chromium.returncode == 0, "Chromium is missing: apt-get install -y chromium"
    build = subprocess.run(  # noqa: S603
        [str(ROOT / "scripts" / "frontend_build.sh")], capture_output=True, text=True, check=False
    )
    assert build.returncode == 0, build.stdout + build.stderr

    from django.db import connection

    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_web"
    admin_url = f"postgresql://postgres@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/postgres"  # noqa: E501
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_server = ScratchRedis(tmp_path)
    redis_server.start()
    env = {
        **os.environ,
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + name,
        "TIMESERIES_DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + name,
        "REDIS_URL": redis_server.url,
        "REDIS_TEST_URL": redis_server.url,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        "MARKET_MAKER_MARKETS": "BTC_USDT,ETH_USDT",
        "SIGNUP_DEMO_FUNDS": "USDT=10000,BTC=1,ETH=10",  # as scripts/run.sh sets for make run
    }
    manage = [str(VENV_BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "seed_demo", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "build_static"], cwd=ROOT, env=env, check=True)  # noqa: S603 - as make run
    running = Stack(tmp_path, env)
    _with_wsbridge(running.conf)
    running.start()
    try:
        running.wait(running.healthy, timeout=90)
        subprocess.run(  # noqa: S603
            [*manage, "add_market", E2E_MARKET, "--base", "BTC", "--quote", "USDT",
             "--tick-size", "0.01", "--lot-size", "0.00001", "--min-notional", "1"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        yield running
    finally:
        running.stop()
        redis_server.kill()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_trader_signs_up_trades_and_sees_it_live_in_the_web_app(web_stack):
    shutil.rmtree(FRONTEND / "test-results" / "screenshots", ignore_errors=True)
    result = subprocess.run(  # noqa: S603
        [shutil.which("npx") or "npx", "--no-install", "playwright", "test", "e2e/web-app.spec.ts"],
        cwd=FRONTEND,
        env={
            **os.environ,
            "E2E_BASE_URL": web_stack.base,
            "E2E_MARKET": E2E_MARKET,
            "E2E_LIVE_MARKET": "BTC_USDT",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    shots = sorted((FRONTEND / "test-results" / "screenshots").glob("*.png"))
    assert len(shots) >= 9, shots
