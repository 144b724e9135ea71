"""Sign-up, tokens and logout, as a client sees them."""

from __future__ import annotations

import itertools
import os

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


PASSWORD = "correct-horse-9"
_names = itertools.count(1)


def new_name() -> str:
    return f"auth{os.getpid()}x{next(_names)}"


def register(username: str, password: str = PASSWORD, **extra):
    body = {"username": username, "password": password, **extra}
    return APIClient().post("/api/v1/auth/register", body, format="json")


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_register_returns_the_user_and_a_working_token(engine):
    name = new_name()
    response = register(name, email=f"{name}@example.com")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"user_id", "username", "token"}
    assert body["username"] == name
    assert isinstance(body["user_id"], int)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/v1/balances").status_code == 200


def test_duplicate_username_is_409(engine):
    name = new_name()
    assert register(name).status_code == 201
    assert_error(register(name, password="another-horse-7"), 409, "username_taken")


def test_a_username_differing_only_in_case_is_taken(engine):
    name = new_name()
    assert register(name.lower()).status_code == 201
    assert_error(register(name.upper(), password="another-horse-7"), 409, "username_taken")
    assert_error(register(name.title(), password="another-horse-7"), 409, "username_taken")


@pytest.mark.parametrize("password", ["123", "password", "short"])
def test_weak_password_is_400(engine, password):
    error = assert_error(register(new_name(), password=password), 400, "invalid_input")
    assert "password" in error["details"]


@pytest.mark.parametrize(
    "body",
    [{"username": "bad name!", "password": PASSWORD}, {"password": PASSWORD}, {"username": "x"}],
)
def test_bad_register_input_is_400(engine, body):
    response = APIClient().post("/api/v1/auth/register", body, format="json")
    assert_error(response, 400, "invalid_input")


def test_token_obtain_and_wrong_password(engine):
    name = new_name()
    registered = register(name).json()
    response = APIClient().post(
        "/api/v1/auth/token", {"username": name, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"token": registered["token"]}
    wrong = APIClient().post(
        "/api/v1/auth/token", {"username": name, "password": "not-the-password"}, format="json"
    )
    assert_error(wrong, 401, "invalid_credentials")
    unknown = APIClient().post(
        "/api/v1/auth/token", {"username": new_name(), "password": PASSWORD}, format="json"
    )
    assert_error(unknown, 401, "invalid_credentials")


def test_logout_revokes_the_token(make_trader):
    trader = make_trader()
    assert trader.get("/api/v1/balances").status_code == 200
    assert trader.post("/api/v1/auth/logout").status_code == 204
    assert_error(trader.get("/api/v1/balances"), 401, "not_authenticated")
    assert_error(trader.post("/api/v1/auth/logout"), 401, "not_authenticated")


def test_balances_require_auth(engine):
    assert_error(APIClient().get("/api/v1/balances"), 401, "not_authenticated")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/balances"), 401, "not_authenticated")


def test_a_new_token_after_logout_works(make_trader):
    trader = make_trader()
    name = get_user_model().objects.get(pk=trader.user_id).username
    trader.post("/api/v1/auth/logout")
    response = APIClient().post(
        "/api/v1/auth/token", {"username": name, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/balances").status_code == 200


def test_sign_up_attempts_are_rate_limited_with_a_429(client, engine, monkeypatch):
    from apikit.throttling import AuthRateThrottle

    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"anon_auth": "2/minute"})
    body = {"username": "", "password": "x"}  # invalid on purpose: only the count matters
    statuses = [
        client.post("/api/v1/auth/token", body, content_type="application/json") for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [400, 400, 429]
    error = statuses[2].json()["error"]
    assert error["code"] == "throttled"
    assert statuses[2]["Retry-After"]
