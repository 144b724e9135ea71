"""Text PostgreSQL cannot store (NUL, unpaired surrogates) is a 400 in the contract's
shape wherever it enters: query parameters, JSON bodies at any depth, path parts and
headers; never a DataError's 500."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apikit.parsers import unstorable_path

pytestmark = pytest.mark.django_db


def assert_invalid_text(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "invalid_input"
    return body["error"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/trades?symbol=A%00B",  # the reported 500
        "/api/v1/orders?symbol=BTC%00USDT",
        "/api/v1/orders?status=open%00",
        "/api/v1/trades?sym%00bol=x",
    ],
)
def test_nul_in_a_query_parameter_is_400(make_trader, url):
    error = assert_invalid_text(make_trader().get(url))
    assert error["details"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/markets/BTC%00USDT/depth",
        "/api/v1/markets/BTC%00USDT/trades",
        "/api/v1/markets/BTC%00USDT/klines?interval=1m",
        "/api/v1/markets/BTC%00USDT/ticker",
    ],
)
def test_nul_in_a_path_part_is_400(client, engine, url):
    error = assert_invalid_text(client.get(url))
    assert "path" in error["details"]


@pytest.mark.parametrize(
    "body, where",
    [
        ({"symbol": "BTC\x00USDT", "side": "buy", "type": "limit"}, "symbol"),
        ({"symbol": "BTC_USDT", "client_order_id": "a\x00b"}, "client_order_id"),
        ({"symbol": "BTC_USDT", "client_order_id": "\ud800"}, "client_order_id"),
        ({"symbol": "BTC_USDT", "extra": {"deep": [1, {"x\x00": "y"}]}}, "extra.deep[1].x\\u0000"),
    ],
)
def test_unstorable_text_in_a_json_body_is_400(make_trader, body, where):
    raw = json.dumps(body)  # escapes NUL as \u0000 and the surrogate as \ud800
    response = make_trader().post("/api/v1/orders", raw, content_type="application/json")
    error = assert_invalid_text(response)
    assert where in error["details"]


def test_unstorable_text_at_sign_up_and_login_is_400(client, engine):
    for url in ("/api/v1/auth/register", "/api/v1/auth/token"):
        raw = json.dumps({"username": "eve\ud800", "password": "correct-horse-9"})
        assert_invalid_text(client.post(url, raw, content_type="application/json"))


def test_nul_in_a_header_used_as_data_is_400(engine, db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc\x00def")  # looked up in the database
    error = assert_invalid_text(client.get("/api/v1/balances"))
    assert "authorization" in error["details"]
    # the session key is looked up in the session table
    response = APIClient().get("/api/v1/balances", HTTP_COOKIE="sessionid=abc\x00def")
    assert "cookie" in assert_invalid_text(response)["details"]


def test_a_document_nested_too_deeply_is_400_not_500(make_trader):
    raw = "[" * 30_000 + "]" * 30_000  # within API_MAX_BODY_BYTES, far past the recursion limit
    response = make_trader().post("/api/v1/orders", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "malformed_request"


def test_clean_text_passes_and_the_walk_names_the_place():
    assert unstorable_path({"a": ["b", {"c": "ok"}], "n": 1.5, "t": True, "z": None}) is None
    assert unstorable_path("plain \x00") == "body"
    assert unstorable_path({"a": ["b", {"c": "\udfff"}]}) == "a[1].c"
    nested: list = []
    for _ in range(50_000):
        nested = [nested]
    assert unstorable_path(nested) is None


def test_nul_in_a_form_field_is_a_form_error_not_a_500(client):
    """Django's form CharFields refuse NUL themselves (the admin's forms, its log-in)."""
    response = client.post("/admin/login/", {"username": "a\x00b", "password": "x"})
    assert response.status_code == 200
    assert b"Null characters are not allowed" in response.content
    assert_invalid_text(client.get("/admin/login/?next=/admin/%00"))
