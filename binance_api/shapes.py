"""Binance's bodies, built from ours: pure functions, no I/O (docs/binance-api.md has the
field-by-field mapping). Amounts are decimal strings as ours are (plain: ``"0.01"``,
where Binance pads to 8 decimals, ``"0.01000000"``; clients read both), times integers in
epoch milliseconds, sides, types and statuses Binance's upper-case words."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from binance_api.symbols import to_binance
from engine_worker.core.types import OPEN_STATUSES, MarketStatus, OrderStatus
from marketdata.units import CONTEXT, MarketUnits, plain

STP_MODE = "EXPIRE_TAKER"  # ours: an incoming order's rest expires rather than self-trade
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
TIME_IN_FORCE = ["GTC", "IOC", "FOK"]
NO_ORDER_LIST = -1

SYMBOL_STATUS = {
    MarketStatus.TRADING: "TRADING",
    MarketStatus.CANCEL_ONLY: "BREAK",  # orders cancel, none are placed
    MarketStatus.HALTED: "HALT",
}
ORDER_STATUS = {
    OrderStatus.PENDING: "NEW",  # Binance shows a stop order waiting for its trigger as NEW
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
}


# -- the catalogue ------------------------------------------------------------------------


def _lots(units: MarketUnits, lots: int) -> str:
    return plain(CONTEXT.multiply(Decimal(lots), units.lot_size))


def symbol_info(units: MarketUnits, *, max_open_orders: int) -> dict[str, Any]:
    """One market of exchangeInfo, its filters from the market's rules as the engine
    applies them (units.rules(): the least quantity is at least one lot)."""
    rules = units.rules()
    max_price = units.max_price if units.max_price is not None else units.tick_size
    max_quantity = CONTEXT.multiply(Decimal(rules.max_quantity), units.lot_size)
    lot_filter = {
        "minQty": _lots(units, rules.min_quantity),
        "maxQty": plain(max_quantity),
        "stepSize": plain(units.lot_size),
    }
    filters: list[dict[str, Any]] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": plain(units.tick_size),
            "maxPrice": plain(max_price),
            "tickSize": plain(units.tick_size),
        },
        {"filterType": "LOT_SIZE", **lot_filter},
        {"filterType": "MARKET_LOT_SIZE", **lot_filter},
        {
            "filterType": "NOTIONAL",
            "minNotional": plain(units.min_notional),
            "applyMinToMarket": False,  # the engine checks a market order's quantity only
            "maxNotional": plain(CONTEXT.multiply(max_price, max_quantity)),
            "applyMaxToMarket": False,
            "avgPriceMins": 0,
        },
    ]
    if max_open_orders:
        filters.append({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": max_open_orders})
    return {
        "symbol": to_binance(units.symbol),
        "status": SYMBOL_STATUS[MarketStatus(units.status)],
        "baseAsset": units.base,
        "baseAssetPrecision": units.base_decimals,
        "quoteAsset": units.quote,
        "quotePrecision": units.quote_decimals,
        "quoteAssetPrecision": units.quote_decimals,
        "baseCommissionPrecision": units.base_decimals,
        "quoteCommissionPrecision": units.quote_decimals,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": filters,
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": STP_MODE,
        "allowedSelfTradePreventionModes": [STP_MODE],
    }


# -- market data --------------------------------------------------------------------------


def depth(book: dict[str, Any]) -> dict[str, Any]:
    return {"lastUpdateId": book["sequence"], "bids": book["bids"], "asks": book["asks"]}


def public_trade(trade: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": trade["id"],
        "price": trade["price"],
        "qty": trade["quantity"],
        "quoteQty": trade["quote_quantity"],
        "time": trade["time_ms"],
        "isBuyerMaker": trade["taker_side"] == "sell",
        "isBestMatch": True,
    }


def agg_trade(
    trade_id: int, price: Decimal, quantity: Decimal, taker_side: str, time_ms: int
) -> dict[str, Any]:
    """A trade as an aggregate trade of its own."""
    return {
        "a": trade_id,
        "p": plain(price),
        "q": plain(quantity),
        "f": trade_id,
        "l": trade_id,
        "T": time_ms,
        "m": taker_side == "sell",
        "M": True,
    }


def kline(candle: dict[str, Any], *, width_ms: int) -> list[Any]:
    """A candle as Binance's array. The taker-buy volumes are not kept: "0"."""
    return [
        candle["open_time_ms"],
        candle["open"],
        candle["high"],
        candle["low"],
        candle["close"],
        candle["volume"],
        candle["open_time_ms"] + width_ms - 1,
        candle["quote_volume"],
        candle["trades"],
        "0",
        "0",
        "0",
    ]


def _top(side: list[list[str]]) -> tuple[str, str]:
    return (side[0][0], side[0][1]) if side else ("0", "0")


def book_ticker(symbol: str, book: dict[str, Any]) -> dict[str, Any]:
    bid, bid_qty = _top(book["bids"])
    ask, ask_qty = _top(book["asks"])
    return {
        "symbol": to_binance(symbol),
        "bidPrice": bid,
        "bidQty": bid_qty,
        "askPrice": ask,
        "askQty": ask_qty,
    }


def price_ticker(ticker: dict[str, Any]) -> dict[str, Any]:
    return {"symbol": to_binance(ticker["symbol"]), "price": ticker["last"] or "0"}


def ticker_24hr(
    ticker: dict[str, Any],
    book: dict[str, Any],
    window: dict[str, Any],
    *,
    quote_decimals: int,
) -> dict[str, Any]:
    """The 24 h ticker in Binance's fields. ``ticker`` is ours (marketdata.tickers), ``book``
    the top of the book, ``window`` the window's edges: ``open_ms``, ``close_ms``,
    ``first_id``, ``last_id`` (-1 without trades), ``last_qty`` and ``prev_close`` (the
    newest trade's quantity and the price before the window, or None)."""
    traded = ticker["trades"] > 0
    last = Decimal(ticker["last"]) if ticker["last"] is not None else Decimal(0)
    open_ = Decimal(ticker["open"]) if traded else Decimal(0)
    volume, quote_volume = Decimal(ticker["volume"]), Decimal(ticker["quote_volume"])
    average = Decimal(0)
    if traded and volume:
        unit = Decimal(1).scaleb(-quote_decimals, CONTEXT)
        average = CONTEXT.divide(quote_volume, volume).quantize(unit, context=CONTEXT)
    bid, bid_qty = _top(book["bids"])
    ask, ask_qty = _top(book["asks"])
    return {
        "symbol": to_binance(ticker["symbol"]),
        "priceChange": plain(CONTEXT.subtract(last, open_)) if traded else "0",
        "priceChangePercent": ticker["change_percent"] or "0",
        "weightedAvgPrice": plain(average),
        "prevClosePrice": window["prev_close"] or "0",
        "lastPrice": plain(last),
        "lastQty": window["last_qty"] or "0",
        "bidPrice": bid,
        "bidQty": bid_qty,
        "askPrice": ask,
        "askQty": ask_qty,
        "openPrice": plain(open_),
        "highPrice": ticker["high"] if traded else "0",
        "lowPrice": ticker["low"] if traded else "0",
        "volume": ticker["volume"],
        "quoteVolume": ticker["quote_volume"],
        "openTime": window["open_ms"],
        "closeTime": window["close_ms"],
        "firstId": window["first_id"],
        "lastId": window["last_id"],
        "count": ticker["trades"],
    }


# -- orders and fills ---------------------------------------------------------------------


# our stop orders trigger as Binance's STOP_LOSS ones do: a sell when the price falls to
# the stop price, a buy when it rises to it (docs/api.md, "Stop orders")
STOP_TYPES = {"stop_limit": "STOP_LOSS_LIMIT", "stop_market": "STOP_LOSS"}


def order_type(order: dict[str, Any]) -> str:
    if order["type"] == "market":
        return "MARKET"
    stop = STOP_TYPES.get(order["type"])
    if stop is not None:
        return stop
    return "LIMIT_MAKER" if order["post_only"] else "LIMIT"


def _order_core(order: dict[str, Any], quote_order_qty: str = "0") -> dict[str, Any]:
    return {
        "price": order["price"] or "0",
        "origQty": order["quantity"],
        "executedQty": order["filled_quantity"],
        "origQuoteOrderQty": quote_order_qty,
        "cummulativeQuoteQty": order["filled_quote_quantity"],
        "status": ORDER_STATUS[OrderStatus(order["status"])],
        "timeInForce": order["time_in_force"],
        "type": order_type(order),
        "side": order["side"].upper(),
    }


def _ids(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": to_binance(order["symbol"]),
        "orderId": order["id"],
        "orderListId": _list_id(order),
        "clientOrderId": order["client_order_id"],
    }


def _list_id(order: dict[str, Any]) -> int:
    """The order's OCO list (placed through /api/v1/order-lists), or Binance's -1."""
    list_id = order.get("order_list_id")
    return NO_ORDER_LIST if list_id is None else int(list_id)


def order_fill(fill: dict[str, Any]) -> dict[str, Any]:
    """A fill of a new order's FULL reply."""
    return {
        "price": fill["price"],
        "qty": fill["quantity"],
        "commission": fill["fee"],
        "commissionAsset": fill["fee_asset"],
        "tradeId": fill["trade_id"],
    }


def new_order(
    order: dict[str, Any],
    fills: list[dict[str, Any]],
    *,
    response_type: str,
    quote_order_qty: str = "0",
) -> dict[str, Any]:
    """The reply of POST order: ACK, RESULT or FULL."""
    body = {**_ids(order), "transactTime": order["created_at_ms"]}
    if response_type == "ACK":
        return body
    body.update(_order_core(order, quote_order_qty))
    body["workingTime"] = order["created_at_ms"]
    body["selfTradePreventionMode"] = STP_MODE
    if response_type == "FULL":
        body["fills"] = [order_fill(f) for f in fills]
    return body


def order(order: dict[str, Any]) -> dict[str, Any]:
    """An order as GET order, openOrders and allOrders answer it."""
    return {
        **_ids(order),
        **_order_core(order),
        "stopPrice": order.get("stop_price") or "0",
        "icebergQty": "0",
        "time": order["created_at_ms"],
        "updateTime": order["updated_at_ms"],
        # Binance: a stop order is not working until it triggered
        "isWorking": order["status"] in OPEN_STATUSES and order["status"] != OrderStatus.PENDING,
        "workingTime": order["created_at_ms"],
        "selfTradePreventionMode": STP_MODE,
    }


def cancelled_order(order: dict[str, Any], *, client_order_id: str | None = None) -> dict[str, Any]:
    """An order as DELETE order and DELETE openOrders answer it: ``origClientOrderId`` is
    the order's, ``clientOrderId`` the cancel's (newClientOrderId, else the order's)."""
    ids = _ids(order)
    return {
        "symbol": ids["symbol"],
        "origClientOrderId": order["client_order_id"],
        "orderId": order["id"],
        "orderListId": _list_id(order),
        "clientOrderId": client_order_id or order["client_order_id"],
        "transactTime": order["updated_at_ms"],
        **_order_core(order),
        "selfTradePreventionMode": STP_MODE,
    }


def my_trade(fill: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": to_binance(fill["symbol"]),
        "id": fill["trade_id"],
        "orderId": fill["order_id"],
        "orderListId": NO_ORDER_LIST,
        "price": fill["price"],
        "qty": fill["quantity"],
        "quoteQty": fill["quote_quantity"],
        "commission": fill["fee"],
        "commissionAsset": fill["fee_asset"],
        "time": fill["time_ms"],
        "isBuyer": fill["side"] == "buy",
        "isMaker": fill["role"] == "maker",
        "isBestMatch": True,
    }


def commission_rate(bps: int) -> str:
    """Basis points as Binance's commission rate: 10 -> "0.001"."""
    return plain(CONTEXT.divide(Decimal(bps), Decimal(10_000)))


def account(
    *,
    user_id: int,
    balances: list[dict[str, Any]],
    maker_bps: int,
    taker_bps: int,
    can_trade: bool,
) -> dict[str, Any]:
    """GET account. Fees are per market here; the account's are the highest of any."""
    return {
        "makerCommission": maker_bps,
        "takerCommission": taker_bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": commission_rate(maker_bps),
            "taker": commission_rate(taker_bps),
            "buyer": "0",
            "seller": "0",
        },
        "canTrade": can_trade,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": 0,
        "accountType": "SPOT",
        "balances": [
            {"asset": b["asset"], "free": b["available"], "locked": b["locked"]} for b in balances
        ],
        "permissions": ["SPOT"],
        "uid": user_id,
    }


# -- quoteOrderQty ------------------------------------------------------------------------


def lots_for_quote(levels: list[list[str]], quote: Decimal, units: MarketUnits) -> Decimal:
    """The most base quantity, in whole lots, that ``quote`` buys (asks) or sells for
    (bids) walking ``levels`` best first: the quantity of a MARKET order by
    ``quoteOrderQty``. Exact decimals; 0 when not even one lot fits."""
    remaining = quote
    quantity = Decimal(0)
    for price_text, size_text in levels:
        price, size = Decimal(price_text), Decimal(size_text)
        cost = CONTEXT.multiply(price, size)
        if cost <= remaining:
            quantity = CONTEXT.add(quantity, size)
            remaining = CONTEXT.subtract(remaining, cost)
            continue
        affordable = CONTEXT.divide(remaining, price)
        lots = CONTEXT.divide_int(affordable, units.lot_size)
        quantity = CONTEXT.add(quantity, CONTEXT.multiply(lots, units.lot_size))
        break
    return quantity
