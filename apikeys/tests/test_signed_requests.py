"""Our /api/v1 with API keys: signed as Binance's SIGNED endpoints, each refusal with
Binance's code (in details.binance_code), scopes enforced, and never another user's data."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from apikeys import authentication
from apikeys.models import ApiKey
from apikeys.tests.helpers import binance_error, create_key, now_ms, signed
from orders.tests.helpers import balances, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader(make_trader):
    return make_trader()


@pytest.fixture
def key(trader):
    return create_key(trader, ["read", "trade"])


def test_a_signed_get_reads_the_owners_balances(trader, key):
    response = signed(key, "GET", "/api/v1/balances")
    assert response.status_code == 200, response.content
    assert {b["asset"]: (b["available"], b["locked"]) for b in response.json()} == balances(trader)
    me = signed(key, "GET", "/api/v1/auth/me").json()
    assert me["user_id"] == trader.user_id
    assert ApiKey.objects.get(pk=key["id"]).last_used_at is not None


def test_a_signed_order_with_a_json_body_is_placed_and_cancelled(trader, key, market):
    order = {"symbol": market, "side": "buy", "type": "limit", "price": "100", "quantity": "1"}
    response = signed(key, "POST", "/api/v1/orders", body=order)
    assert response.status_code == 201, response.content
    order_id = response.json()["order"]["id"]
    assert balances(trader)["USDT"] == ("9900", "100")
    listed = signed(key, "GET", "/api/v1/orders", params={"symbol": market}).json()
    assert [o["id"] for o in listed["results"]] == [order_id]
    cancelled = signed(key, "DELETE", f"/api/v1/orders/{order_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert signed(key, "GET", "/api/v1/trades").status_code == 200


def test_the_body_is_signed_too(trader, key, market):
    """A signature over the query string alone does not cover a changed body."""
    from urllib.parse import urlencode

    from apikeys.signing import sign

    query = urlencode({"timestamp": now_ms()})
    signature = sign(key["secret"], query.encode() + b'{"quantity": "0.01"}')
    body = f'{{"symbol": "{market}", "side": "buy", "type": "market", "quantity": "1"}}'
    response = APIClient().generic(
        "POST",
        f"/api/v1/orders?{query}&signature={signature}",
        data=body,
        content_type="application/json",
        HTTP_X_MBX_APIKEY=key["api_key"],
    )
    binance_error(response, 400, -1022)
    assert balances(trader)["USDT"] == ("10000", "0")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"secret": "x" * 64}, 400, -1022),  # a bad signature
        ({"timestamp_shift": -6000}, 400, -1021),  # older than the 5 s default window
        ({"timestamp_shift": -61_000, "recv_window": 60_000}, 400, -1021),
        ({"timestamp_shift": 1500}, 400, -1021),  # more than 1 s ahead
        ({"timestamp_shift": 600_000, "recv_window": 60_000}, 400, -1021),
        ({"recv_window": 60_001}, 400, -1131),
        ({"api_key": "A" * 64}, 401, -2015),  # no such key
        ({"api_key": "short"}, 401, -2014),
        ({"api_key": "é" * 64}, 401, -2014),
    ],
)
def test_each_refusal_has_binances_code(trader, key, change, status, code, monkeypatch):
    # The server's clock is pinned: a shift of 1.5 s must be judged against the instant the
    # timestamp was taken, not against however long a loaded machine takes to serve it.
    server_now = now_ms()
    monkeypatch.setattr(authentication, "now_ms", lambda: server_now)
    used = {**key, "api_key": change.get("api_key", key["api_key"])}
    response = signed(
        used,
        "GET",
        "/api/v1/balances",
        secret=change.get("secret"),
        timestamp=server_now + change.get("timestamp_shift", 0),
        recv_window=change.get("recv_window"),
    )
    error = binance_error(response, status, code)
    assert error["message"]


def test_a_window_of_60_s_takes_a_59_s_old_request(key, monkeypatch):
    server_now = now_ms()
    monkeypatch.setattr(authentication, "now_ms", lambda: server_now)
    response = signed(
        key, "GET", "/api/v1/balances", timestamp=server_now - 59_000, recv_window=60_000
    )
    assert response.status_code == 200, response.content


def test_missing_timestamp_or_signature(key):
    client = APIClient(HTTP_X_MBX_APIKEY=key["api_key"])
    error = binance_error(client.get("/api/v1/balances?signature=ab"), 400, -1102)
    assert "'timestamp'" in error["message"]
    error = binance_error(client.get(f"/api/v1/balances?timestamp={now_ms()}"), 400, -1102)
    assert "'signature'" in error["message"]
    binance_error(client.get("/api/v1/balances?timestamp=soon&signature=ab"), 400, -1100)


def test_a_key_without_a_signature_authenticates_nothing(key):
    """python-binance sends its key with public requests too: they pass; a private one is
    then simply not authenticated."""
    client = APIClient(HTTP_X_MBX_APIKEY=key["api_key"])
    assert client.get("/api/v1/markets").status_code == 200
    response = client.get("/api/v1/balances")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_revoked_key_is_refused(trader, key):
    assert trader.delete(f"/api/v1/api-keys/{key['id']}").status_code == 204
    binance_error(signed(key, "GET", "/api/v1/balances"), 401, -2015)


def test_a_deactivated_users_key_is_refused(trader, key):
    get_user_model().objects.filter(pk=trader.user_id).update(is_active=False)
    binance_error(signed(key, "GET", "/api/v1/balances"), 401, -2015)


def test_the_ip_allowlist(trader):
    inside = create_key(trader, ["read"], allowed_ips=["127.0.0.0/8"])
    outside = create_key(trader, ["read"], allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert signed(inside, "GET", "/api/v1/balances").status_code == 200  # the client is 127.0.0.1
    binance_error(signed(outside, "GET", "/api/v1/balances"), 401, -2015)
    # a client's own X-Forwarded-For is not believed without trusted proxies
    spoofed = signed(outside, "GET", "/api/v1/balances", HTTP_X_FORWARDED_FOR="10.1.1.1")
    binance_error(spoofed, 401, -2015)


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_the_ip_allowlist_behind_a_trusted_proxy(trader):
    key = create_key(trader, ["read"], allowed_ips=["203.0.113.0/24"])
    through = signed(key, "GET", "/api/v1/balances", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert through.status_code == 200, through.content
    other = signed(key, "GET", "/api/v1/balances", HTTP_X_FORWARDED_FOR="198.51.100.1")
    binance_error(other, 401, -2015)
    mapped = signed(key, "GET", "/api/v1/balances", HTTP_X_FORWARDED_FOR="::ffff:203.0.113.9")
    assert mapped.status_code == 200, mapped.content


def test_a_read_key_cannot_trade(trader, market):
    reader = create_key(trader, ["read"])
    order = {"symbol": market, "side": "buy", "type": "limit", "price": "100", "quantity": "1"}
    binance_error(signed(reader, "POST", "/api/v1/orders", body=order), 401, -2015)
    assert balances(trader)["USDT"] == ("10000", "0")
    placed = place(trader, symbol=market, side="buy", price="100", quantity="1")
    order_id = placed["order"]["id"]
    binance_error(signed(reader, "DELETE", f"/api/v1/orders/{order_id}"), 401, -2015)
    binance_error(signed(reader, "DELETE", "/api/v1/orders"), 401, -2015)
    assert signed(reader, "GET", f"/api/v1/orders/{order_id}").json()["status"] == "new"


def test_a_trade_key_cannot_read(trader):
    trader_only = create_key(trader, ["trade"])
    for path in ("/api/v1/balances", "/api/v1/orders", "/api/v1/trades", "/api/v1/auth/me"):
        binance_error(signed(trader_only, "GET", path), 401, -2015)


def test_a_key_cannot_log_out_its_owner(trader, key):
    binance_error(signed(key, "POST", "/api/v1/auth/logout"), 401, -2015)
    assert trader.get("/api/v1/balances").status_code == 200  # the token still works


def test_a_key_never_reaches_another_users_order(make_trader, market):
    owner, other = make_trader(), make_trader()
    placed = place(owner, symbol=market, side="buy", price="100", quantity="1")
    order_id = placed["order"]["id"]
    key = create_key(other, ["read", "trade"])
    for method in ("GET", "DELETE"):
        response = signed(key, method, f"/api/v1/orders/{order_id}")
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "unknown_order"
    assert signed(key, "DELETE", "/api/v1/orders", params={"symbol": market}).json() == []
    assert owner.get(f"/api/v1/orders/{order_id}").json()["status"] == "new"
    assert signed(key, "GET", "/api/v1/orders", params={"status": "all"}).json()["count"] == 0


def test_a_token_goes_first(trader, key):
    """With both a token and a signature, the token authenticates (and the key's scopes do
    not apply): the signature is not even checked."""
    response = signed(key, "GET", "/api/v1/balances", secret="0" * 64, client=trader)
    assert response.status_code == 200, response.content
    assert ApiKey.objects.get(pk=key["id"]).last_used_at is None
