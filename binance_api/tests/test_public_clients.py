"""The public part of /api/v3 driven by the real clients, ccxt's ``binance`` class and
python-binance's ``Client``, pointed at a live exchange (binance_api/tests/stack.py):
trades made through /api/v1, then read back through each client, value by value."""

from __future__ import annotations

import time
from decimal import Decimal

import ccxt
import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from binance_api.tests.stack import BinanceStack


def ccxt_client(live: BinanceStack, **config: object) -> ccxt.binance:
    """ccxt's Binance class on our /api/v3: spot only, no currencies or margin calls."""
    exchange = ccxt.binance(
        {
            "enableRateLimit": False,
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
                "defaultType": "spot",
            },
            **config,
        }
    )
    exchange.urls["api"]["public"] = f"{live.base}/api/v3"
    exchange.urls["api"]["private"] = f"{live.base}/api/v3"
    return exchange


def binance_client(live: BinanceStack, key: str | None = None, secret: str | None = None) -> Client:
    """python-binance's Client on our host (its API_URL; no ping at construction)."""
    client = Client(key, secret, ping=False)
    client.API_URL = f"{live.base}/api"
    return client


@pytest.fixture(scope="module")
def traded(live: BinanceStack) -> dict:
    """A market of its own with two trades and a resting order on each side:
    0.3 @ 100.5 and 0.1 @ 101 (a market buy of 0.4, taker buy), 0.1 @ 101 left on the
    ask, 0.5 @ 99.99 on the bid."""
    symbol, binance, unified = live.add_market()
    base = symbol.split("_")[0]
    seller, buyer = live.register(), live.register()
    live.deposit(seller["username"], base, "5")
    live.place(
        seller["token"], symbol=symbol, side="sell", type="limit", price="100.5", quantity="0.3"
    )
    live.place(
        seller["token"], symbol=symbol, side="sell", type="limit", price="101", quantity="0.2"
    )
    bought = live.place(buyer["token"], symbol=symbol, side="buy", type="market", quantity="0.4")
    live.place(
        buyer["token"], symbol=symbol, side="buy", type="limit", price="99.99", quantity="0.5"
    )
    live.wait(
        lambda: len(live.get(f"/api/v1/markets/{symbol}/trades")[1]) == 2,
        timeout=30,
        what="the trades in the time series",
    )
    return {
        "symbol": symbol,
        "binance": binance,
        "unified": unified,
        "base": base,
        "trade_ids": [f["trade_id"] for f in bought["fills"]],
    }


# -- ccxt ---------------------------------------------------------------------------------


def test_ccxt_load_markets_reads_the_market_and_its_filters(live, traded):
    exchange = ccxt_client(live)
    markets = exchange.load_markets()
    market = markets[traded["unified"]]
    assert market["id"] == traded["binance"]
    assert (market["base"], market["quote"], market["spot"], market["active"]) == (
        traded["base"], "USDT", True, True,
    )  # fmt: skip
    assert market["precision"]["price"] == 0.01
    assert market["precision"]["amount"] == 0.0001
    assert market["limits"]["amount"]["min"] == 0.0001
    assert market["limits"]["amount"]["max"] == 1_000_000
    assert market["limits"]["cost"]["min"] == 1
    assert market["limits"]["price"]["min"] == 0.01
    assert market["info"]["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET"]
    assert "BTC/USDT" in markets and markets["BTC/USDT"]["id"] == "BTCUSDT"


def test_ccxt_order_book_trades_candles_and_ticker(live, traded):
    exchange = ccxt_client(live)
    exchange.load_markets()
    unified = traded["unified"]

    book = exchange.fetch_order_book(unified)
    assert book["bids"] == [[99.99, 0.5]]
    assert book["asks"] == [[101.0, 0.1]]
    assert book["nonce"] > 0

    trades = exchange.fetch_trades(unified)
    assert [t["id"] for t in trades] == [str(i) for i in traded["trade_ids"]]
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
        (100.5, 0.3, "buy"),
        (101.0, 0.1, "buy"),
    ]
    assert [t["info"]["p"] for t in trades] == ["100.5", "101"]  # exact strings
    assert trades[0]["timestamp"] <= trades[1]["timestamp"] <= time.time() * 1000

    listed = exchange.fetch_trades(unified, params={"fetchTradesMethod": "publicGetTrades"})
    assert [(t["id"], t["info"]["quoteQty"]) for t in listed] == [
        (str(traded["trade_ids"][0]), "30.15"),
        (str(traded["trade_ids"][1]), "10.1"),
    ]

    candles = exchange.fetch_ohlcv(unified, "1m")
    assert len(candles) in (1, 2)  # the two trades may straddle a minute
    opened, closed = candles[0], candles[-1]
    assert opened[1] == 100.5 and closed[4] == 101.0
    assert sum(c[5] for c in candles) == pytest.approx(0.4)
    assert max(c[2] for c in candles) == 101.0 and min(c[3] for c in candles) == 100.5
    hourly = exchange.fetch_ohlcv(unified, "1h")
    assert [c[1:] for c in hourly][-1] == [100.5, 101.0, 100.5, 101.0, 0.4]

    ticker = exchange.fetch_ticker(unified)
    assert (ticker["last"], ticker["open"], ticker["high"], ticker["low"]) == (
        101.0, 100.5, 101.0, 100.5,
    )  # fmt: skip
    assert (ticker["bid"], ticker["bidVolume"], ticker["ask"], ticker["askVolume"]) == (
        99.99, 0.5, 101.0, 0.1,
    )  # fmt: skip
    assert ticker["info"]["volume"] == "0.4"
    assert ticker["info"]["quoteVolume"] == "40.25"
    assert ticker["info"]["weightedAvgPrice"] == "100.625"
    assert ticker["info"]["priceChange"] == "0.5"
    assert ticker["info"]["count"] == 2
    assert ticker["info"]["firstId"] == traded["trade_ids"][0]
    assert ticker["info"]["lastId"] == traded["trade_ids"][1]


def test_ccxt_unknown_symbol_is_binances_bad_symbol(live):
    exchange = ccxt_client(live)
    with pytest.raises(ccxt.BadSymbol):
        exchange.public_get_depth({"symbol": "NOSUCHUSDT"})
    with pytest.raises(ccxt.BadRequest):
        exchange.public_get_klines({"symbol": "BTCUSDT", "interval": "2m"})


# -- python-binance -----------------------------------------------------------------------


def test_python_binance_public_endpoints(live, traded):
    client = binance_client(live)
    binance = traded["binance"]
    assert client.ping() == {}
    assert abs(client.get_server_time()["serverTime"] - time.time() * 1000) < 5000

    info = client.get_symbol_info(binance)
    assert info["baseAsset"] == traded["base"] and info["quoteAsset"] == "USDT"
    filters = {f["filterType"]: f for f in info["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01"
    assert filters["LOT_SIZE"]["stepSize"] == "0.0001"
    assert filters["NOTIONAL"]["minNotional"] == "1"
    assert filters["MAX_NUM_ORDERS"]["maxNumOrders"] == 200

    book = client.get_order_book(symbol=binance, limit=5)
    assert book["bids"] == [["99.99", "0.5"]] and book["asks"] == [["101", "0.1"]]

    trades = client.get_recent_trades(symbol=binance)
    assert [(t["id"], t["price"], t["qty"], t["isBuyerMaker"]) for t in trades] == [
        (traded["trade_ids"][0], "100.5", "0.3", False),
        (traded["trade_ids"][1], "101", "0.1", False),
    ]
    aggregated = client.get_aggregate_trades(symbol=binance, fromId=traded["trade_ids"][1])
    assert [a["a"] for a in aggregated] == [traded["trade_ids"][1]]

    klines = client.get_klines(symbol=binance, interval=Client.KLINE_INTERVAL_1HOUR)
    open_time, open_, high, low, close, volume, close_time, quote_volume, count, *_ = klines[-1]
    assert (open_, high, low, close, volume, quote_volume, count) == (
        "100.5", "101", "100.5", "101", "0.4", "40.25", 2,
    )  # fmt: skip
    assert close_time == open_time + 3_600_000 - 1 and open_time % 3_600_000 == 0

    ticker = client.get_ticker(symbol=binance)
    assert (ticker["lastPrice"], ticker["openPrice"], ticker["priceChangePercent"]) == (
        "101", "100.5", "0.50",
    )  # fmt: skip
    assert client.get_symbol_ticker(symbol=binance) == {"symbol": binance, "price": "101"}
    assert client.get_orderbook_ticker(symbol=binance) == {
        "symbol": binance,
        "bidPrice": "99.99",
        "bidQty": "0.5",
        "askPrice": "101",
        "askQty": "0.1",
    }
    every = client.get_all_tickers()
    assert {"symbol": binance, "price": "101"} in every


def test_python_binance_errors_carry_binances_codes(live, traded):
    client = binance_client(live)
    with pytest.raises(BinanceAPIException) as raised:
        client.get_order_book(symbol="NOSUCHUSDT")
    assert (raised.value.status_code, raised.value.code) == (400, -1121)
    assert raised.value.message == "Invalid symbol."
    with pytest.raises(BinanceAPIException) as raised:
        client.get_klines(symbol=traded["binance"], interval="3m")
    assert raised.value.code == -1120
    with pytest.raises(BinanceAPIException) as raised:
        client.get_order_book(symbol=traded["binance"], limit="ten")
    assert raised.value.code == -1100
    with pytest.raises(BinanceAPIException) as raised:
        client.get_klines(symbol=traded["binance"])  # interval is mandatory
    assert raised.value.code == -1102


def test_exchange_info_counts_decimals_exactly(live, traded):
    status, body = live.get(f"/api/v3/exchangeInfo?symbol={traded['binance']}")
    assert status == 200
    (symbol,) = body["symbols"]
    lot = next(f for f in symbol["filters"] if f["filterType"] == "LOT_SIZE")
    assert Decimal(lot["maxQty"]) == Decimal(1_000_000)
    assert symbol["baseAssetPrecision"] == 8 and symbol["quotePrecision"] == 8
