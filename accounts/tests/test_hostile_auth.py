"""Hostile sign-ups and log-ins: a spoofed X-Forwarded-For does not reset the rate limit,
repeated failed log-ins lock the account (token API and admin, django-axes), sign-up mints
no funds unless configured, and nobody can register the exchange's or the market maker's
accounts first."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from apikit.throttling import AuthRateThrottle

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-9"
_names = itertools.count(1)


def new_name() -> str:
    return f"hostile{os.getpid()}x{next(_names)}"


def register(client, username: str, **extra):
    body = {"username": username, "password": PASSWORD}
    return client.post("/api/v1/auth/register", body, format="json", **extra)


def token(client, username: str, password: str, **extra):
    body = {"username": username, "password": password}
    return client.post("/api/v1/auth/token", body, format="json", **extra)


# -- client address and rate limits ----------------------------------------------------


def test_a_spoofed_x_forwarded_for_does_not_bypass_the_sign_up_limit(engine, monkeypatch):
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"anon_auth": "3/minute"})
    client = APIClient()
    statuses = [
        register(client, new_name(), HTTP_X_FORWARDED_FOR=f"10.0.{i}.1").status_code
        for i in range(6)
    ]
    assert statuses == [201, 201, 201, 429, 429, 429]


def test_client_address_trusts_x_forwarded_for_only_behind_configured_proxies():
    from apikit.throttling import client_address

    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    assert client_address(request) == "10.1.1.1"  # no proxy configured: the socket
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client_address(request) == "1.2.3.4"  # what our one proxy saw
        assert client_address(factory.get("/", REMOTE_ADDR="10.1.1.1")) == "10.1.1.1"
        bad = factory.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="not-an-ip")
        assert client_address(bad) == "10.1.1.1"
    with override_settings(TRUSTED_PROXY_COUNT=2):
        assert client_address(request) == "6.6.6.6"


def test_a_websocket_scope_follows_the_same_rule():
    from apikit.throttling import scope_client_address

    scope = {"client": ("10.1.1.1", 5000), "headers": [(b"x-forwarded-for", b"6.6.6.6, 1.2.3.4")]}
    assert scope_client_address(scope) == "10.1.1.1"
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert scope_client_address(scope) == "1.2.3.4"
        assert scope_client_address({"client": None, "headers": []}) == ""


def test_behind_a_trusted_proxy_each_client_has_its_own_count(engine, monkeypatch):
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"anon_auth": "2/minute"})
    client = APIClient()
    with override_settings(TRUSTED_PROXY_COUNT=1):
        a = [
            register(client, new_name(), HTTP_X_FORWARDED_FOR="1.1.1.1").status_code
            for _ in range(3)
        ]
        # the client's own left-hand entries change nothing: the proxy's entry is last
        b = [
            register(client, new_name(), HTTP_X_FORWARDED_FOR=f"9.9.9.{i}, 2.2.2.2").status_code
            for i in range(3)
        ]
    assert a == [201, 201, 429]
    assert b == [201, 201, 429]


def test_admin_log_in_attempts_are_rate_limited_per_address(client, monkeypatch):
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"anon_auth": "2/minute"})
    body = {"username": "nobody", "password": "x"}
    responses = [client.post("/admin/login/", body) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]  # 200: the form, its error
    page = responses[-1].content.decode()  # an admin page, not the API's JSON
    assert responses[-1]["Content-Type"].startswith("text/html")
    assert "Too many log-in attempts" in page and 'id="header"' in page
    assert client.get("/admin/login/").status_code == 200  # only POSTs count


# -- lock-out after failed log-ins (django-axes) ---------------------------------------


def assert_locked_out(response) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "locked_out"
    assert int(response["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())


def test_failed_token_log_ins_lock_the_account(engine):
    name, other = new_name(), new_name()
    client = APIClient()
    assert register(client, name).status_code == 201
    assert register(client, other).status_code == 201
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        token(client, name, "wrong-password", REMOTE_ADDR=f"10.2.0.{i}").status_code
        for i in range(limit)
    ]
    assert statuses[: limit - 1] == [401] * (limit - 1)
    assert statuses[-1] == 429
    # locked, even with the right password and from yet another address
    assert_locked_out(token(client, name, PASSWORD, REMOTE_ADDR="10.2.1.1"))
    # another account is not
    assert token(client, other, PASSWORD, REMOTE_ADDR="10.2.1.2").status_code == 200


def test_a_successful_log_in_resets_the_failure_count(engine):
    name = new_name()
    client = APIClient()
    assert register(client, name).status_code == 201
    for _ in range(2):
        for i in range(settings.AXES_FAILURE_LIMIT - 1):
            address = f"10.3.0.{i}"
            assert token(client, name, "wrong", REMOTE_ADDR=address).status_code == 401
        assert token(client, name, PASSWORD, REMOTE_ADDR="10.3.1.1").status_code == 200


def test_failed_admin_log_ins_lock_the_account(client):
    get_user_model().objects.create_user("clerk", password="clerk-pass-9", is_staff=True)
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/admin/login/", {"username": "clerk", "password": "no"}, REMOTE_ADDR=f"10.4.0.{i}"
        )
    right = {"username": "clerk", "password": "clerk-pass-9"}
    response = client.post("/admin/login/", right, REMOTE_ADDR="10.4.1.1")
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    page = response.content.decode()  # an admin page an admin can read, not JSON
    assert response["Content-Type"].startswith("text/html")
    assert "Log-in locked" in page and "Too many failed log-ins" in page


# -- demo funds -----------------------------------------------------------------------


def test_sign_up_credits_no_funds_unless_configured(engine):
    env = {k: v for k, v in os.environ.items() if k != "SIGNUP_DEMO_FUNDS"}
    env["DJANGO_SETTINGS_MODULE"] = "exchange_site.settings"
    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.SIGNUP_DEMO_FUNDS)"
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "{}"
    with override_settings(SIGNUP_DEMO_FUNDS={}):
        response = register(APIClient(), new_name())
    assert response.status_code == 201
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/balances").json() == []


def test_make_run_enables_the_demo_funds():
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert 'export SIGNUP_DEMO_FUNDS="${SIGNUP_DEMO_FUNDS-USDT=10000,BTC=1,ETH=10}"' in script


# -- reserved names and the bot's accounts ---------------------------------------------


@pytest.mark.parametrize(
    "username",
    [
        settings.FEE_ACCOUNT_USERNAME,
        settings.MARKET_MAKER["USERNAME"],
        f"{settings.MARKET_MAKER['USERNAME']}-taker",
        f"{settings.MARKET_MAKER['USERNAME'].upper()}-Taker",
        f"{settings.MARKET_MAKER['USERNAME']}-load-1",
    ],
)
def test_reserved_names_are_refused_at_sign_up(engine, username):
    response = register(APIClient(), username)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "username_reserved"
    assert (
        not get_user_model()
        .objects.filter(username=username, groups=None)
        .exclude(username=settings.FEE_ACCOUNT_USERNAME)
        .exists()
    )


def keep_the_tests_connection(monkeypatch) -> None:
    """ensure_bot_user closes its database connections (the bot talks HTTP afterwards);
    here they hold the test's transaction."""
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    monkeypatch.setattr("django.db.close_old_connections", lambda: None)


def test_the_bot_refuses_an_account_it_did_not_create(engine, monkeypatch):
    from market_maker.bot import ForeignAccount, ensure_bot_user
    from market_maker.client import ApiClient

    name = new_name()  # not reserved: the bot would run under --username NAME
    assert register(APIClient(), name).status_code == 201
    with pytest.raises(CommandError, match="did not create"):
        call_command("run_marketmaker", "--username", name, "--duration", "0")
    keep_the_tests_connection(monkeypatch)
    with pytest.raises(ForeignAccount):
        ensure_bot_user(name, {}, ApiClient("http://127.0.0.1:9"))


def test_the_bot_recognises_the_accounts_it_created(engine, monkeypatch):
    from market_maker.bot import ensure_bot_user, foreign_accounts
    from market_maker.client import ApiClient

    class InProcess(ApiClient):  # the bot's client, over the test client instead of HTTP
        def balances(self):
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
            return api.get("/api/v1/balances").json()

    keep_the_tests_connection(monkeypatch)
    name = new_name()
    first = ensure_bot_user(name, {}, InProcess("http://127.0.0.1:9"))
    assert ensure_bot_user(name, {}, InProcess("http://127.0.0.1:9")) == first
    assert foreign_accounts([name, f"{name}-taker"]) == []
    user = get_user_model().objects.get(username=name)
    assert not user.has_usable_password()
    assert user.groups.filter(name=settings.BOT_ACCOUNTS_GROUP).exists()


def test_accounts_an_earlier_bot_created_are_marked_as_the_bots(engine):
    """Upgrading: the migration puts the bot's existing accounts (its name, an unusable
    password, which no sign-up can produce) in the group; a signed-up look-alike stays out."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0004_bot_accounts_group")
    User = get_user_model()
    name = settings.MARKET_MAKER["USERNAME"]
    for username in (name, f"{name}-taker"):
        user, _ = User.objects.get_or_create(username=username)
        user.set_unusable_password()
        user.groups.clear()
        user.save()
    impostor = User.objects.create_user(f"{name}-impostor", password=PASSWORD)
    migration.mark_bot_accounts(apps, None)
    from market_maker.bot import foreign_accounts

    assert foreign_accounts([name, f"{name}-taker"]) == []
    assert foreign_accounts([impostor.username]) == [impostor.username]
