"""What the bench scripts share: their own database and Redis, and starting services.

Each bench runs on a database of its own next to DATABASE_URL's and a Redis database of
its own, so it never touches a running exchange."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_DB_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")


def bench_env(database: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a bench and the services it starts (also applied to this
    process, so Django set up here sees the same)."""
    db_url = BASE_DB_URL.rsplit("/", 1)[0] + "/" + database
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "TIMESERIES_DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "LOG_LEVEL": "WARNING",
        # the benches' users rest far more orders than a real user may: measure matching,
        # not refusals (too_many_open_orders)
        "MAX_OPEN_ORDERS_PER_MARKET": "0",
        **extra,
    }
    os.environ.update(env)
    return env


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(env: dict[str, str], *, seed: bool = True, root: Path = ROOT) -> None:
    """Create the bench database if missing, migrate it, seed the demo markets, and empty
    the bench's Redis database (manage.py of the checkout ``root``)."""
    import psycopg
    import redis

    database = env["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect(BASE_DB_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=root, env=env, check=True)
    if seed:
        subprocess.run([*manage, "seed_demo", "-v0"], cwd=root, env=env, check=True)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


def start(
    args: list[str], env: dict[str, str], ready: Callable[[], bool], *, cwd: Path = ROOT
) -> subprocess.Popen:
    """Start a service (in the checkout ``cwd``) and wait (up to a minute) until ``ready()``."""
    proc = subprocess.Popen(args, cwd=cwd, env=env)
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{args} did not start")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def order_payload(i: int) -> dict[str, str]:
    """The HTTP benches' ``i``-th order (POST /api/v1/orders): BTC_USDT and ETH_USDT limit
    orders around seed_demo's prices, a quarter of them IOC."""
    eth = i % 3 == 0
    return {
        "symbol": "ETH_USDT" if eth else "BTC_USDT",
        "side": "buy" if i % 2 else "sell",
        "type": "limit",
        "price": str((2000 if eth else 30000) + (i * 7919) % 41 - 20),
        "quantity": "0.01" if eth else "0.001",
        "time_in_force": "IOC" if i % 4 == 0 else "GTC",
    }


class OrderMix:
    """The engine benches' command mix (bench/e2e_orders.py part (a), bench/engine_runtime.py),
    as wire commands like the gateway's: 100 traders, funded by :meth:`funding`, placing
    limit orders around a mid price that random-walks by one tick per order, 15% of them
    IOC orders crossing it by 1-50 ticks, the rest GTC orders resting 1-50 ticks away."""

    def __init__(self, seed: int = 7, symbol: str = "BTC_USDT") -> None:
        self.rng = random.Random(seed)
        self.symbol = symbol
        self.users = list(range(1_000_000, 1_000_100))
        self.ts = int(time.time() * 1000)
        self.mid = 3_000_000  # ticks (30000.00)
        self.n = 0

    def funding(self) -> list[dict[str, Any]]:
        """Ample USDT and BTC for every trader."""
        return [
            {
                "kind": "Deposit",
                "request_id": f"f{u}{asset}",
                "ts": self.ts,
                "user_id": u,
                "asset": asset,
                "amount": 10**18,
                "decimals": 8,
            }
            for u in self.users
            for asset in ("USDT", "BTC")
        ]

    def orders(self, count: int) -> list[dict[str, Any]]:
        rng = self.rng
        commands = []
        for _ in range(count):
            self.n += 1
            self.mid += rng.choice((-1, 1))
            side = rng.choice(("buy", "sell"))
            cross = rng.random() < 0.15
            offset = rng.randint(1, 50)
            mid = self.mid
            price = (
                (mid + offset if side == "buy" else mid - offset)
                if cross
                else (mid - offset if side == "buy" else mid + offset)
            )
            commands.append(
                {
                    "kind": "PlaceOrder",
                    "request_id": f"b{self.n}",
                    "ts": self.ts,
                    "user_id": rng.choice(self.users),
                    "symbol": self.symbol,
                    "side": side,
                    "type": "limit",
                    "time_in_force": "IOC" if cross else "GTC",
                    "price": price,
                    "quantity": rng.randint(1, 100),
                    "post_only": False,
                    "client_order_id": None,
                }
            )
        return commands
