"""/api/v3 in-process against the real engine worker, PostgreSQL and Redis (the suite's
``engine``, ``market`` and ``make_trader`` fixtures, each trader with an API key): every
order type and reply type of POST order, the cancels and reads, and every refusal in
Binance's shape and code."""

from __future__ import annotations

import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from apikeys.services import api_key_create
from binance_api.symbols import to_binance
from binance_api.tests.signing import FORM, Signed, sign

pytestmark = pytest.mark.django_db


def post(client: Signed | APIClient, path: str, **params: str):
    if isinstance(client, Signed):
        return client.call("POST", path, params)
    return client.post(f"/api/v3/{path}", urlencode(params), content_type=FORM)


def delete(client: Signed, path: str, **params: str):
    return client.call("DELETE", path, params)


def get(client: Signed | APIClient, path: str, **params: str):
    if isinstance(client, Signed):
        return client.call("GET", path, params)
    return client.get(f"/api/v3/{path}", params)


def refused(response, code: int, status: int = 400) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "msg"} and body["code"] == code, body
    return body["msg"]


@pytest.fixture
def make_signed(make_trader):
    """A new trader (demo funds) with an API key of ``scopes``, as a signing client."""
    from django.contrib.auth import get_user_model

    def make(scopes: tuple[str, ...] = ("read", "trade")) -> Signed:
        user = get_user_model().objects.get(pk=make_trader().user_id)
        key, secret = api_key_create(user=user, label="test", scopes=scopes)
        return Signed(key.api_key, secret, user.pk)

    return make


@pytest.fixture
def symbol(market) -> str:
    return to_binance(market)


def order(client, symbol: str, side: str, price: str, quantity: str, **extra: str):
    params = {"timeInForce": "GTC", **extra}
    response = post(
        client, "order", symbol=symbol, side=side, type="LIMIT", price=price,
        quantity=quantity, **params,
    )  # fmt: skip
    assert response.status_code == 200, response.content
    return response.json()


# -- POST order ---------------------------------------------------------------------------


def test_limit_order_full_reply_with_fills_and_fees(make_signed, symbol):
    seller, buyer = make_signed(), make_signed()
    resting = order(seller, symbol, "SELL", "100.5", "0.02", newClientOrderId="maker-1")
    assert resting["status"] == "NEW" and resting["clientOrderId"] == "maker-1"
    assert resting["fills"] == [] and resting["type"] == "LIMIT"
    taken = order(buyer, symbol, "BUY", "101", "0.01")
    assert taken["status"] == "FILLED" and taken["executedQty"] == "0.01"
    assert taken["cummulativeQuoteQty"] == "1.005"
    (fill,) = taken["fills"]
    assert fill == {
        "price": "100.5",
        "qty": "0.01",
        "commission": "0.00002",  # 20 bps of the 0.01 BTC received
        "commissionAsset": "BTC",
        "tradeId": fill["tradeId"],
    }
    assert len(taken["clientOrderId"]) == 22  # generated, as Binance does when none is sent
    maker = get(seller, "order", symbol=symbol, origClientOrderId="maker-1").json()
    assert (maker["status"], maker["executedQty"], maker["isWorking"]) == (
        "PARTIALLY_FILLED", "0.01", True,
    )  # fmt: skip


def test_reply_types_ack_result_full(make_signed, symbol):
    trader = make_signed()
    ack = order(trader, symbol, "BUY", "10", "0.2", newOrderRespType="ACK")
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = order(trader, symbol, "BUY", "10", "0.2", newOrderRespType="RESULT")
    assert "fills" not in result and result["origQty"] == "0.2" and result["price"] == "10"
    full = order(trader, symbol, "BUY", "10", "0.2", newOrderRespType="FULL")
    assert full["fills"] == []
    refused(
        post(trader, "order", symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
             price="10", quantity="0.2", newOrderRespType="SOME"),
        -1136,
    )  # fmt: skip


def test_ioc_and_fok(make_signed, symbol):
    seller, buyer = make_signed(), make_signed()
    order(seller, symbol, "SELL", "50", "0.1")
    ioc = order(buyer, symbol, "BUY", "50", "0.3", timeInForce="IOC")
    assert (ioc["status"], ioc["executedQty"], ioc["timeInForce"]) == ("EXPIRED", "0.1", "IOC")
    order(seller, symbol, "SELL", "50", "0.1")
    response = post(
        buyer, "order", symbol=symbol, side="BUY", type="LIMIT", timeInForce="FOK",
        price="50", quantity="0.3",
    )  # fmt: skip
    assert "FOK" in refused(response, -2010)
    fok = order(buyer, symbol, "BUY", "50", "0.1", timeInForce="FOK")
    assert fok["status"] == "FILLED"


def test_limit_maker_rests_or_is_refused_when_it_would_take(make_signed, symbol):
    seller, buyer = make_signed(), make_signed()
    order(seller, symbol, "SELL", "100", "0.1")
    maker = post(
        buyer, "order", symbol=symbol, side="BUY", type="LIMIT_MAKER", price="99", quantity="0.1"
    )
    body = maker.json()
    assert maker.status_code == 200 and set(body) >= {"orderId", "transactTime"}
    assert "status" not in body  # LIMIT_MAKER answers ACK by default
    assert get(buyer, "order", symbol=symbol, orderId=body["orderId"]).json()["type"] == (
        "LIMIT_MAKER"
    )
    taking = post(
        buyer, "order", symbol=symbol, side="BUY", type="LIMIT_MAKER", price="100",
        quantity="0.1",
    )  # fmt: skip
    assert refused(taking, -2010) == "Order would immediately match and take."
    with_tif = post(
        buyer, "order", symbol=symbol, side="BUY", type="LIMIT_MAKER", price="90",
        quantity="0.1", timeInForce="GTC",
    )  # fmt: skip
    refused(with_tif, -1106)


def test_market_by_quantity_and_by_quote_order_qty(make_signed, symbol):
    seller, buyer = make_signed(), make_signed()
    order(seller, symbol, "SELL", "100", "0.1")
    order(seller, symbol, "SELL", "110", "0.1")
    by_quantity = post(buyer, "order", symbol=symbol, side="BUY", type="MARKET", quantity="0.05")
    assert by_quantity.json()["cummulativeQuoteQty"] == "5"
    assert by_quantity.json()["price"] == "0"
    # 15.5 USDT: the rest of the 100 level (0.05 for 5) and 10.5 / 110 = 0.09545.. -> 0.09545
    by_quote = post(
        buyer, "order", symbol=symbol, side="BUY", type="MARKET", quoteOrderQty="15.5"
    ).json()
    assert by_quote["origQuoteOrderQty"] == "15.5"
    assert by_quote["executedQty"] == "0.14545"
    assert by_quote["cummulativeQuoteQty"] == "15.4995"
    assert Decimal(by_quote["cummulativeQuoteQty"]) <= Decimal("15.5")
    # a sell by quote amount walks the bids
    order(buyer, symbol, "BUY", "90", "1")
    sold = post(seller, "order", symbol=symbol, side="SELL", type="MARKET", quoteOrderQty="9")
    assert sold.json()["executedQty"] == "0.1" and sold.json()["cummulativeQuoteQty"] == "9"


def test_market_order_parameter_rules(make_signed, symbol):
    trader = make_signed()
    neither = post(trader, "order", symbol=symbol, side="BUY", type="MARKET")
    assert "quoteOrderQty" in refused(neither, -1102)
    both = post(
        trader, "order", symbol=symbol, side="BUY", type="MARKET", quantity="1",
        quoteOrderQty="1",
    )  # fmt: skip
    refused(both, -1106)
    priced = post(
        trader, "order", symbol=symbol, side="BUY", type="MARKET", quantity="1", price="1"
    )
    assert refused(priced, -1106) == "Parameter 'price' sent when not required."
    empty_book = post(trader, "order", symbol=symbol, side="BUY", type="MARKET", quoteOrderQty="10")
    refused(empty_book, -2010)


LIMIT = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "1", "quantity": "1"}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"quantity": None}, -1102),
        ({"price": None}, -1102),
        ({"timeInForce": None}, -1102),
        ({"side": "UP"}, -1117),
        ({"type": "STOP_LOSS"}, -1116),
        ({"timeInForce": "GTX"}, -1115),
        ({"price": "1e2"}, -1100),
        ({"price": "-1"}, -1100),
        ({"price": "NaN"}, -1100),
        ({"price": "\uff11"}, -1100),  # a fullwidth digit
        ({"quantity": "1" * 21}, -1100),
        ({"quantity": "9" * 20}, -2010),  # storable, above the market's maximum
        ({"quantity": "0." + "1" * 19}, -1111),
        ({"price": "1.001"}, -1013),  # off the tick
        ({"quantity": "0.000001"}, -1013),  # off the lot
        ({"price": "0"}, -1013),
        ({"stopPrice": "1"}, -1106),
        ({"newClientOrderId": "a/b"}, -1100),
        ({"newClientOrderId": "x" * 65}, -1100),
        ({"selfTradePreventionMode": "NONE"}, -1130),
    ],
)
def test_bad_order_parameters(make_signed, symbol, changes, code):
    params = {k: v for k, v in {**LIMIT, **changes}.items() if v is not None}
    refused(post(make_signed(), "order", symbol=symbol, **params), code)


def test_refused_orders_are_new_order_rejected(make_signed, symbol):
    trader = make_signed()
    poor = post(
        trader, "order", symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
        price="1000000", quantity="1",
    )  # fmt: skip
    assert refused(poor, -2010) == "Account has insufficient balance for requested action."
    small = post(
        trader, "order", symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
        price="0.01", quantity="1",
    )  # fmt: skip
    assert refused(small, -2010) == "Filter failure: NOTIONAL"  # min notional 1
    order(trader, symbol, "BUY", "10", "0.2", newClientOrderId="once")
    again = post(
        trader, "order", symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
        price="10", quantity="0.2", newClientOrderId="once",
    )  # fmt: skip
    assert refused(again, -2010) == "Duplicate order sent."


def test_unknown_symbol(make_signed):
    trader = make_signed()
    response = post(
        trader, "order", symbol="NOPEUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
        price="1", quantity="1",
    )  # fmt: skip
    assert refused(response, -1121) == "Invalid symbol."
    refused(get(APIClient(), "depth", symbol="btcusdt"), -1121)
    refused(get(APIClient(), "depth", symbol="BTC_USDT"), -1121)  # ours, not Binance's


# -- cancel and query ---------------------------------------------------------------------


def test_cancel_by_order_id_and_by_client_order_id(make_signed, symbol):
    trader = make_signed()
    first = order(trader, symbol, "BUY", "10", "0.2", newClientOrderId="c-1")
    order(trader, symbol, "BUY", "11", "0.2", newClientOrderId="c-2")
    cancelled = delete(trader, "order", symbol=symbol, orderId=str(first["orderId"])).json()
    assert cancelled["status"] == "CANCELED" and cancelled["origClientOrderId"] == "c-1"
    by_client = delete(
        trader, "order", symbol=symbol, origClientOrderId="c-2", newClientOrderId="cancel-2"
    ).json()
    assert (by_client["origClientOrderId"], by_client["clientOrderId"]) == ("c-2", "cancel-2")
    again = delete(trader, "order", symbol=symbol, orderId=str(first["orderId"]))
    assert refused(again, -2011) == "Unknown order sent."
    neither = delete(trader, "order", symbol=symbol)
    refused(neither, -1102)
    disagree = delete(
        trader, "order", symbol=symbol, orderId=str(first["orderId"]), origClientOrderId="c-2"
    )
    refused(disagree, -2011)


def test_another_users_order_is_unknown(make_signed, symbol, market):
    owner, other = make_signed(), make_signed()
    mine = order(owner, symbol, "BUY", "10", "0.2")
    order_id = str(mine["orderId"])
    assert refused(delete(other, "order", symbol=symbol, orderId=order_id), -2011) == (
        "Unknown order sent."
    )
    refused(get(other, "order", symbol=symbol, orderId=order_id), -2013)
    refused(get(owner, "order", symbol="BTCUSDT", orderId=order_id), -2013)  # not that market
    assert get(other, "openOrders", symbol=symbol).json() == []
    assert get(other, "allOrders", symbol=symbol).json() == []
    assert get(owner, "order", symbol=symbol, orderId=order_id).json()["status"] == "NEW"


def test_open_orders_cancel_all_and_history(make_signed, symbol):
    trader = make_signed()
    ids = [order(trader, symbol, "BUY", price, "0.2")["orderId"] for price in ("10", "11", "12")]
    listed = get(trader, "openOrders", symbol=symbol).json()
    assert [o["orderId"] for o in listed] == ids  # oldest first
    assert [o["orderId"] for o in get(trader, "openOrders").json()] == ids
    cancelled = delete(trader, "openOrders", symbol=symbol).json()
    assert sorted(o["orderId"] for o in cancelled) == ids
    assert {o["status"] for o in cancelled} == {"CANCELED"}
    assert get(trader, "openOrders", symbol=symbol).json() == []
    assert delete(trader, "openOrders", symbol=symbol).json() == []
    every = get(trader, "allOrders", symbol=symbol).json()
    assert [o["orderId"] for o in every] == ids
    assert [o["orderId"] for o in get(trader, "allOrders", symbol=symbol, limit="2").json()] == (
        ids[1:]
    )
    from_second = get(trader, "allOrders", symbol=symbol, orderId=str(ids[1]), limit="1").json()
    assert [o["orderId"] for o in from_second] == [ids[1]]
    refused(get(trader, "allOrders"), -1102)
    refused(get(trader, "allOrders", symbol=symbol, limit="0"), -1130)
    refused(get(trader, "allOrders", symbol=symbol, limit="1001"), -1130)


def test_my_trades_and_account(make_signed, symbol):
    seller, buyer = make_signed(), make_signed()
    sell = order(seller, symbol, "SELL", "100", "0.3")
    first = order(buyer, symbol, "BUY", "100", "0.1")
    second = order(buyer, symbol, "BUY", "100", "0.2")
    trades = get(buyer, "myTrades", symbol=symbol).json()
    assert [t["orderId"] for t in trades] == [first["orderId"], second["orderId"]]
    assert trades[0] == {
        "symbol": symbol,
        "id": first["fills"][0]["tradeId"],
        "orderId": first["orderId"],
        "orderListId": -1,
        "price": "100",
        "qty": "0.1",
        "quoteQty": "10",
        "commission": "0.0002",
        "commissionAsset": "BTC",
        "time": trades[0]["time"],
        "isBuyer": True,
        "isMaker": False,
        "isBestMatch": True,
    }
    maker_side = get(seller, "myTrades", symbol=symbol, orderId=str(sell["orderId"])).json()
    assert [(t["isMaker"], t["isBuyer"], t["commissionAsset"]) for t in maker_side] == [
        (True, False, "USDT"),
        (True, False, "USDT"),
    ]
    assert [t["commission"] for t in maker_side] == ["0.01", "0.02"]  # 10 bps of the USDT
    since = get(buyer, "myTrades", symbol=symbol, fromId=str(trades[1]["id"])).json()
    assert [t["id"] for t in since] == [trades[1]["id"]]
    refused(get(buyer, "myTrades", symbol=symbol, fromId="1", startTime="1"), -1128)
    account = get(buyer, "account").json()
    balances = {b["asset"]: b for b in account["balances"]}
    assert balances["BTC"] == {"asset": "BTC", "free": "1.2994", "locked": "0"}
    assert balances["USDT"] == {"asset": "USDT", "free": "9970", "locked": "0"}
    assert account["accountType"] == "SPOT" and account["canTrade"] is True
    assert account["uid"] == buyer.user_id
    nonzero = get(buyer, "account", omitZeroBalances="true").json()["balances"]
    assert all(Decimal(b["free"]) or Decimal(b["locked"]) for b in nonzero)


# -- errors everywhere under /api/v3, and only there ---------------------------------------


def test_errors_before_any_view_are_binances_too(make_signed):
    anonymous = APIClient()
    assert refused(anonymous.get("/api/v3/nothing"), -1020, status=404) == "Not found."
    nul = anonymous.get("/api/v3/depth?symbol=BTC%00USDT")
    assert refused(nul, -1100) == "Illegal characters found in parameter 'symbol'."
    assert refused(anonymous.get("/api/v3/account"), -2014, status=401)
    token = APIClient()  # a login token is not an API key here
    token.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    refused(token.get("/api/v3/account"), -2014, status=401)
    refused(anonymous.post("/api/v3/ping"), -1020, status=405)
    trader = make_signed()
    query = urlencode({"timestamp": str(time.time_ns() // 1_000_000)})
    body = '{"symbol": "BTCUSDT"}'  # signed with the query: Binance's totalParams
    json_body = trader.client.post(
        f"/api/v3/order?{query}&signature={sign(trader.secret, query + body)}",
        body,
        content_type="application/json",
        HTTP_X_MBX_APIKEY=trader.key,
    )
    refused(json_body, -1020, status=415)
    large = anonymous.post("/api/v3/order", "x=" + "1" * 70_000, content_type=FORM)
    refused(large, -1101, status=413)
    twice = anonymous.get("/api/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT")
    refused(twice, -1101)
    # /api/v1 keeps its own shape
    v1 = anonymous.get("/api/v1/markets/NOPE/depth")
    assert v1.status_code == 404 and v1.json()["error"]["code"] == "unknown_market"
    v1_nul = anonymous.get("/api/v1/markets?x=%00")
    assert v1_nul.json()["error"]["code"] == "invalid_input"


def test_public_parameters(engine):
    client = APIClient()
    refused(client.get("/api/v3/depth"), -1102)
    refused(client.get("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5001"}), -1130)
    refused(client.get("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1M"}), -1120)
    refused(
        client.get("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "timeZone": "8"}),
        -1130,
    )
    refused(client.get("/api/v3/ticker/price", {"symbols": "BTCUSDT"}), -1100)
    refused(client.get("/api/v3/ticker/price", {"symbols": '["BTCUSDT","BTCUSDT"]'}), -1151)
    refused(
        client.get("/api/v3/ticker/price", {"symbol": "BTCUSDT", "symbols": '["ETHUSDT"]'}), -1128
    )
    refused(client.get("/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "type": "X"}), -1139)
    refused(client.get("/api/v3/exchangeInfo", {"symbolStatus": "OPEN"}), -1122)
    prices = client.get("/api/v3/ticker/price", {"symbols": '["ETHUSDT","BTCUSDT"]'}).json()
    assert [p["symbol"] for p in prices] == ["ETHUSDT", "BTCUSDT"]
    mini = client.get("/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "type": "MINI"}).json()
    assert "bidPrice" not in mini and mini["symbol"] == "BTCUSDT"
    info = client.get("/api/v3/exchangeInfo", {"symbolStatus": "TRADING"}).json()
    assert {"BTCUSDT", "ETHUSDT"} <= {s["symbol"] for s in info["symbols"]}


# -- signed requests refused --------------------------------------------------------------


def test_signed_request_refusals(make_signed, symbol):
    from apikeys.services import api_key_revoke

    trader = make_signed()
    assert trader.call("GET", "openOrders", {}).status_code == 200
    bad = trader.call("GET", "openOrders", {}, secret="not-the-secret")
    assert refused(bad, -1022) == "Signature for this request is not valid."
    old = trader.call("GET", "openOrders", {}, timestamp=time.time_ns() // 1_000_000 - 60_000)
    assert refused(old, -1021) == "Timestamp for this request is outside of the recvWindow."
    window = trader.call(
        "GET", "openOrders", {}, timestamp=time.time_ns() // 1_000_000 - 50_000,
        recvWindow="60000",
    )  # fmt: skip
    assert window.status_code == 200  # inside a window of a minute
    unsigned = trader.client.get(
        f"/api/v3/openOrders?symbol={symbol}", HTTP_X_MBX_APIKEY=trader.key
    )
    refused(unsigned, -1102)

    reader = make_signed(scopes=("read",))
    assert get(reader, "account").json()["canTrade"] is False
    placing = post(
        reader, "order", symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
        price="10", quantity="0.2",
    )  # fmt: skip
    assert refused(placing, -2015, status=401) == "Invalid API-key, IP, or permissions for action."
    refused(delete(reader, "openOrders", symbol=symbol), -2015, status=401)
    writer = make_signed(scopes=("trade",))
    refused(get(writer, "openOrders"), -2015, status=401)
    order(writer, symbol, "BUY", "10", "0.2")  # trade alone may place

    from apikeys.models import ApiKey

    key = ApiKey.objects.get(api_key=trader.key)
    api_key_revoke(user_id=trader.user_id, key_id=key.pk)
    refused(trader.call("GET", "openOrders", {}), -2015, status=401)
