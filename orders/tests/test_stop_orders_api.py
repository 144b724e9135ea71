"""Stop orders, OCO lists and amends through the API, end to end: HTTP in, the engine
worker process, the read model, the user channel and the database out."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import redis
from django.conf import settings

from accounts.models import Balance, LedgerEntry
from infra import keys
from orders.models import Order
from orders.tests.helpers import balances, place
from orders.tests.test_history import empty_history, persist  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def trade_at(seller, buyer, market: str, price: str, quantity: str = "0.01") -> None:
    """Move the last price: ``seller`` rests an ask at ``price``, ``buyer`` takes it."""
    place(seller, symbol=market, side="sell", price=price, quantity=quantity)
    taken = place(buyer, symbol=market, side="buy", price=price, quantity=quantity)
    assert taken["fills"] and taken["fills"][0]["price"] == price


def order_of(client, order_id: int) -> dict:
    response = client.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 200, response.content
    return response.json()


def error(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["error"]["code"]


def test_a_stop_loss_triggers_fills_and_settles_to_the_last_unit(
    make_trader,
    market,
    empty_history,  # noqa: F811
):
    """The issue's scenario: a stop-loss placed through the API waits (pending, its BTC
    locked), a second user's trades move the price down to it, it triggers, sells into
    the bid below and every balance, the user channel and the database agree to the
    last unit."""
    owner, mover, bidder = make_trader(), make_trader(), make_trader()
    trade_at(mover, bidder, market, "100")  # the last price: 100
    channel = redis.Redis.from_url(settings.REDIS_URL).pubsub()
    channel.subscribe(keys.user_channel(owner.user_id))
    stop_loss = place(owner, symbol=market, side="sell", type="stop_limit", quantity="0.5",
                      price="94", stop_price="95")["order"]  # fmt: skip
    assert (stop_loss["status"], stop_loss["stop_price"], stop_loss["price"]) == (
        "pending", "95", "94",
    )  # fmt: skip
    assert balances(owner)["BTC"] == ("0.5", "0.5")
    assert order_of(owner, stop_loss["id"])["status"] == "pending"
    listed = owner.get("/api/v1/orders").json()["results"]
    assert [o["id"] for o in listed] == [stop_loss["id"]]  # an open order

    place(bidder, symbol=market, side="buy", price="94", quantity="0.6")  # what it sells into
    trade_at(mover, bidder, market, "96", "0.02")  # not yet
    assert order_of(owner, stop_loss["id"])["status"] == "pending"
    place(bidder, symbol=market, side="buy", price="95", quantity="0.02")
    place(mover, symbol=market, side="sell", price="95", quantity="0.02")  # trades at 95

    done = order_of(owner, stop_loss["id"])
    assert (done["status"], done["filled_quantity"], done["average_price"]) == (
        "filled", "0.5", "94",
    )  # fmt: skip
    fills = owner.get("/api/v1/trades").json()["results"]
    assert [(f["order_id"], f["price"], f["quantity"], f["role"], f["fee"]) for f in fills] == [
        (stop_loss["id"], "94", "0.5", "taker", "0.094")  # 20 bps of 47 USDT
    ]
    # 0.5 BTC out exactly, 47 - 0.094 USDT in, nothing left locked
    assert balances(owner) == {"BTC": ("0.5", "0"), "ETH": ("10", "0"), "USDT": ("10046.906", "0")}
    # the counterparty paid 1 + 1.92 + 1.9 + 47 USDT and still bids 0.1 at 94; it got
    # 0.55 BTC less 20 bps of its two takes (0.01, 0.02) and 10 bps of its two makes
    assert balances(bidder)["USDT"] == ("9938.78", "9.4")
    assert balances(bidder)["BTC"] == ("1.54942", "0")

    # the user channel: pending, then triggered, the fill, and the final state
    events = []
    while (message := channel.get_message(timeout=1)) is not None:
        if message["type"] == "message":
            events += [(e["event"], e.get("status")) for e in json.loads(message["data"])]
    assert [e for e in events if e[0] != "balance"] == [
        ("order", "pending"), ("triggered", "new"), ("fill", None), ("order", "filled"),
    ]  # fmt: skip

    # and the database, once the DB processor ran, holds the same to the last unit
    persist()
    row = Order.objects.get(id=stop_loss["id"])
    assert (row.status, row.type, row.stop_price, row.filled_quantity) == (
        "filled", "stop_limit", Decimal(95), Decimal("0.5"),
    )  # fmt: skip
    for asset, (available, locked) in balances(owner).items():
        stored = Balance.objects.get(user_id=owner.user_id, asset=asset)
        assert (stored.available, stored.locked) == (Decimal(available), Decimal(locked))
        entries = LedgerEntry.objects.filter(user_id=owner.user_id, asset=asset)
        assert sum(e.delta_available for e in entries) == stored.available
        assert sum(e.delta_locked for e in entries) == stored.locked
    closed = owner.get("/api/v1/orders?status=closed").json()["results"]
    assert closed[0]["id"] == stop_loss["id"] and closed[0]["stop_price"] == "95"


def test_a_stop_market_buy_locks_its_budget_and_buys_when_the_price_rises(make_trader, market):
    owner, mover, other = make_trader(), make_trader(), make_trader()
    trade_at(mover, other, market, "100")
    placed = place(owner, symbol=market, side="buy", type="stop_market", quantity="0.1",
                   stop_price="105")["order"]  # fmt: skip
    assert (placed["status"], placed["price"]) == ("pending", None)
    assert balances(owner)["USDT"] == ("9988.975", "11.025")  # 0.1 x 105 + 5%
    place(mover, symbol=market, side="sell", price="106", quantity="0.1")
    trade_at(mover, other, market, "105")
    done = order_of(owner, placed["id"])
    assert (done["status"], done["average_price"]) == ("filled", "106")
    assert balances(owner)["USDT"] == ("9989.4", "0")  # 10.6 paid, the rest unlocked


@pytest.mark.parametrize(
    ("order", "status", "code"),
    [
        ({"type": "stop_limit", "price": "94"}, 400, "invalid_input"),  # no stop price
        ({"type": "stop_market"}, 400, "invalid_input"),
        ({"type": "stop_limit", "stop_price": "95"}, 400, "invalid_input"),  # no price
        ({"type": "limit", "price": "94", "stop_price": "95"}, 400, "invalid_input"),
        ({"type": "stop_limit", "price": "94", "stop_price": "95.001"}, 400, "invalid_stop_price"),
        ({"type": "stop_limit", "price": "94", "stop_price": "-1"}, 400, "invalid_input"),
        ({"type": "stop_limit", "price": "94", "stop_price": "1e30"}, 400, "invalid_input"),
        ({"type": "stop_market", "stop_price": "95", "post_only": True}, 400, "invalid_input"),
        ({"type": "stop_limit", "price": "94", "stop_price": "100"}, 422, "stop_would_trigger"),
        ({"type": "stop_limit", "price": "94", "stop_price": "101"}, 422, "stop_would_trigger"),
        ({"type": "stop_limit", "price": "94", "stop_price": "95", "quantity": "20"}, 422,
         "insufficient_balance"),
    ],
)  # fmt: skip
def test_stop_order_validation(make_trader, market, order, status, code):
    owner, mover, other = make_trader(), make_trader(), make_trader()
    trade_at(mover, other, market, "100")
    body = {"symbol": market, "side": "sell", "quantity": "0.1", **order}
    response = owner.post("/api/v1/orders", body, format="json")
    assert error(response, status) == code
    assert balances(owner)["BTC"] == ("1", "0")  # nothing half-applied


def test_an_oco_list_through_the_api(make_trader, market):
    owner, mover, other = make_trader(), make_trader(), make_trader()
    trade_at(mover, other, market, "100")
    response = owner.post(
        "/api/v1/order-lists",
        {"symbol": market, "side": "sell", "quantity": "0.4", "price": "110",
         "stop_price": "95", "stop_limit_price": "94"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    limit, stop = body["orders"]
    assert body["id"] == limit["id"] == limit["order_list_id"] == stop["order_list_id"]
    assert (limit["type"], limit["status"], limit["post_only"], limit["price"]) == (
        "limit", "new", True, "110",
    )  # fmt: skip
    assert (stop["type"], stop["status"], stop["stop_price"], stop["price"]) == (
        "stop_limit", "pending", "95", "94",
    )  # fmt: skip
    assert balances(owner)["BTC"] == ("0.6", "0.4")  # one lock for both
    assert owner.get(f"/api/v1/order-lists/{body['id']}").json() == body
    # a partial fill of the take-profit cancels the stop-loss
    place(other, symbol=market, side="buy", price="110", quantity="0.1")
    after = owner.get(f"/api/v1/order-lists/{body['id']}").json()
    assert [(o["status"], o["filled_quantity"]) for o in after["orders"]] == [
        ("partially_filled", "0.1"), ("cancelled", "0"),
    ]  # fmt: skip
    assert balances(owner)["BTC"] == ("0.6", "0.3")
    # DELETE cancels what is left
    cancelled = owner.delete(f"/api/v1/order-lists/{body['id']}").json()
    assert [o["status"] for o in cancelled["orders"]] == ["cancelled", "cancelled"]
    assert balances(owner)["BTC"] == ("0.9", "0")
    assert error(owner.delete(f"/api/v1/order-lists/{body['id']}"), 400) == "order_not_open"
    # another user's list, a plain order's id and an unknown id are all 404
    assert error(other.get(f"/api/v1/order-lists/{body['id']}"), 404) == "unknown_order_list"
    plain = place(owner, symbol=market, side="sell", price="120", quantity="0.1")["order"]
    assert error(owner.get(f"/api/v1/order-lists/{plain['id']}"), 404) == "unknown_order_list"
    assert error(owner.get("/api/v1/order-lists/999999999"), 404) == "unknown_order_list"


def test_an_oco_stop_trigger_cancels_the_limit_order(make_trader, market):
    owner, mover, other = make_trader(), make_trader(), make_trader()
    trade_at(mover, other, market, "100")
    body = owner.post(
        "/api/v1/order-lists",
        {"symbol": market, "side": "buy", "quantity": "0.1", "price": "90", "stop_price": "105"},
        format="json",
    ).json()  # a stop-market buy above, a limit buy below
    assert balances(owner)["USDT"] == ("9988.975", "11.025")  # the larger need: 0.1 x 105 + 5%
    place(mover, symbol=market, side="sell", price="106", quantity="0.1")
    trade_at(mover, other, market, "105")
    limit, stop = owner.get(f"/api/v1/order-lists/{body['id']}").json()["orders"]
    assert (limit["status"], stop["status"], stop["average_price"]) == (
        "cancelled", "filled", "106",
    )  # fmt: skip
    assert balances(owner)["USDT"] == ("9989.4", "0")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"price": "0", "stop_price": "95"}, 400, "invalid_input"),
        ({"price": "110", "stop_price": "95.001"}, 400, "invalid_stop_price"),
        ({"price": "110.001", "stop_price": "95"}, 400, "invalid_price"),
        ({"price": "110", "stop_price": "112"}, 422, "invalid_stop_price"),  # above the limit
        ({"price": "110", "stop_price": "100"}, 422, "stop_would_trigger"),
        ({"price": "99", "stop_price": "95"}, 422, "post_only_would_take"),  # takes the bid
        ({"price": "110", "stop_price": "95", "quantity": "2"}, 422, "insufficient_balance"),
    ],
)
def test_oco_validation(make_trader, market, fields, status, code):
    owner, mover, other = make_trader(), make_trader(), make_trader()
    trade_at(mover, other, market, "100")
    place(other, symbol=market, side="buy", price="99", quantity="0.1")
    body = {"symbol": market, "side": "sell", "quantity": "0.1", **fields}
    assert error(owner.post("/api/v1/order-lists", body, format="json"), status) == code
    assert balances(owner)["BTC"] == ("1", "0")


def test_amend_through_patch(make_trader, market):
    owner, rival, taker = make_trader(), make_trader(), make_trader()
    first = place(owner, symbol=market, side="buy", price="100", quantity="0.3")["order"]
    place(rival, symbol=market, side="buy", price="100", quantity="0.3")
    # smaller: keeps its place (a sell of 0.1 fills it first)
    response = owner.patch(f"/api/v1/orders/{first['id']}", {"quantity": "0.2"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["quantity"], response.json()["status"]) == ("0.2", "new")
    assert balances(owner)["USDT"] == ("9980", "20")
    sold = place(taker, symbol=market, side="sell", price="100", quantity="0.1")["fills"]
    assert [f["order_id"] for f in owner.get("/api/v1/trades").json()["results"]] == [first["id"]]
    assert sold
    # larger: behind the rival now
    owner.patch(f"/api/v1/orders/{first['id']}", {"quantity": "0.3"}, format="json")
    place(taker, symbol=market, side="sell", price="100", quantity="0.1")
    assert order_of(owner, first["id"])["filled_quantity"] == "0.1"  # the rival's turn
    # a new price re-queues, the lock follows; one the balance cannot cover is refused
    moved = owner.patch(f"/api/v1/orders/{first['id']}", {"price": "90"}, format="json").json()
    assert moved["price"] == "90" and balances(owner)["USDT"] == ("9972", "18")
    refused = owner.patch(f"/api/v1/orders/{first['id']}", {"quantity": "200"}, format="json")
    assert error(refused, 422) == "insufficient_balance"
    assert order_of(owner, first["id"])["quantity"] == "0.3"
    # refusals
    patch = owner.patch
    assert error(patch(f"/api/v1/orders/{first['id']}", {}, format="json"), 400) == "invalid_input"
    below = patch(f"/api/v1/orders/{first['id']}", {"quantity": "0.1"}, format="json")
    assert error(below, 422) == "invalid_quantity"  # not above what filled
    assert below.json()["error"]["message"] == (
        "The new quantity must be above what has already filled."
    )
    assert error(patch(f"/api/v1/orders/{first['id']}", {"price": "90.001"}, format="json"),
                 400) == "invalid_price"  # fmt: skip
    assert error(rival.patch(f"/api/v1/orders/{first['id']}", {"quantity": "0.2"},
                             format="json"), 404) == "unknown_order"  # fmt: skip
    owner.delete(f"/api/v1/orders/{first['id']}")
    assert error(patch(f"/api/v1/orders/{first['id']}", {"quantity": "0.2"}, format="json"),
                 400) == "order_not_open"  # fmt: skip


def test_cancel_all_cancels_pending_stops_and_lists(make_trader, market):
    owner, mover, other = make_trader(), make_trader(), make_trader()
    trade_at(mover, other, market, "100")
    place(owner, symbol=market, side="sell", type="stop_limit", price="90", stop_price="95",
          quantity="0.2")  # fmt: skip
    owner.post("/api/v1/order-lists", {"symbol": market, "side": "sell", "quantity": "0.3",
               "price": "110", "stop_price": "92"}, format="json")  # fmt: skip
    assert balances(owner)["BTC"] == ("0.5", "0.5")
    response = owner.delete(f"/api/v1/orders?symbol={market}")
    assert sorted(o["type"] for o in response.json()) == ["limit", "stop_limit", "stop_market"]
    assert balances(owner)["BTC"] == ("1", "0")
    assert owner.get("/api/v1/orders").json()["results"] == []
