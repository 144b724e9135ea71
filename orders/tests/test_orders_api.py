"""The trading API end to end: HTTP in, engine worker process, read model out."""

from __future__ import annotations

import pytest

from orders.tests.helpers import balances, place

pytestmark = pytest.mark.django_db


def test_sign_up_credits_demo_funds(make_trader):
    trader = make_trader()
    assert balances(trader) == {
        "BTC": ("1", "0"),
        "ETH": ("10", "0"),
        "USDT": ("10000", "0"),
    }


def test_crossing_orders_fill_with_exact_fees_and_balances(make_trader, market):
    seller, buyer = make_trader(), make_trader()
    resting = place(seller, symbol=market, side="sell", price="30000", quantity="0.1")
    assert resting["order"]["status"] == "new"
    assert resting["fills"] == []
    assert balances(seller)["BTC"] == ("0.9", "0.1")

    # The buyer bids above the ask: it trades at the maker's price, 30000.
    taken = place(buyer, symbol=market, side="buy", price="31000", quantity="0.1")
    order, fills = taken["order"], taken["fills"]
    assert order["status"] == "filled"
    assert order["filled_quantity"] == "0.1"
    assert order["average_price"] == "30000"
    assert [(f["price"], f["quantity"], f["role"], f["fee"], f["fee_asset"]) for f in fills] == [
        ("30000", "0.1", "taker", "0.0002", "BTC")
    ]
    # Taker fee 20 bps of the 0.1 BTC received; maker fee 10 bps of the 3000 USDT received.
    assert balances(buyer) == {"BTC": ("1.0998", "0"), "ETH": ("10", "0"), "USDT": ("7000", "0")}
    assert balances(seller) == {"BTC": ("0.9", "0"), "ETH": ("10", "0"), "USDT": ("12997", "0")}

    maker_order = seller.get(f"/api/v1/orders/{resting['order']['id']}").json()
    assert maker_order["status"] == "filled"
    maker_fills = seller.get("/api/v1/trades").json()["results"]
    assert [(f["role"], f["side"], f["fee"], f["fee_asset"]) for f in maker_fills] == [
        ("maker", "sell", "3", "USDT")
    ]
    assert maker_fills[0]["trade_id"] == fills[0]["trade_id"]


def test_partial_fill_leaves_the_rest_on_the_book(make_trader, market):
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="2000", quantity="0.5")
    taken = place(buyer, symbol=market, side="buy", price="2000", quantity="2")
    assert taken["order"]["status"] == "partially_filled"
    assert taken["order"]["filled_quantity"] == "0.5"
    # 1000 USDT paid for the 0.5 BTC filled; 1.5 BTC still bid at 2000: 3000 USDT locked.
    assert balances(buyer)["USDT"] == ("6000", "3000")
    open_orders = buyer.get(f"/api/v1/orders?status=open&symbol={market}").json()["results"]
    assert [o["id"] for o in open_orders] == [taken["order"]["id"]]


def test_cancel_returns_the_order_cancelled_and_unlocks_funds(make_trader):
    trader = make_trader()
    order = place(trader, side="buy", price="100", quantity="1")["order"]
    assert balances(trader)["USDT"] == ("9900", "100")
    response = trader.delete(f"/api/v1/orders/{order['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert balances(trader)["USDT"] == ("10000", "0")
    assert trader.get("/api/v1/orders?status=open").json()["results"] == []
    closed = trader.get("/api/v1/orders?status=closed").json()["results"]
    assert [(o["id"], o["status"]) for o in closed] == [(order["id"], "cancelled")]


def test_cancel_all_in_one_market(make_trader):
    trader = make_trader()
    place(trader, side="buy", price="100", quantity="1")
    place(trader, side="buy", price="101", quantity="1")
    eth = place(trader, symbol="ETH_USDT", side="buy", price="100", quantity="1")["order"]
    response = trader.delete("/api/v1/orders?symbol=BTC_USDT")
    assert response.status_code == 200
    assert sorted(o["status"] for o in response.json()) == ["cancelled", "cancelled"]
    assert [o["id"] for o in trader.get("/api/v1/orders").json()["results"]] == [eth["id"]]


def test_ioc_remainder_expires(make_trader, market):
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="25000", quantity="0.01")
    taken = place(
        buyer, symbol=market, side="buy", price="25000", quantity="0.05", time_in_force="IOC"
    )
    assert taken["order"]["status"] == "expired"
    assert taken["order"]["filled_quantity"] == "0.01"
    assert balances(buyer)["USDT"] == ("9750", "0")


def test_market_order_takes_best_prices(make_trader, market):
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="1000", quantity="0.4")
    place(seller, symbol=market, side="sell", price="1001", quantity="0.4")
    taken = place(buyer, symbol=market, type="market", side="buy", quantity="0.6")
    assert taken["order"]["status"] == "filled"
    assert [(f["price"], f["quantity"]) for f in taken["fills"]] == [
        ("1000", "0.4"),
        ("1001", "0.2"),
    ]
    # (400 + 200.2) / 0.6, to the quote asset's 8 decimals
    assert taken["order"]["average_price"] == "1000.33333333"
    assert balances(buyer)["USDT"] == ("9399.8", "0")


def test_depth_reflects_the_book_at_once(make_trader, client, market):
    trader = make_trader()
    place(trader, symbol=market, side="buy", price="10.5", quantity="2")
    place(trader, symbol=market, side="buy", price="10.5", quantity="1")
    place(trader, symbol=market, side="buy", price="11", quantity="1")
    place(trader, symbol=market, side="sell", price="12.25", quantity="0.5")
    depth = client.get(f"/api/v1/markets/{market}/depth").json()
    assert depth["bids"] == [["11", "1"], ["10.5", "3"]]
    assert depth["asks"] == [["12.25", "0.5"]]
    assert depth["sequence"] == 4
    assert client.get(f"/api/v1/markets/{market}/depth?limit=1").json()["bids"] == [["11", "1"]]


def test_lookup_by_client_order_id(make_trader):
    trader = make_trader()
    order = place(trader, side="buy", price="100", quantity="1", client_order_id="my-1")["order"]
    found = trader.get("/api/v1/orders?client_order_id=my-1").json()["results"]
    assert [o["id"] for o in found] == [order["id"]]


def test_markets_list_the_demo_markets(client, engine):
    markets = {m["symbol"]: m for m in client.get("/api/v1/markets").json()}
    assert {"BTC_USDT", "ETH_USDT"} <= set(markets)
    btc = markets["BTC_USDT"]
    assert (btc["base"], btc["quote"], btc["tick_size"], btc["lot_size"]) == (
        "BTC",
        "USDT",
        "0.01",
        "0.00001",
    )
    assert btc["status"] == "trading"
