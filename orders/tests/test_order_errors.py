"""Bad input gets a 4xx in the contract's error shape and changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from orders.tests.helpers import balances, place

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def post(client, body, **kwargs):
    return client.post("/api/v1/orders", body, format="json", **kwargs)


LIMIT = {"side": "buy", "type": "limit", "price": "100", "quantity": "1"}


def test_malformed_json_is_a_400(make_trader):
    trader = make_trader()
    response = trader.post("/api/v1/orders", "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", "abc"),
        ("quantity", "1e400"),
        ("quantity", "-1"),
        ("quantity", "0"),
        ("quantity", "NaN"),
        ("quantity", "Infinity"),
        ("quantity", [1]),
        ("quantity", True),
        ("price", "1e400"),
        ("price", {"a": 1}),
        ("side", "short"),
        ("type", "stop"),
        ("time_in_force", "GTD"),
        ("post_only", "perhaps"),
        ("client_order_id", "x" * 65),
        ("symbol", None),
    ],
)
def test_wrong_types_and_values_are_400(make_trader, market, field, value):
    trader = make_trader()
    error = assert_error(
        post(trader, {**LIMIT, "symbol": market, field: value}), 400, "invalid_input"
    )
    assert field in error["details"]
    assert balances(trader)["USDT"] == ("10000", "0")


def test_limit_without_price_is_400(make_trader, market):
    body = {"symbol": market, "side": "buy", "type": "limit", "quantity": "1"}
    assert_error(post(make_trader(), body), 400, "invalid_input")


def test_price_off_the_tick_is_400(make_trader, market):
    error = assert_error(
        post(make_trader(), {**LIMIT, "symbol": market, "price": "100.001"}), 400, "invalid_price"
    )
    assert error["details"]["tick_size"] == "0.01"


def test_quantity_off_the_lot_is_400(make_trader, market):
    assert_error(
        post(make_trader(), {**LIMIT, "symbol": market, "quantity": "0.000001"}),
        400,
        "invalid_quantity",
    )


def test_notional_below_the_minimum_is_422(make_trader, market):
    # 0.5 * 1 = 0.5 USDT < min_notional 1
    body = {**LIMIT, "symbol": market, "price": "0.5", "quantity": "1"}
    assert_error(post(make_trader(), body), 422, "min_notional")


def test_unknown_symbol_is_404(make_trader):
    assert_error(post(make_trader(), {**LIMIT, "symbol": "NOPE_USDT"}), 404, "unknown_market")


def test_another_users_order_is_404(make_trader, market):
    owner, other = make_trader(), make_trader()
    order = place(owner, **{**LIMIT, "symbol": market})["order"]
    assert_error(other.get(f"/api/v1/orders/{order['id']}"), 404, "unknown_order")
    assert_error(other.delete(f"/api/v1/orders/{order['id']}"), 404, "unknown_order")
    assert owner.get(f"/api/v1/orders/{order['id']}").json()["status"] == "new"


def test_duplicate_client_order_id_is_409(make_trader, market):
    trader = make_trader()
    place(trader, **{**LIMIT, "symbol": market, "client_order_id": "dup"})
    response = post(trader, {**LIMIT, "symbol": market, "client_order_id": "dup"})
    assert_error(response, 409, "duplicate_client_order_id")
    assert balances(trader)["USDT"] == ("9900", "100")


def test_missing_token_is_401(engine, db, market):
    assert_error(post(APIClient(), {**LIMIT, "symbol": market}), 401, "not_authenticated")


def test_revoked_token_is_401(make_trader, market):
    trader = make_trader()
    assert trader.post("/api/v1/auth/logout").status_code == 204
    assert_error(post(trader, {**LIMIT, "symbol": market}), 401, "not_authenticated")


def test_insufficient_balance_is_422_and_changes_nothing(make_trader, market):
    trader = make_trader()
    error = assert_error(
        post(trader, {**LIMIT, "symbol": market, "price": "20000"}), 422, "insufficient_balance"
    )
    assert error["details"]["request_id"]
    assert balances(trader)["USDT"] == ("10000", "0")


def test_post_only_that_would_take_is_422(make_trader, market):
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="100", quantity="0.1")
    body = {**LIMIT, "symbol": market, "quantity": "0.1", "post_only": True}
    assert_error(post(buyer, body), 422, "post_only_would_take")


def test_cancelling_a_closed_order_is_400(make_trader, market):
    trader = make_trader()
    order = place(trader, **{**LIMIT, "symbol": market})["order"]
    assert trader.delete(f"/api/v1/orders/{order['id']}").status_code == 200
    assert_error(trader.delete(f"/api/v1/orders/{order['id']}"), 400, "order_not_open")


def test_unknown_api_path_is_json_404(client, engine):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
