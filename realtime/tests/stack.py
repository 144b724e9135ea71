"""A real web stack for the WebSocket tests and the bench: daphne (as `make run` starts it,
``python -m realtime.server``) and the bridge as subprocesses, on the test database and
Redis database, next to the engine worker."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebStack:
    def __init__(self, env: dict[str, str], *, coalesce_ms: float = 100) -> None:
        self.port = free_port()
        self.env = dict(env)
        self.env.setdefault("CHANNEL_LAYER_PREFIX", f"wst{os.getpid()}x{self.port}")
        self.env["WS_COALESCE_MS"] = str(coalesce_ms)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v1"

    def start(self, timeout: float = 30) -> None:
        import redis
        from django.conf import settings

        from realtime.bridge import PATTERNS

        conn = redis.Redis.from_url(settings.REDIS_URL)

        def bridges() -> int:  # clients subscribed to every pattern of the bridge's
            return sum(int(c.get("psub", 0)) >= len(PATTERNS) for c in conn.client_list())

        running = bridges()  # another stack's, if one is up
        self.procs.append(
            subprocess.Popen(  # noqa: S603  (as `make run` starts it: deploy/supervisord.conf)
                [sys.executable, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(self.port),
                 "--access-log", "/dev/null", "exchange_site.asgi:application"],
                cwd=ROOT, env={**self.env, "SERVICE_NAME": "test-web"},
            )
        )  # fmt: skip
        self.procs.append(
            subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "run_wsbridge"],
                cwd=ROOT, env={**self.env, "SERVICE_NAME": "test-wsbridge"},
            )
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("daphne did not come up") from None
                time.sleep(0.1)
        # and the bridge's subscription (no fixed pause: a loaded machine may take longer)
        while bridges() <= running:
            if time.monotonic() > deadline:
                raise TimeoutError("the bridge did not subscribe")
            time.sleep(0.05)
        conn.close()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    # -- HTTP, as a client would --------------------------------------------------------

    def http(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        return response.status, (json.loads(raw) if raw else None)

    def register(self, name: str) -> dict[str, Any]:
        status, body = self.http(
            "POST", "/api/v1/auth/register", {"username": name, "password": "correct-horse-9"}
        )
        assert status == 201, body
        return body
