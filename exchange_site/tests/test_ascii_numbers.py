"""Issue 10 (probe): numbers on the wire are plain ASCII. Python's Decimal() and int() also
take underscores ("1_000") and every script's digits (fullwidth "\uff11", Arabic-Indic
"\u0661"); amounts (marketdata.fields.DecimalString) and whole-number query parameters
(WholeNumber: limit, offset, klines and trades limit) refuse them with a 400
invalid_input, and nothing is placed."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from orders.tests.helpers import balances
from orders.tests.test_order_errors import assert_error, post

pytestmark = pytest.mark.django_db

LAX_AMOUNTS = [
    "0.0_1",
    "1_0_0",
    "1_000.5",
    "1e1_0",
    "\uff10.\uff101",  # fullwidth "0.01"
    "\u0661\u0660\u0660",  # Arabic-Indic "100"
    "\u06f1\u06f0\u06f0",  # extended Arabic-Indic "100"
    "\u0967",  # Devanagari "1"
    "1\u0660",
    "1e\u0662",
    "\u00a0100",  # a no-break space
    "1 00",
    "0x10",
    "Infinity",
    "--1",
    "1.2.3",
    "e5",
    ".",
    "",
]


@pytest.mark.parametrize("field", ["price", "quantity"])
@pytest.mark.parametrize("amount", LAX_AMOUNTS)
def test_an_amount_that_is_not_plain_ascii_is_a_400(make_trader, market, field, amount):
    trader = make_trader()
    body = {"symbol": market, "side": "sell", "type": "limit", "price": "100",
            "quantity": "0.01", field: amount}  # fmt: skip
    error = assert_error(post(trader, body), 400, "invalid_input")
    assert field in error["details"]
    assert balances(trader)["BTC"] == ("1", "0")
    assert trader.get("/api/v1/orders", {"symbol": market}).json()["results"] == []


@pytest.mark.parametrize(
    ("price", "quantity"),
    [("100", "0.01"), ("1e2", "1E-2"), ("+100.00", "0.010"), ("100.", ".01"), (100, "1e-2")],
)
def test_plain_and_exponent_amounts_are_still_accepted(make_trader, market, price, quantity):
    trader = make_trader()
    body = {"symbol": market, "side": "sell", "type": "limit", "price": price,
            "quantity": quantity}  # fmt: skip
    response = post(trader, body)
    assert response.status_code == 201, response.content
    order = response.json()["order"]
    assert (order["price"], order["quantity"]) == ("100", "0.01")


def get(client, url: str, param: str, value: str):
    path, _, query = url.partition("?")
    return client.get(path, {**dict(parse_qsl(query)), param: value})


LAX_WHOLE = ["\u0661\u0660", "\uff11\uff10", "1_0", " 10", "10 ", "10.0", "+10", "-1", "1e1",
             "0x10", "\u00b9"]  # fmt: skip


@pytest.mark.parametrize("value", LAX_WHOLE)
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/markets/{s}/klines?interval=1m", "limit"),
        ("/api/v1/markets/{s}/trades", "limit"),
        ("/api/v1/markets/{s}/depth", "limit"),
        ("/api/v1/orders", "limit"),
        ("/api/v1/orders", "offset"),
        ("/api/v1/orders?status=all", "limit"),
        ("/api/v1/orders?status=all", "offset"),
        ("/api/v1/trades", "limit"),
        ("/api/v1/trades", "offset"),
    ],
)
def test_a_whole_number_parameter_that_is_not_ascii_digits_is_a_400(
    make_trader, market, path, param, value
):
    response = get(make_trader(), path.format(s=market), param, value)
    error = assert_error(response, 400, "invalid_input")
    assert param in error["details"]


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("/api/v1/markets/{s}/klines?interval=1m", "limit", "0010"),
        ("/api/v1/markets/{s}/trades", "limit", "99999999999999999999"),
        ("/api/v1/orders", "limit", "5"),
        ("/api/v1/orders?status=all", "offset", "999999999999999999"),
        ("/api/v1/trades", "limit", "100000"),
    ],
)
def test_ascii_whole_numbers_are_served(make_trader, market, path, param, value):
    response = get(make_trader(), path.format(s=market), param, value)
    assert response.status_code == 200, response.content
