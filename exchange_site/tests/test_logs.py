"""Logs as the services write them under `make run` (each through scripts/prefix.py, as
deploy/supervisord.conf starts it): readable lines by default, and with LOG_FORMAT=json
one JSON object per line carrying the service, and the request id and sequence number
where the line is about one (docs/operations.md, "Logs"). A sign-up through the web
service (demo funds: three deposits through the engine) is what gets logged."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from apikit.testing import ScratchRedis, free_port, scratch_database
from infra import keys

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PREFIX = str(ROOT / "scripts" / "prefix.py")
DEMO_FUNDS = "USDT=10000,BTC=1,ETH=10"


@pytest.fixture(scope="module")
def database(django_db_blocker):
    with scratch_database("logs") as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        }
        env.pop("TIMESERIES_DATABASE_URL", None)
        for args in (["migrate", "-v0"], ["seed_demo", "-v0"]):
            subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603
        yield url


class Services:
    """The engine and the web service, each under scripts/prefix.py, output to a file."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *command: str) -> None:
        out = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(  # noqa: S603
            [PYTHON, PREFIX, name, PYTHON, *command],
            cwd=ROOT, env={**self.env, "SERVICE_NAME": name}, stdout=out, stderr=out,
        )  # fmt: skip

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def lines(self, name: str) -> list[str]:
        return (self.tmp / f"{name}.log").read_text().splitlines()


def sign_up(base: str, username: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1/auth/register",
        data=json.dumps({"username": username, "password": "a-long-password-9"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(params=["text", "json"])
def logged(request, database, tmp_path):
    """Start both services with LOG_FORMAT=<param>, sign a user up, stop them; yields the
    format and the services (their output complete)."""
    redis_server = ScratchRedis(tmp_path)
    redis_server.start()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_server.url,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": request.param,
        "SIGNUP_DEMO_FUNDS": DEMO_FUNDS,
        "CHANNEL_LAYER_PREFIX": f"logs{os.getpid()}",
    }
    env.pop("TIMESERIES_DATABASE_URL", None)
    services = Services(tmp_path, env)
    try:
        services.start("engine", "manage.py", "run_engine", "--shard", "0")
        services.start(
            "web", "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(services.port),
            "exchange_site.asgi:application",
        )  # fmt: skip
        base = f"http://127.0.0.1:{services.port}"
        alive = redis.Redis.from_url(redis_server.url)
        deadline = time.monotonic() + 60
        while not (alive.exists(keys.alive(0)) and healthy(base)):
            for name, proc in services.procs.items():
                assert proc.poll() is None, f"{name} exited: {services.lines(name)[-20:]}"
            assert time.monotonic() < deadline, "the services did not come up"
            time.sleep(0.2)
        assert sign_up(base, f"logs-{request.param}") == 201
    finally:
        services.stop()
        redis_server.kill()
    yield request.param, services


def test_log_lines_are_readable_text_or_one_json_object_each(logged):
    mode, services = logged
    web, engine = services.lines("web"), services.lines("engine")
    if mode == "text":
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
        for name, lines in (("web", web), ("engine", engine)):
            assert lines, name
            assert all(line.startswith(f"[{name}] ") for line in lines), lines
            assert not any(line[len(name) + 3 :].startswith("{") for line in lines), lines
        deposit = re.compile(
            rf"^\[web\] {stamp} INFO accounts\.services: request [0-9a-f-]+: "
            r"Deposit 10000 USDT for user \d+$"
        )
        assert any(deposit.match(line) for line in web), web
        assert any(re.search(r'"POST /api/v1/auth/register" 201 \d+$', line) for line in web), web
        batch = re.compile(
            rf"^\[engine\] {stamp} INFO engine_worker\.runtime: "
            r"batch seq \d+\.\.\d+: 1 commands, 0 trades$"
        )
        assert any(batch.match(line) for line in engine), engine
        return

    records: dict[str, list[dict]] = {}
    for name, lines in (("web", web), ("engine", engine)):
        assert lines, name
        records[name] = [json.loads(line) for line in lines]  # every line one JSON object
        for record in records[name]:
            assert isinstance(record, dict), record
            assert record["service"] == name, record
            assert {"time", "level", "logger", "message"} <= record.keys(), record
    deposits = [
        r
        for r in records["web"]
        if r["logger"] == "accounts.services" and "Deposit" in r["message"]
    ]
    assert len(deposits) == 3, records["web"]
    for record in deposits:
        assert re.fullmatch(r"[0-9a-f]+-\d+", record["request_id"]), record
        assert record["message"].startswith(f"request {record['request_id']}: Deposit")
        assert isinstance(record["seq"], int), record
    access = [r for r in records["web"] if r["logger"] == "daphne.access"]
    assert {"request_line": "POST /api/v1/auth/register", "status": 201} in [
        {"request_line": r["request_line"], "status": r["status"]} for r in access
    ], access
    batches = [r for r in records["engine"] if r["message"].startswith("batch seq")]
    # each deposit was a batch of its own: the web's sequence numbers are the engine's
    assert {r["seq"] for r in deposits} <= {r["seq"] for r in batches}, (deposits, batches)
    stopped = [r for r in records["engine"] if "stopped at sequence" in r["message"]]
    assert stopped and stopped[-1]["seq"] == max(r["seq"] for r in deposits), stopped
