"""The backup and restore procedure of docs/operations.md, run as written: its shell blocks,
in order, on the whole stack as `make run` starts it (supervisord with
deploy/supervisord.conf) on a PostgreSQL server and a Redis of the test's own (both are
wiped in between). Traders trade through the API and the market maker trades meanwhile;
after the restore the engine (its dump: sequence, balances, open orders), every table of
the database, what the API answers (balances, open orders, history, depth, trades) and
reconcile are exactly as at the backup, an order acknowledged after the backup is gone,
and the next order gets the next id and sequence number after the backup's."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from apikit.testing import ScratchPostgres, ScratchRedis, free_port
from engine_client.gateway import OrderGateway, now_ms
from exchange_site.tests.test_supervisor import Stack, http

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
OPERATIONS = ROOT / "docs" / "operations.md"
DB_NAME = "exchange"
SETTINGS = {"SUPERVISORCTL", "BACKUP", "DB_NAME", "BASE_URL", "REDIS_DIR", "REDIS_PORT"}


def sh_blocks(text: str) -> list[str]:
    return [
        textwrap.dedent(body)
        for _, body in re.findall(r"^( *)```sh\n(.*?)^\1```", text, flags=re.M | re.S)
    ]


def procedure() -> tuple[str, list[str], list[str]]:
    """The settings block, the back-up steps and the restore steps of the doc."""
    section = OPERATIONS.read_text().split("\n## Backup and restore\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    intro, rest = section.split("\n### Back up\n", 1)
    backup, restore = rest.split("\n### Restore\n", 1)
    (settings,) = sh_blocks(intro)
    return settings, sh_blocks(backup), sh_blocks(restore)


class Runner:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, block: str) -> str:
        result = subprocess.run(  # noqa: S603
            ["/bin/bash", "-euo", "pipefail", "-c", block],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (
            f"{block}\n--- out:\n{result.stdout}\n--- err:\n{result.stderr}"
        )
        return result.stdout


def database_rows(url: str) -> dict[str, Any]:
    """Every row of every table, and every sequence's position."""
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        rows: dict[str, Any] = {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)  # noqa: S608
            for table in tables
        }
        rows["-sequences"] = conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
        ).fetchall()
    return rows


def engine_dump(redis_url: str) -> dict[str, Any]:
    """The engine's own state (what reconcile compares): sequence, balances, open orders."""
    gateway = OrderGateway(redis_url, reply_timeout=10)
    try:
        reply = gateway.call(
            0, {"kind": "Dump", "request_id": gateway.new_request_id(), "ts": now_ms()}
        )
    finally:
        gateway.close()
    assert reply["ok"], reply
    dump = json.loads(redis.Redis.from_url(redis_url).get(reply["key"]))
    # balances in no particular order; open orders book by book in price-time order (the
    # books themselves in no particular order)
    dump["balances"] = sorted(dump["balances"])
    books: dict[str, list[dict]] = {}
    for order in dump["orders"]:
        books.setdefault(order["symbol"], []).append(order)
    dump["orders"] = books
    return dump


class Trader:
    def __init__(self, base: str, name: str) -> None:
        self.api = f"{base}/api/v1"
        status, body = http(
            "POST", f"{self.api}/auth/register", {"username": name, "password": "a-long-password-5"}
        )
        assert status == 201, body
        self.token = body["token"]

    def call(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> Any:
        status, answer = http(method, self.api + path, body, token=self.token)
        assert status == expect, (method, path, status, answer)
        return answer

    def limit(self, side: str, price: str, quantity: str) -> dict:
        body = {"symbol": "ETH_USDT", "side": side, "type": "limit", "price": price,
                "quantity": quantity}  # fmt: skip
        return self.call("POST", "/orders", body, expect=201)

    def state(self) -> dict[str, Any]:
        return {
            path: self.call("GET", path)
            for path in ("/balances", "/orders?status=open", "/orders?status=all", "/trades")
        }


def public_state(base: str) -> dict[str, Any]:
    out = {}
    for path in ("/markets", "/markets/ETH_USDT/depth", "/markets/ETH_USDT/trades"):
        status, out[path] = http("GET", f"{base}/api/v1{path}")
        assert status == 200, (path, out[path])
    return out


def public_trade_count(base: str) -> int:
    status, trades = http("GET", f"{base}/api/v1/markets/BTC_USDT/trades?limit=1000")
    assert status == 200, trades
    return len(trades)


@pytest.fixture
def stack(tmp_path):
    """The stack of `make run` on a PostgreSQL and a Redis of its own."""
    postgres = ScratchPostgres()
    postgres.start()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_server = ScratchRedis(redis_dir)
    redis_server.start()
    running = None
    try:
        with psycopg.connect(f"{postgres.url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        url = f"{postgres.url}/{DB_NAME}"
        env = {
            **os.environ,
            "PATH": f"{postgres.bin}:{os.environ['PATH']}",  # pg_dump of the server's version
            "DATABASE_URL": url,
            "TIMESERIES_DATABASE_URL": url,
            "REDIS_URL": redis_server.url,
            "REDIS_TEST_URL": redis_server.url,
            "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
            "CHANNEL_LAYER_PREFIX": f"backup{os.getpid()}",
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            "SIGNUP_DEMO_FUNDS": "USDT=10000,BTC=1,ETH=10",  # as scripts/run.sh sets
            "MARKET_MAKER_MARKETS": "BTC_USDT",  # ETH_USDT: only the test's traders
        }
        for args in (["migrate", "-v0"], ["seed_demo", "-v0"]):
            subprocess.run(  # noqa: S603
                [str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True
            )
        running = Stack(tmp_path, env)
        env.update(
            SUPERVISORCTL=f"{VENV_BIN / 'supervisorctl'} -c {running.conf}",
            BACKUP=str(tmp_path / "backup"),
            DB_NAME=DB_NAME,
            BASE_URL=running.base,
            REDIS_DIR=str(redis_dir),
            REDIS_PORT=str(redis_server.port),
        )
        running.start()
        running.wait(running.healthy, timeout=90)
        yield running, postgres, redis_server, env
    finally:
        if running is not None:
            running.stop()
        redis_server.kill()
        subprocess.run(  # noqa: S603 - the doc's own Redis, should a step have failed
            ["/usr/bin/redis-cli", "-p", str(redis_server.port), "shutdown", "nosave"],
            capture_output=True, check=False,
        )  # fmt: skip
        postgres.remove()


def test_a_backup_restores_the_exchange_exactly_as_it_was(stack):
    running, postgres, redis_server, env = stack
    settings_block, backup, restore = procedure()
    names = set(re.findall(r"^([A-Z_]+)=", settings_block, flags=re.M))
    assert names == SETTINGS, "the doc's settings are the ones this test sets"
    assert (len(backup), len(restore)) == (6, 5), "the steps below follow the doc's"
    run = Runner(env)
    url, base = env["DATABASE_URL"], running.base

    # trade through the services, the market maker trading meanwhile
    alice, bob = Trader(base, "alice"), Trader(base, "bob")
    maker = alice.limit("sell", "2100", "2")
    bob.limit("buy", "2100", "0.5")  # fills half of alice's order
    cancelled = alice.limit("buy", "1500", "0.1")
    alice.call("DELETE", f"/orders/{cancelled['order']['id']}")
    bob.limit("buy", "1900", "0.2")  # rests
    running.wait(lambda: public_trade_count(base) > 0, timeout=30)
    assert alice.call("GET", f"/orders/{maker['order']['id']}")["status"] == "partially_filled"
    traders = {"alice": alice.state(), "bob": bob.state()}
    public = public_state(base)

    # -- back up (docs/operations.md) -----------------------------------------------------
    run(backup[0])  # stop marketmaker, web
    run(backup[1])  # reconcile: exit 0
    engine_at_backup = engine_dump(env["REDIS_URL"])
    run(backup[2])  # stop engine, dbprocessor, wsbridge
    rows_at_backup = database_rows(url)
    with psycopg.connect(url) as conn:
        (highest,) = conn.execute("SELECT max(id) FROM orders_order").fetchone()
    run(backup[3])  # pg_dump
    run(backup[4])  # redis-cli --rdb
    assert (Path(env["BACKUP"]) / "exchange.dump").stat().st_size > 10_000
    assert (Path(env["BACKUP"]) / "redis.rdb").stat().st_size > 1_000
    run(backup[5])  # start everything again
    running.wait(running.healthy, timeout=60)

    # business goes on after the backup: that much will be lost
    trades = public_trade_count(base)
    lost = alice.limit("buy", "1800", "0.3")["order"]
    running.wait(lambda: public_trade_count(base) > trades, timeout=30)

    # -- disaster: Redis and its files gone, the database dropped --------------------------
    redis_server.kill()
    for entry in Path(env["REDIS_DIR"]).iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    with psycopg.connect(f"{postgres.url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')

    # -- restore (docs/operations.md) -----------------------------------------------------
    run(restore[0])  # stop all
    run(restore[1])  # the database from the dump
    assert database_rows(url) == rows_at_backup
    run(restore[2])  # Redis from the RDB, with a new AOF
    redis_server.start()  # as `make services` starts it: append-only file on
    restored = redis.Redis.from_url(redis_server.url)
    assert restored.config_get("appendonly") == {"appendonly": "yes"}
    assert restored.exists("rm:ready:0", "engine.events.0", "engine.commands.0") == 3
    run(restore[3])  # engine, dbprocessor, web, wsbridge; healthz; reconcile: exit 0

    assert engine_dump(env["REDIS_URL"]) == engine_at_backup
    assert {"alice": alice.state(), "bob": bob.state()} == traders
    assert public_state(base) == public
    assert lost["id"] not in [o["id"] for o in alice.call("GET", "/orders?status=all")["results"]]
    # the engine goes on from the backup: the next id and sequence number after its last
    placed = alice.limit("buy", "1800", "0.3")["order"]
    assert placed["id"] == highest + 1
    assert engine_dump(env["REDIS_URL"])["sequence"] == engine_at_backup["sequence"] + 1

    run(restore[4])  # start the market maker: it trades again
    trades = public_trade_count(base)
    running.wait(lambda: public_trade_count(base) > trades, timeout=30)
    assert running.healthy()
