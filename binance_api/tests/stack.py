"""A live exchange for the Binance clients: the engine worker, the web server (daphne, as
`make run` starts it) and the DB processor as subprocesses, on a PostgreSQL database and
a Redis server of their own (so that what the DB processor commits touches no other
test), with markets added and funds deposited by the support commands."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from apikit.testing import ScratchRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count(1)


class BinanceStack:
    def __init__(self, tmp: Path, admin_url: str, name: str) -> None:
        self.tmp = tmp
        self.admin_url = admin_url
        self.name = name
        self.database_url = admin_url.rsplit("/", 1)[0] + "/" + name
        self.redis = ScratchRedis(tmp)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = tmp / "stack.log"
        self.env: dict[str, str] = {}

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.redis.start()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "REDIS_TEST_URL": self.redis.url,
            "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
            "CHANNEL_LAYER_PREFIX": f"binance{os.getpid()}x{self.port}",
            "LOG_LEVEL": "INFO",
            "API_RATE_LIMIT": "100000/minute",
            "API_AUTH_RATE_LIMIT": "100000/minute",
            "SIGNUP_DEMO_FUNDS": "USDT=10000,BTC=1,ETH=10",
        }
        self.env.pop("TIMESERIES_DATABASE_URL", None)
        self.manage("migrate", "-v0")
        self.manage("seed_demo", "-v0")  # BTC_USDT, ETH_USDT
        log = self.log.open("ab")
        commands = {
            "engine": ["manage.py", "run_engine", "--shard", "0"],
            "web": ["-m", "realtime.server", "-b", "127.0.0.1", "-p", str(self.port),
                    "--access-log", "/dev/null", "exchange_site.asgi:application"],
            "dbprocessor": ["manage.py", "run_dbprocessor", "--block-ms", "50"],
        }  # fmt: skip
        for service, args in commands.items():
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    [sys.executable, *args],
                    cwd=ROOT,
                    env={**self.env, "SERVICE_NAME": f"binance-test-{service}"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        self.wait(lambda: self.get("/healthz")[0] == 200, timeout=60, what="the stack's health")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.redis.kill()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait(self, predicate: Any, *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args} exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout} s\n{self.tail()}")
            time.sleep(0.1)

    # -- support commands and the /api/v1 API -------------------------------------------

    def manage(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=self.env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout

    def add_market(self, *, fees: tuple[int, int] = (10, 20)) -> tuple[str, str, str]:
        """A market of its own base asset (ccxt names markets BASE/QUOTE): tick 0.01, lot
        0.0001, min notional 1. Returns (our symbol, Binance's, ccxt's)."""
        base = f"B{os.getpid() % 100000}X{next(_names)}"
        symbol = f"{base}_USDT"
        self.manage(
            "add_market", symbol, "--base", base, "--quote", "USDT", "--tick-size", "0.01",
            "--lot-size", "0.0001", "--min-notional", "1", "--base-decimals", "8",
            "--quote-decimals", "8", "--maker-fee-bps", str(fees[0]),
            "--taker-fee-bps", str(fees[1]),
        )  # fmt: skip
        return symbol, f"{base}USDT", f"{base}/USDT"

    def deposit(self, username: str, asset: str, amount: str) -> None:
        self.manage("deposit", username, asset, amount)

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        request = urllib.request.Request(  # noqa: S310 - our own local server
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except OSError:
            return 0, None

    def register(self) -> dict[str, Any]:
        """A new user (demo funds: 10000 USDT, 1 BTC, 10 ETH): {user_id, username, token}."""
        name = f"bn{os.getpid()}u{next(_names)}"
        status, body = self.request(
            "POST", "/api/v1/auth/register", {"username": name, "password": "correct-horse-9"}
        )
        assert status == 201, body
        return body

    def place(self, token: str, **order: str) -> dict[str, Any]:
        status, body = self.request("POST", "/api/v1/orders", order, token=token)
        assert status == 201, body
        return body

    def api_key(self, token: str, scopes: tuple[str, ...] = ("read", "trade")) -> dict[str, Any]:
        """A new API key of the token's user: {id, api_key, secret, ...}."""
        status, body = self.request(
            "POST", "/api/v1/api-keys", {"label": "bot", "scopes": list(scopes)}, token=token
        )
        assert status == 201, body
        return body

    def revoke(self, token: str, key_id: int) -> None:
        status, body = self.request("DELETE", f"/api/v1/api-keys/{key_id}", token=token)
        assert status == 204, body
