"""Issue 10, item 1: an order the API accepts is storable. Amounts outside the database's
range (numeric(38,18)) are a 400 at the edge; prices above the market's maximum (which
keeps every notional storable) are refused by the engine; nothing changes either way."""

from __future__ import annotations

import pytest

from orders.tests.helpers import balances, place
from orders.tests.test_order_errors import assert_error, post

pytestmark = pytest.mark.django_db

SELL = {"side": "sell", "type": "limit", "quantity": "0.00001"}


@pytest.mark.parametrize(
    "price",
    ["100000000000000000000", "1e20", "1E+20", "100000000000000000000.01", "1E+999999999",
     "0.0000000000000000001", "1e-999999999", "NaN", "-Infinity", "sNaN", 1e20, 10**20],
)  # fmt: skip
def test_a_price_the_database_cannot_store_is_a_400(make_trader, market, price):
    trader = make_trader()
    error = assert_error(
        post(trader, {**SELL, "symbol": market, "price": price}), 400, "invalid_input"
    )
    assert "price" in error["details"]
    assert balances(trader)["BTC"] == ("1", "0")
    assert trader.get("/api/v1/orders", {"symbol": market}).json()["results"] == []


@pytest.mark.parametrize(
    "quantity", ["100000000000000000000", "1e20", "1e-19", "1E+999999999", "Infinity"]
)
def test_a_quantity_the_database_cannot_store_is_a_400(make_trader, market, quantity):
    trader = make_trader()
    body = {**SELL, "symbol": market, "price": "100", "quantity": quantity}
    assert "quantity" in assert_error(post(trader, body), 400, "invalid_input")["details"]
    assert balances(trader)["BTC"] == ("1", "0")


@pytest.mark.parametrize("price", ["99999999999999999999.99", "100000000000000", "1e15"])
def test_a_storable_price_above_the_markets_maximum_is_a_400(make_trader, market, price):
    # the market's max_price (default: the highest price whose notional at its
    # max_quantity of 1000000 is storable) is 99999999999999.99
    trader = make_trader()
    markets = {m["symbol"]: m for m in trader.get("/api/v1/markets").json()}
    assert markets[market]["max_price"] == "99999999999999.99"
    error = assert_error(
        post(trader, {**SELL, "symbol": market, "price": price}), 400, "invalid_price"
    )
    assert error["details"]["max_price"] == "99999999999999.99"
    assert balances(trader)["BTC"] == ("1", "0")


def test_an_order_at_the_maximum_price_rests_and_exponent_forms_are_exact(make_trader, market):
    trader = make_trader()
    placed = place(trader, **SELL, symbol=market, price="99999999999999.99")
    assert placed["order"]["price"] == "99999999999999.99"
    placed = place(trader, symbol=market, side="sell", price="1e5", quantity="1e-5")
    assert (placed["order"]["price"], placed["order"]["quantity"]) == ("100000", "0.00001")
    assert balances(trader)["BTC"] == ("0.99998", "0.00002")
