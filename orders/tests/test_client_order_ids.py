"""A client_order_id is taken for CLIENT_ORDER_ID_RETENTION after its order was placed:
a retried order (what a client does after a 504) is refused with 409, not traded twice,
also after the engine restarted."""

from __future__ import annotations

import pytest

from engine_worker.tests.test_large_batches import fund
from orders.tests.helpers import balances, place
from orders.tests.test_order_errors import assert_error, post

pytestmark = pytest.mark.django_db


def filled_ioc(make_trader, market: str):
    maker, taker = make_trader(), make_trader()
    fund(maker.user_id, "BTC", 10**8)
    fund(taker.user_id, "USDT", 10**12)
    place(maker, symbol=market, side="sell", price="100", quantity="0.5")
    body = {"symbol": market, "side": "buy", "type": "limit", "price": "100",
            "quantity": "0.1", "time_in_force": "IOC", "client_order_id": "retry-1"}  # fmt: skip
    first = post(taker, body)
    assert first.status_code == 201, first.content
    assert first.json()["order"]["status"] == "filled"
    return maker, taker, body, first.json()["order"]["id"]


def assert_resend_refused(maker, taker, body: dict, first_id: int) -> None:
    before = (balances(maker), balances(taker))
    error = assert_error(post(taker, body), 409, "duplicate_client_order_id")
    assert error["details"]["order_id"] == first_id
    assert (balances(maker), balances(taker)) == before
    # the first order is the one the client_order_id finds
    found = taker.get("/api/v1/orders?client_order_id=retry-1").json()["results"]
    assert [o["id"] for o in found] == [first_id]


def test_a_retried_ioc_is_refused_with_the_first_orders_id(make_trader, market):
    maker, taker, body, first_id = filled_ioc(make_trader, market)
    assert_resend_refused(maker, taker, body, first_id)
    # another user may use the same client_order_id
    other = make_trader()
    fund(other.user_id, "USDT", 10**12)
    assert post(other, body).status_code == 201


def test_a_retried_ioc_is_refused_after_an_engine_restart(engine, make_trader, market):
    maker, taker, body, first_id = filled_ioc(make_trader, market)
    engine.kill()
    engine.start()
    assert_resend_refused(maker, taker, body, first_id)
