"""docker/compose.yaml stays true to what `make run` starts: rendered by a real Docker
Compose client (`config` needs no engine; scripts/ensure_compose.sh finds or installs one),
every program of deploy/supervisord.conf is a service of the same name running the same
command, on TimescaleDB and a Redis with the append-only file, with health checks, and
the health checks themselves work (run here against a real Redis and HTTP server)."""

from __future__ import annotations

import configparser
import http.server
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
import yaml

from apikit.testing import ScratchRedis
from infra import keys

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
SUPERVISORD = ROOT / "deploy" / "supervisord.conf"


def programs() -> dict[str, list[str]]:
    """Each supervisord program's command, after its scripts/prefix.py wrapper."""
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(SUPERVISORD)
    commands = {}
    for section in conf.sections():
        if section.startswith("program:"):
            words = shlex.split(conf[section]["command"])
            commands[section.removeprefix("program:")] = words[
                words.index("%(program_name)s") + 1 :
            ]
    return commands


def normalized(command: list[str]) -> list[str]:
    """The interpreter by name, paths relative to the checkout (the image's /app), the
    listening address left out (it differs by design: unix sockets under supervisord)."""
    words = ["python" if w.endswith("/python") else w.removeprefix("%(here)s/../") for w in command]
    for flag in ("-b", "-p", "-u", "--bind"):
        while flag in words:
            at = words.index(flag)
            del words[at : at + 2]
    return words


@pytest.fixture(scope="module")
def rendered() -> dict:
    found = subprocess.run(  # noqa: S603
        [str(ROOT / "scripts" / "ensure_compose.sh")], capture_output=True, text=True, check=False
    )
    assert found.returncode == 0, "no Docker Compose client: " + found.stderr
    result = subprocess.run(  # noqa: S603
        [*found.stdout.split(), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "SECRET_KEY": "compose-config-test"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_every_service_make_run_starts_is_in_the_compose_file_with_its_command(rendered):
    services = rendered["services"]
    started = programs()
    assert {"engine", "web", "dbprocessor", "wsbridge", "marketmaker"} <= started.keys()
    for name, command in started.items():
        assert name in services, f"{name} runs under make run but not in docker/compose.yaml"
        service = services[name]
        theirs = normalized(list(service["command"]))
        assert theirs[: len(command)] == normalized(command), (name, service["command"])
        assert service["environment"]["SERVICE_NAME"] == name
        assert service["restart"] == "unless-stopped"  # supervisord's autorestart
        assert service["image"] == "exchange:latest"
    # and what the image runs by default is the web service's command
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert (
        "python -m realtime.server -b $HOST -p $PORT exchange_site.asgi:application" in dockerfile
    )
    # and its engine is the compiled core, built in the image (never the pure one unnoticed)
    assert "RUN python scripts/build_core.py" in dockerfile
    assert "\nENV ENGINE_CORE=compiled\n" in dockerfile


def test_the_databases_are_timescaledb_and_redis_with_its_append_only_file(rendered):
    services = rendered["services"]
    assert services["postgres"]["image"].startswith("timescale/timescaledb:")
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert "--appendfsync always" in redis_command
    for name, service in services.items():
        if service.get("image") == "exchange:latest" and name != "migrate":
            env = service["environment"]
            assert env["DEBUG"] == "0"
            assert env["DATABASE_URL"].startswith("postgres://exchange:exchange@postgres:5432/")
            assert env["REDIS_URL"] == "redis://redis:6379/0"
            assert "web" in env["ALLOWED_HOSTS"].split(",")  # the market maker's requests
    # nothing starts before the databases are healthy and migrated
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in programs():
        depends = services[name]["depends_on"]
        assert "migrate" in depends or "web" in depends, name
    assert services["marketmaker"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_health_checks_are_there_and_work(rendered, tmp_path):
    services = rendered["services"]
    for name in ("postgres", "redis", "engine", "web"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name

    # the engine's: its heartbeat key, on a real Redis
    test = services["engine"]["healthcheck"]["test"][1:]
    assert test[:2] == ["python", "-c"]
    server = ScratchRedis(tmp_path)
    server.start()
    try:
        env = {**os.environ, "REDIS_URL": server.url}

        def engine_check() -> int:
            return subprocess.run(  # noqa: S603
                [sys.executable, "-c", test[2]], cwd=ROOT, env=env, check=False
            ).returncode

        assert engine_check() == 1
        redis.Redis.from_url(server.url).set(keys.alive(0), 1)
        assert engine_check() == 0
    finally:
        server.kill()

    # the web service's: /healthz, asked as host "web" (in ALLOWED_HOSTS whatever it is)
    test = services["web"]["healthcheck"]["test"][1:]
    seen: list[tuple[str, str]] = []
    status = {"code": 503}

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers["Host"]))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    code = test[2].replace("127.0.0.1:8000", f"127.0.0.1:{httpd.server_port}")
    assert code != test[2], test
    try:

        def web_check() -> int:
            return subprocess.run([sys.executable, "-c", code], check=False).returncode  # noqa: S603

        assert web_check() != 0
        status["code"] = 200
        assert web_check() == 0
    finally:
        httpd.shutdown()
    assert seen == [("/healthz", "web"), ("/healthz", "web")]
