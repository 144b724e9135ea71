"""Open orders per user and market are limited (MAX_OPEN_ORDERS_PER_MARKET, or the
user's own limit set in the admin): one more resting order is a 422."""

from __future__ import annotations

import pytest
from django.conf import settings

from engine_worker.tests.test_large_batches import fund, own_order_limit, place_many
from orders.services import order_limit_set
from orders.tests.helpers import balances, place
from orders.tests.test_order_errors import assert_error, post

pytestmark = pytest.mark.django_db


def test_one_order_past_the_users_limit_is_a_422_and_changes_nothing(make_trader, market):
    trader = make_trader()
    fund(trader.user_id, "USDT", 10**12)
    with own_order_limit(trader.user_id, 2):
        place(trader, symbol=market, side="buy", price="100", quantity="0.01")
        place(trader, symbol=market, side="buy", price="101", quantity="0.01")
        before = balances(trader)
        response = post(trader, {"symbol": market, "side": "buy", "type": "limit",
                                 "price": "102", "quantity": "0.01"})  # fmt: skip
        assert_error(response, 422, "too_many_open_orders")
        assert balances(trader) == before
        assert len(trader.get(f"/api/v1/orders?symbol={market}").json()["results"]) == 2
        # an order that cannot rest is not limited
        ioc = place(trader, symbol=market, side="buy", price="99", quantity="0.02",
                    time_in_force="IOC")  # fmt: skip
        assert ioc["order"]["status"] == "expired"
        order_limit_set(user_id=trader.user_id, max_open_orders=3)  # raised: room again
        place(trader, symbol=market, side="buy", price="102", quantity="0.01")
    # back to the default (200): plenty of room
    place(trader, symbol=market, side="buy", price="103", quantity="0.01")


def test_the_default_limit_holds_without_a_users_own(make_trader, market):
    trader = make_trader()
    fund(trader.user_id, "USDT", 10**12)
    limit = settings.MAX_OPEN_ORDERS_PER_MARKET
    assert limit == 200
    place_many(trader.user_id, market, "buy", [100_00 + i for i in range(limit)], 1000)
    response = post(trader, {"symbol": market, "side": "sell", "type": "limit",
                             "price": "500", "quantity": "0.01"})  # fmt: skip
    assert_error(response, 422, "too_many_open_orders")
    other = make_trader()  # another user is not affected
    fund(other.user_id, "USDT", 10**12)
    place(other, symbol=market, side="buy", price="1", quantity="1")
