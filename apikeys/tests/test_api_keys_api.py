"""POST, GET and DELETE /api/v1/api-keys as a client sees them: the secret shown once and
stored encrypted, validation, the per-user limit, and no reach into another user's keys."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from apikeys import crypto
from apikeys.models import ApiKey
from apikeys.tests.helpers import binance_error, create_key, signed

pytestmark = pytest.mark.django_db

KEY_FORM = re.compile(r"^[A-Za-z0-9]{64}$")


def test_create_shows_the_secret_once_and_stores_it_encrypted(make_trader):
    trader = make_trader()
    created = create_key(trader, ["read", "trade"], label="my bot")
    assert set(created) == {
        "id", "label", "scopes", "api_key", "secret", "allowed_ips", "created_at", "last_used_at"
    }  # fmt: skip
    assert created["label"] == "my bot"
    assert created["scopes"] == ["read", "trade"]
    assert KEY_FORM.match(created["api_key"]) and KEY_FORM.match(created["secret"])
    assert created["allowed_ips"] == [] and created["last_used_at"] is None

    listed = trader.get("/api/v1/api-keys").json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert created["secret"] not in trader.get("/api/v1/api-keys").content.decode()

    row = ApiKey.objects.get(pk=created["id"])
    assert created["secret"] not in row.secret_encrypted
    assert crypto.decrypt(row.secret_encrypted) == created["secret"]


def test_scopes_and_addresses_are_normalised(make_trader):
    trader = make_trader()
    created = create_key(
        trader, ["trade", "read", "trade"], allowed_ips=["127.0.0.1", "10.1.2.3/8", "::1"]
    )
    assert created["scopes"] == ["read", "trade"]
    assert created["allowed_ips"] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


@pytest.mark.parametrize(
    "body",
    [
        {"label": "x", "scopes": []},
        {"label": "x", "scopes": ["admin"]},
        {"label": "x", "scopes": "read"},
        {"label": "x"},
        {"label": "", "scopes": ["read"]},
        {"label": "   ", "scopes": ["read"]},
        {"label": "x" * 65, "scopes": ["read"]},
        {"label": "x\u0000", "scopes": ["read"]},
        {"label": "x", "scopes": ["read"], "allowed_ips": ["not-an-ip"]},
        {"label": "x", "scopes": ["read"], "allowed_ips": ["10.0.0.0/33"]},
        {"label": "x", "scopes": ["read"], "allowed_ips": [f"10.0.0.{i}" for i in range(31)]},
        {"label": "x", "scopes": ["read"], "allowed_ips": "10.0.0.1"},
    ],
)
def test_bad_input_is_a_400_and_creates_nothing(make_trader, body):
    trader = make_trader()
    response = trader.post("/api/v1/api-keys", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_input"
    assert not ApiKey.objects.filter(user_id=trader.user_id).exists()


@override_settings(API_KEYS_PER_USER=2)
def test_the_per_user_limit_counts_keys_not_revoked(make_trader):
    trader = make_trader()
    first = create_key(trader, ["read"])
    create_key(trader, ["read"])
    response = trader.post("/api/v1/api-keys", {"label": "3", "scopes": ["read"]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_api_keys"
    assert trader.delete(f"/api/v1/api-keys/{first['id']}").status_code == 204
    create_key(trader, ["read"])
    assert len(trader.get("/api/v1/api-keys").json()) == 2


def test_revoke_stops_the_key_at_once(make_trader):
    trader = make_trader()
    key = create_key(trader, ["read"])
    assert signed(key, "GET", "/api/v1/balances").status_code == 200
    response = trader.delete(f"/api/v1/api-keys/{key['id']}")
    assert response.status_code == 204 and not response.content
    binance_error(signed(key, "GET", "/api/v1/balances"), 401, -2015)
    assert trader.get("/api/v1/api-keys").json() == []
    assert ApiKey.objects.get(pk=key["id"]).revoked_at is not None  # kept as a record
    again = trader.delete(f"/api/v1/api-keys/{key['id']}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "unknown_api_key"


def test_another_users_key_is_a_404_and_stays(make_trader):
    owner, other = make_trader(), make_trader()
    key = create_key(owner, ["read"])
    response = other.delete(f"/api/v1/api-keys/{key['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_api_key"
    assert other.get("/api/v1/api-keys").json() == []
    assert signed(key, "GET", "/api/v1/balances").status_code == 200
    assert other.delete("/api/v1/api-keys/999999999").status_code == 404


def test_keys_need_the_login_token_not_an_api_key(make_trader):
    trader = make_trader()
    key = create_key(trader, ["read", "trade"])
    for method, path, body in [
        ("POST", "/api/v1/api-keys", {"label": "x", "scopes": ["read"]}),
        ("GET", "/api/v1/api-keys", None),
        ("DELETE", f"/api/v1/api-keys/{key['id']}", None),
    ]:
        response = signed(key, method, path, body=body)
        assert response.status_code == 401, (method, response.content)
        assert response.json()["error"]["code"] == "not_authenticated"
    assert len(trader.get("/api/v1/api-keys").json()) == 1
    assert APIClient().get("/api/v1/api-keys").status_code == 401
