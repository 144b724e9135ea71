"""`make run`'s process manager brings a killed service back by itself, healthy within
10 seconds. Runs deploy/supervisord.conf as is (its paths rewritten to a temporary
directory) on a database, a Redis and a port of the test's own."""

from __future__ import annotations

import http.client as http_client
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from apikit.testing import ScratchRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def http(method: str, url: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(  # noqa: S310 - our own local server
        url, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except OSError:
        return 0, {}


class Stack:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        conf = (ROOT / "deploy" / "supervisord.conf").read_text()
        conf = conf.replace("%(here)s/../var", str(tmp)).replace("%(here)s/..", str(ROOT))
        self.conf = tmp / "supervisord.conf"
        self.conf.write_text(conf)
        self.env = env
        self.base = f"http://127.0.0.1:{env['PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [str(VENV_BIN / "supervisord"), "-n", "-c", str(self.conf)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def ctl(self, *args: str) -> str:
        return subprocess.run(  # noqa: S603
            [str(VENV_BIN / "supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True, text=True, env=self.env, check=False,
        ).stdout.strip()  # fmt: skip

    def service_pid(self, name: str) -> int | None:
        """The pid of the service itself (the child of its prefixing wrapper)."""
        wrapper = self.ctl("pid", name)
        if not wrapper.isdigit() or wrapper == "0":
            return None
        children = subprocess.run(  # noqa: S603
            ["/usr/bin/pgrep", "-P", wrapper], capture_output=True, text=True, check=False
        ).stdout.split()
        return int(children[0]) if children else None

    def healthy(self) -> bool:
        status, _ = http("GET", self.base + "/healthz")
        return status == 200

    def wait(self, predicate, timeout: float) -> float:
        started = time.monotonic()
        while not predicate():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not within {timeout} s")
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def stack(tmp_path, django_db_blocker):
    from django.db import connection

    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_stack"
    admin_url = f"postgresql://postgres@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/postgres"  # noqa: E501
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_server = ScratchRedis(tmp_path)
    redis_server.start()
    env = {
        **os.environ,
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + name,
        "REDIS_URL": redis_server.url,
        "REDIS_TEST_URL": redis_server.url,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        "SIGNUP_DEMO_FUNDS": "USDT=10000,BTC=1,ETH=10",  # as scripts/run.sh sets for make run
    }
    manage = [str(VENV_BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "seed_demo", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    running = Stack(tmp_path, env)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        redis_server.kill()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def services_in(conf: Path) -> list[str]:
    return [
        line.split(":", 1)[1].rstrip("]")
        for line in conf.read_text().splitlines()
        if line.startswith("[program:")
    ]


def test_a_killed_service_is_restarted_and_the_stack_is_healthy_within_10_seconds(stack):
    stack.wait(stack.healthy, timeout=90)
    for name in [s for s in ("engine", "dbprocessor") if s in services_in(stack.conf)]:
        before = stack.service_pid(name)
        assert before is not None, stack.ctl("status")
        os.kill(before, signal.SIGKILL)
        started = time.monotonic()

        def back(name=name, before=before) -> bool:
            after = stack.service_pid(name)
            return after is not None and after != before and stack.healthy()

        stack.wait(back, timeout=10)
        # and it works: a sign-up goes through the engine (demo funds) again
        status, body = http(
            "POST",
            stack.base + "/api/v1/auth/register",
            {"username": f"after-{name}", "password": "a-long-password-1"},
        )
        assert status == 201, body
        status, balances = http("GET", stack.base + "/api/v1/balances", token=body["token"])
        assert {"asset": "USDT", "available": "10000", "locked": "0"} in balances
        assert time.monotonic() - started < 10, f"{name} took too long to come back"


def failed_login(base: str, source: str, username: str) -> tuple[int, str]:
    """A wrong password from the local address ``source`` (127.0.0.x), with a forged
    X-Forwarded-For that must not be believed."""
    host, port = base.removeprefix("http://").split(":")
    conn = http_client.HTTPConnection(host, int(port), timeout=5, source_address=(source, 0))
    body = json.dumps({"username": username, "password": "wrong-password"})
    headers = {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"}
    conn.request("POST", "/api/v1/auth/token", body, headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read())["error"]["code"]


def test_the_front_proxy_serves_api_and_websocket_on_one_port_keeping_the_clients_address(
    stack,
):
    from websockets.sync.client import connect

    stack.wait(stack.healthy, timeout=90)
    status, body = http(
        "POST",
        stack.base + "/api/v1/auth/register",
        {"username": "one-origin", "password": "a-long-password-1"},
    )
    assert status == 201, body
    with connect(stack.base.replace("http://", "ws://") + "/ws/v1", open_timeout=5) as ws:
        ws.send(json.dumps({"op": "auth", "token": body["token"]}))
        assert json.loads(ws.recv(timeout=5))["type"] == "authenticated"
    # log-in failures count per client address: the peer's, not the proxy's, whatever
    # X-Forwarded-For the client sends (settings.LOGIN_FAILURE_LIMIT, 5, locks it out)
    codes = [failed_login(stack.base, "127.0.0.3", f"guess{i}")[1] for i in range(7)]
    assert codes[0] == "invalid_credentials" and codes[-1] == "locked_out", codes
    assert failed_login(stack.base, "127.0.0.1", "someone") == (401, "invalid_credentials")
