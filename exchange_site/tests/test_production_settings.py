"""Production settings: with DEBUG=0 the settings refuse to start without an explicit
ALLOWED_HOSTS, and `manage.py check --deploy` passes, with no warning, in the environment
docs/production.md documents."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "production.md"


def documented_environment() -> dict[str, str]:
    """The KEY=VALUE lines of the block after <!-- production-environment --> in the doc."""
    text = DOC.read_text()
    block = re.search(r"<!-- production-environment -->\s*```sh\n(.*?)```", text, re.S)
    assert block, "docs/production.md lost its production-environment block"
    pairs = [line.split("=", 1) for line in block.group(1).splitlines() if "=" in line]
    return {key.strip(): value.strip() for key, value in pairs}


def production_env(**changes: str | None) -> dict[str, str]:
    """The documented environment on this machine: the test's database and Redis (the doc's
    hosts do not exist here) and a real random key instead of the placeholder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DJANGO_"))}
    for key in ("ALLOWED_HOSTS", "TRUSTED_PROXY_COUNT", "CSRF_TRUSTED_ORIGINS", "DEBUG"):
        env.pop(key, None)
    env.update(documented_environment())
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL", env["DATABASE_URL"])
    env["REDIS_URL"] = os.environ.get("REDIS_TEST_URL", env["REDIS_URL"])
    env["DJANGO_SETTINGS_MODULE"] = "exchange_site.settings"
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_documented_environment():
    result = manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output
    assert "WARNING" not in result.stdout and "(security." not in output, output


def test_check_deploy_still_reports_what_is_missing():
    """The stock checks run on the sync-only middleware subclasses (exchange_site/checks.py):
    turning HSTS and the redirect off is reported, not skipped."""
    env = production_env(SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="0", SECURE_COOKIES="0")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for code in ("security.W004", "security.W008", "security.W010", "security.W016"):
        assert code in output, output


@pytest.mark.parametrize("hosts", [None, "", "*", "exchange.example.com,*"])
def test_debug_off_without_explicit_allowed_hosts_refuses_to_start(hosts):
    result = manage(production_env(ALLOWED_HOSTS=hosts), "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list the site's host names" in result.stderr, result.stderr


def test_the_proxy_ssl_header_is_believed_only_behind_trusted_proxies():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT)"
    )
    run = [sys.executable, "-c", code]
    behind = subprocess.run(run, cwd=ROOT, env=production_env(), capture_output=True, text=True)  # noqa: S603
    direct = subprocess.run(  # noqa: S603
        run, cwd=ROOT, env=production_env(TRUSTED_PROXY_COUNT="0"), capture_output=True, text=True
    )
    assert behind.stdout.split() == [
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "True",
        "True",
        "31536000",
        "True",
        "True",
    ], behind.stderr
    assert direct.stdout.split()[0] == "None", direct.stderr


def test_the_websocket_origin_check_uses_allowed_hosts(settings, monkeypatch):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from realtime.security import allowed_hosts_origin_validator

    async def no_database() -> None:  # the refusing consumer would tidy DB connections
        return None

    monkeypatch.setattr("channels.consumer.aclose_old_connections", no_database)
    monkeypatch.setattr("channels.generic.websocket.aclose_old_connections", no_database)
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["exchange.example.com"]

    async def accept_all(scope, receive, send):  # what the validator guards
        while (message := await receive())["type"] != "websocket.disconnect":
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})

    app = allowed_hosts_origin_validator(accept_all)

    async def connects(origin: bytes | None) -> bool:
        headers = [(b"origin", origin)] if origin else []
        communicator = WebsocketCommunicator(app, "/ws/v1", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(connects)(b"https://exchange.example.com")
    assert not async_to_sync(connects)(b"https://evil.example")
    assert async_to_sync(connects)(None)  # bots send no Origin and authenticate with a token
