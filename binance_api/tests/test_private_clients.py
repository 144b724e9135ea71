"""The SIGNED part of /api/v3 driven by the real clients with API keys, on a live exchange
(binance_api/tests/stack.py): ccxt's ``binance`` class and python-binance's ``Client``
place, query, cancel and list orders, read fills and balances, and two ccxt clients trade
with each other; each refusal comes back as the client's own exception with Binance's
code."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from binance.exceptions import BinanceAPIException

from binance_api.tests.stack import BinanceStack
from binance_api.tests.test_public_clients import binance_client, ccxt_client


def balances(info: dict) -> dict[str, tuple[Decimal, Decimal]]:
    """An account body's balances, exactly: asset -> (free, locked)."""
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in info["balances"]}


@pytest.fixture(scope="module")
def book(live: BinanceStack) -> dict:
    """A market of its own (fees 10 / 20 bps) and two traders with keys of both scopes:
    the seller holds 5 of the base asset."""
    symbol, binance, unified = live.add_market()
    base = symbol.split("_")[0]
    seller, buyer = live.register(), live.register()
    live.deposit(seller["username"], base, "5")
    return {
        "symbol": symbol,
        "binance": binance,
        "unified": unified,
        "base": base,
        "seller": {**seller, "key": live.api_key(seller["token"])},
        "buyer": {**buyer, "key": live.api_key(buyer["token"])},
    }


def ccxt_of(live: BinanceStack, trader: dict) -> ccxt.binance:
    exchange = ccxt_client(live, apiKey=trader["key"]["api_key"], secret=trader["key"]["secret"])
    exchange.load_markets()
    return exchange


def test_ccxt_orders_fills_and_balances(live, book):
    seller, buyer = ccxt_of(live, book["seller"]), ccxt_of(live, book["buyer"])
    unified = book["unified"]

    resting = seller.create_order(unified, "limit", "sell", 0.3, 100)
    assert resting["status"] == "open" and resting["type"] == "limit"
    assert resting["clientOrderId"].startswith("x-")  # ccxt's own id, kept
    maker = seller.create_order(unified, "limit", "sell", 0.2, 120, params={"postOnly": True})
    assert maker["postOnly"] is True and maker["info"]["type"] == "LIMIT_MAKER"
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        buyer.create_order(unified, "limit", "buy", 0.1, 100, params={"postOnly": True})

    bought = buyer.create_order(unified, "market", "buy", 0.1)
    assert (bought["status"], bought["filled"], bought["cost"]) == ("closed", 0.1, 10.0)
    assert [(f["cost"], f["currency"]) for f in bought["fees"]] == [(0.0002, book["base"])]

    fetched = seller.fetch_order(resting["id"], unified)
    assert (fetched["status"], fetched["filled"], fetched["remaining"]) == ("open", 0.1, 0.2)
    opened = seller.fetch_open_orders(unified)
    assert sorted(o["id"] for o in opened) == sorted([resting["id"], maker["id"]])

    cancelled = seller.cancel_order(maker["id"], unified)
    assert cancelled["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        seller.cancel_order(maker["id"], unified)
    with pytest.raises(ccxt.OrderNotFound):
        buyer.fetch_order(resting["id"], unified)  # the seller's

    by_cost = buyer.create_market_buy_order_with_cost(unified, 10)  # quoteOrderQty
    assert by_cost["filled"] == 0.1 and by_cost["cost"] == 10.0

    rest = seller.cancel_all_orders(unified)
    assert [o["id"] for o in rest] == [resting["id"]]
    assert seller.fetch_open_orders(unified) == []

    fills = buyer.fetch_my_trades(unified)
    assert [(f["side"], f["price"], f["amount"], f["takerOrMaker"]) for f in fills] == [
        ("buy", 100.0, 0.1, "taker"),
        ("buy", 100.0, 0.1, "taker"),
    ]
    assert [f["fee"]["currency"] for f in fills] == [book["base"]] * 2
    assert [f["info"]["commission"] for f in fills] == ["0.0002", "0.0002"]

    held = balances(buyer.fetch_balance()["info"])
    assert held[book["base"]] == (Decimal("0.1996"), Decimal(0))
    assert held["USDT"] == (Decimal("9980"), Decimal(0))
    ccxt_balance = buyer.fetch_balance()
    assert ccxt_balance[book["base"]]["free"] == pytest.approx(0.1996)


def test_two_ccxt_clients_trade_with_exact_balances_and_fees(live):
    symbol, binance, unified = live.add_market(fees=(10, 20))
    base = symbol.split("_")[0]
    alice, bob = live.register(), live.register()
    live.deposit(alice["username"], base, "2")
    a = ccxt_of(live, {"key": live.api_key(alice["token"])})
    b = ccxt_of(live, {"key": live.api_key(bob["token"])})

    a.create_order(unified, "limit", "sell", 0.5, 2000.01)
    a.create_order(unified, "limit", "sell", 0.25, 2100)
    taken = b.create_order(unified, "limit", "buy", 0.6, 2100)  # both levels, taker
    assert taken["filled"] == 0.6 and taken["status"] == "closed"
    b.create_order(unified, "limit", "buy", 1, 1999.99)  # rests: 1999.99 USDT locked
    a.create_order(unified, "market", "sell", 0.2)  # into bob's bid, alice taker

    alice_held, bob_held = balances(a.private_get_account()), balances(b.private_get_account())
    # alice sold 0.5 @ 2000.01 and 0.1 @ 2100 as maker (10 bps of the USDT received),
    # then 0.2 @ 1999.99 as taker (20 bps)
    maker_usdt = Decimal("0.5") * Decimal("2000.01") + Decimal("0.1") * Decimal("2100")
    taker_usdt = Decimal("0.2") * Decimal("1999.99")
    alice_usdt = 10000 + maker_usdt * Decimal("0.999") + taker_usdt * Decimal("0.998")
    assert alice_held["USDT"] == (alice_usdt, Decimal(0))
    assert alice_held[base] == (Decimal("1.05"), Decimal("0.15"))  # 0.15 still offered
    # bob bought 0.6 as taker (20 bps of the base), then 0.2 as maker (10 bps)
    bob_base = Decimal("0.6") * Decimal("0.998") + Decimal("0.2") * Decimal("0.999")
    assert bob_held[base] == (bob_base, Decimal(0))
    spent = maker_usdt + taker_usdt
    locked = Decimal("0.8") * Decimal("1999.99")  # the 0.8 left of bob's bid
    assert bob_held["USDT"] == (10000 - spent - locked, locked)

    alice_fills = a.fetch_my_trades(unified)
    assert [(f["takerOrMaker"], f["info"]["commission"]) for f in alice_fills] == [
        ("maker", "1.000005"),
        ("maker", "0.21"),
        ("taker", "0.799996"),
    ]
    assert {f["fee"]["currency"] for f in alice_fills} == {"USDT"}
    bob_fills = b.fetch_my_trades(unified)
    assert [(f["takerOrMaker"], f["info"]["commission"]) for f in bob_fills] == [
        ("taker", "0.001"),
        ("taker", "0.0002"),
        ("maker", "0.0002"),
    ]
    assert {f["fee"]["currency"] for f in bob_fills} == {base}
    assert [f["id"] for f in alice_fills] == [f["id"] for f in bob_fills]  # the same trades


def test_python_binance_core_set(live, book):
    seller_key, buyer_key = book["seller"]["key"], book["buyer"]["key"]
    seller = binance_client(live, seller_key["api_key"], seller_key["secret"])
    buyer = binance_client(live, buyer_key["api_key"], buyer_key["secret"])
    binance = book["binance"]

    placed = seller.order_limit_sell(symbol=binance, quantity="0.4", price="150")
    assert placed["status"] == "NEW" and placed["clientOrderId"].startswith("x-")
    assert seller.get_order(symbol=binance, orderId=placed["orderId"])["origQty"] == "0.4"
    assert (
        seller.get_order(symbol=binance, origClientOrderId=placed["clientOrderId"])["orderId"]
        == placed["orderId"]
    )
    bought = buyer.order_market_buy(symbol=binance, quantity="0.1")
    assert (bought["status"], bought["cummulativeQuoteQty"]) == ("FILLED", "15")
    assert bought["fills"][0]["commission"] == "0.0002"
    by_quote = buyer.create_order(symbol=binance, side="BUY", type="MARKET", quoteOrderQty="15")
    assert (by_quote["executedQty"], by_quote["origQuoteOrderQty"]) == ("0.1", "15")
    assert [o["orderId"] for o in seller.get_open_orders(symbol=binance)] == [placed["orderId"]]
    second = seller.order_limit_sell(symbol=binance, quantity="0.1", price="160")
    cancelled = seller.cancel_order(symbol=binance, orderId=second["orderId"])
    assert cancelled["status"] == "CANCELED"
    rest = seller.cancel_all_open_orders(symbol=binance)
    assert [o["orderId"] for o in rest] == [placed["orderId"]]
    history = seller.get_all_orders(symbol=binance)
    assert placed["orderId"] in [o["orderId"] for o in history]
    assert [o["status"] for o in history if o["orderId"] == second["orderId"]] == ["CANCELED"]
    trades = buyer.get_my_trades(symbol=binance)
    assert [(t["price"], t["qty"], t["isBuyer"]) for t in trades[-2:]] == [
        ("150", "0.1", True),
        ("150", "0.1", True),
    ]
    account = buyer.get_account()
    assert account["canTrade"] is True
    usdt = buyer.get_asset_balance(asset="USDT")
    assert (Decimal(usdt["free"]), Decimal(usdt["locked"])) == balances(account)["USDT"]


# -- refusals -----------------------------------------------------------------------------


def test_refusals_through_the_clients(live, book):
    binance, unified = book["binance"], book["unified"]
    owner = book["buyer"]
    key = owner["key"]

    wrong_secret = ccxt_client(live, apiKey=key["api_key"], secret="0" * 64)
    wrong_secret.load_markets()
    with pytest.raises(ccxt.AuthenticationError):  # -1022
        wrong_secret.fetch_balance()

    late = binance_client(live, key["api_key"], key["secret"])
    late.timestamp_offset = -120_000  # two minutes old: outside the 5 s window
    with pytest.raises(BinanceAPIException) as raised:
        late.get_account()
    assert (raised.value.status_code, raised.value.code) == (400, -1021)

    client = binance_client(live, key["api_key"], "not-the-secret")
    with pytest.raises(BinanceAPIException) as raised:
        client.get_open_orders(symbol=binance)
    assert raised.value.code == -1022

    read_only = live.api_key(owner["token"], scopes=("read",))
    reader = binance_client(live, read_only["api_key"], read_only["secret"])
    assert reader.get_account()["canTrade"] is False
    with pytest.raises(BinanceAPIException) as raised:
        reader.order_limit_buy(symbol=binance, quantity="0.1", price="10")
    assert (raised.value.status_code, raised.value.code) == (401, -2015)

    revoked = live.api_key(owner["token"])
    revoked_client = binance_client(live, revoked["api_key"], revoked["secret"])
    assert revoked_client.get_open_orders(symbol=binance) == []
    live.revoke(owner["token"], revoked["id"])
    with pytest.raises(BinanceAPIException) as raised:
        revoked_client.get_open_orders(symbol=binance)
    assert (raised.value.status_code, raised.value.code) == (401, -2015)

    trader = binance_client(live, key["api_key"], key["secret"])
    theirs = binance_client(
        live, book["seller"]["key"]["api_key"], book["seller"]["key"]["secret"]
    ).order_limit_sell(symbol=binance, quantity="0.1", price="500")
    with pytest.raises(BinanceAPIException) as raised:
        trader.cancel_order(symbol=binance, orderId=theirs["orderId"])
    assert (raised.value.code, raised.value.message) == (-2011, "Unknown order sent.")
    with pytest.raises(BinanceAPIException) as raised:
        trader.get_order(symbol=binance, orderId=theirs["orderId"])
    assert raised.value.code == -2013
    with pytest.raises(BinanceAPIException) as raised:
        trader.order_limit_buy(symbol="NOSUCHUSDT", quantity="0.1", price="10")
    assert raised.value.code == -1121
    with pytest.raises(BinanceAPIException) as raised:
        trader.order_limit_buy(symbol=binance, quantity="0.1x", price="10")
    assert raised.value.code == -1100
    with pytest.raises(BinanceAPIException) as raised:
        trader.create_order(symbol=binance, side="BUY", type="LIMIT", quantity="0.1")
    assert raised.value.code == -1102
    with pytest.raises(BinanceAPIException) as raised:
        trader.order_limit_buy(symbol=binance, quantity="100", price="100000")
    assert (raised.value.code, raised.value.message) == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    with pytest.raises(ccxt.InsufficientFunds):
        ccxt_of(live, owner).create_order(unified, "limit", "buy", 100, 100000)
    status, body = live.get("/api/v3/account")  # no key at all
    assert (status, body["code"]) == (401, -2014)
