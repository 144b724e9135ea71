"""What the bench scripts share: their own database and Redis, and starting services.

Each bench runs on a database of its own next to DATABASE_URL's and a Redis database of
its own, so it never touches a running exchange."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
