"""The facade's reads: Binance's public and account endpoints over the selectors /api/v1
uses (marketdata.selectors, marketdata.tickers, orders.selectors, accounts.selectors).
Each function takes the request's Params and returns the body."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max

from accounts import selectors as accounts
from apikit.errors import NotFound
from apikit.throttling import UserRateThrottle
from binance_api import errors, shapes
from binance_api.errors import BinanceError
from binance_api.params import Params, illegal, invalid, market_of
from binance_api.symbols import reachable
from infra.deepbook import MAX_LEVELS
from marketdata import selectors as market
from marketdata import timeseries
from marketdata.models import Asset, Market, Tick
from marketdata.routers import TIMESERIES_ALIAS
from marketdata.units import EPOCH, plain
from orders import selectors as orders

SYMBOLS_LEGAL = r'^\[("[A-Z0-9-_.]{1,40}"(,"[A-Z0-9-_.]{1,40}")*)?\]$'
MAX_LIST = 1000  # allOrders, myTrades, trades, klines
INTERVALS = list(timeseries.INTERVALS)  # every one we keep: 1m 5m 15m 1h 4h 1d


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


# -- symbol or symbols --------------------------------------------------------------------


def symbols_of(params: Params) -> list[str] | None:
    """Our markets named by ``symbol`` or ``symbols`` (a JSON array); None for neither
    (every market). Both at once: -1128; a symbol twice: -1151; an unknown one: -1121."""
    one, many = params.text("symbol"), params.text("symbols")
    if one is not None and many is not None:
        raise BinanceError(
            errors.OPTIONAL_PARAMS_BAD_COMBO, "Parameters 'symbol' and 'symbols' are exclusive."
        )
    if one is not None:
        return [market_of(one)]
    if many is None:
        return None
    try:
        names = json.loads(many)
    except ValueError:
        raise illegal("symbols", SYMBOLS_LEGAL) from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise illegal("symbols", SYMBOLS_LEGAL)
    if len(set(names)) != len(names):
        raise BinanceError(-1151, "Symbol is present multiple times in the list.")
    return [market_of(name) for name in names]


def _all_symbols() -> list[str]:
    return list(Market.objects.order_by("symbol").values_list("symbol", flat=True))


# -- general ------------------------------------------------------------------------------


def rate_limits() -> list[dict[str, Any]]:
    """The API's request rate (settings API_RATE_LIMIT, per user or address)."""
    throttle = UserRateThrottle()  # the API's own, as the views apply it
    count, seconds = throttle.parse_rate(throttle.get_rate())
    interval = {1: "SECOND", 60: "MINUTE", 3600: "HOUR", 86400: "DAY"}[seconds or 60]
    return [
        {"rateLimitType": "RAW_REQUESTS", "interval": interval, "intervalNum": 1, "limit": count}
    ]


def exchange_info(params: Params) -> dict[str, Any]:
    wanted = symbols_of(params)
    status = params.text("symbolStatus")
    if status is not None and status not in shapes.SYMBOL_STATUS.values():
        raise BinanceError(-1122, "Invalid symbolStatus.")
    units = [
        market.market_units_of(m)
        for m in Market.objects.select_related("base", "quote").order_by("symbol")
        if (wanted is None or m.symbol in wanted) and reachable(m.symbol)
    ]
    infos = [
        shapes.symbol_info(u, max_open_orders=settings.MAX_OPEN_ORDERS_PER_MARKET) for u in units
    ]
    if status is not None:
        infos = [i for i in infos if i["status"] == status]
    return {
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": rate_limits(),
        "exchangeFilters": [],
        "symbols": infos,
    }


# -- market data --------------------------------------------------------------------------


def depth(params: Params) -> dict[str, Any]:
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    limit = params.limit(default=100, maximum=MAX_LEVELS)
    return shapes.depth(market.depth_get(symbol, limit=limit))


def trades(params: Params) -> list[dict[str, Any]]:
    """The latest trades, oldest first (Binance's order)."""
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    limit = params.limit(default=500, maximum=MAX_LIST)
    latest = market.trade_list(symbol, limit=limit)
    return [shapes.public_trade(t) for t in reversed(latest)]


def agg_trades(params: Params) -> list[dict[str, Any]]:
    """Aggregate trades, oldest first: each of our trades is an aggregate of its own (its
    id is the trade's). From ``fromId`` on, from ``startTime`` (to ``endTime``), or the
    latest ``limit``."""
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    from_id = params.integer("fromId")
    start, end = params.moment("startTime"), params.moment("endTime")
    if from_id is not None and (start is not None or end is not None):
        raise BinanceError(
            errors.OPTIONAL_PARAMS_BAD_COMBO, "fromId cannot be sent with startTime or endTime."
        )
    limit = params.limit(default=500, maximum=MAX_LIST)
    ticks = Tick.objects.using(TIMESERIES_ALIAS).filter(symbol=symbol)
    if from_id is not None:
        ticks = ticks.filter(trade_id__gte=from_id)
    if start is not None:
        ticks = ticks.filter(time__gte=start)
    if end is not None:
        ticks = ticks.filter(time__lte=end)
    if from_id is not None or start is not None:
        rows = list(ticks.order_by("time", "trade_id")[:limit])
    else:
        rows = list(reversed(ticks.order_by("-time", "-trade_id")[:limit]))
    return [
        shapes.agg_trade(row.trade_id, row.price, row.quantity, row.taker_side, _ms(row.time))
        for row in rows
    ]


def klines(params: Params) -> list[list[Any]]:
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    interval = params.choice(
        "interval",
        INTERVALS,
        BinanceError(errors.BAD_INTERVAL, "Invalid interval."),
        required=True,
    )
    assert interval is not None  # noqa: S101 - required
    zone = params.text("timeZone")
    if zone not in (None, "0", "+0", "-0", "00:00", "+00:00", "-00:00"):
        raise invalid("timeZone")  # candles are in UTC only
    start, end = params.moment("startTime"), params.moment("endTime")
    limit = params.limit(default=500, maximum=MAX_LIST)
    width_ms = int(timeseries.INTERVALS[interval].total_seconds() * 1000)
    candles = market.kline_list(symbol, interval=interval, start=start, end=end, limit=limit)
    return [shapes.kline(c, width_ms=width_ms) for c in candles]


def _window(symbol: str, *, now: datetime) -> dict[str, Any]:
    """The 24 h window's edges for the Binance ticker (trades in [now - 24 h, now])."""
    start = now - timeseries.TICKER_WINDOW
    ticks = Tick.objects.using(TIMESERIES_ALIAS).filter(symbol=symbol)
    in_window = ticks.filter(time__gte=start, time__lte=now)
    first = in_window.order_by("time", "trade_id").values_list("trade_id", flat=True).first()
    last = in_window.order_by("-time", "-trade_id").values_list("trade_id", "quantity").first()
    newest = ticks.order_by("-time", "-trade_id").values_list("quantity", flat=True).first()
    before = ticks.filter(time__lt=start).order_by("-time", "-trade_id")
    prev_close = before.values_list("price", flat=True).first()
    return {
        "open_ms": _ms(start),
        "close_ms": _ms(now),
        "first_id": first if first is not None else -1,
        "last_id": last[0] if last is not None else -1,
        "last_qty": plain(Decimal(newest)) if newest is not None else None,
        "prev_close": plain(Decimal(prev_close)) if prev_close is not None else None,
    }


MINI_FIELDS = (
    "symbol",
    "openPrice",
    "highPrice",
    "lowPrice",
    "lastPrice",
    "volume",
    "quoteVolume",
    "openTime",
    "closeTime",
    "firstId",
    "lastId",
    "count",
)


def _one_or_list(params: Params, bodies: list[dict[str, Any]]) -> Any:
    return bodies[0] if params.text("symbol") is not None else bodies


def ticker_24hr(params: Params) -> Any:
    names = symbols_of(params)
    kind = params.choice("type", ("FULL", "MINI"), BinanceError(-1139, "Invalid ticker type."))
    names = names if names is not None else [s for s in _all_symbols() if reachable(s)]
    now = datetime.now(tz=UTC)
    bodies = []
    for symbol in names:
        body = shapes.ticker_24hr(
            market.ticker_get(symbol),
            market.depth_get(symbol, limit=1),
            _window(symbol, now=now),
            quote_decimals=market.market_units_get(symbol).quote_decimals,
        )
        if kind == "MINI":
            body = {name: body[name] for name in MINI_FIELDS}
        bodies.append(body)
    return _one_or_list(params, bodies)


def ticker_price(params: Params) -> Any:
    names = symbols_of(params)
    if names is None:
        tickers = [t for t in market.ticker_list() if reachable(t["symbol"])]
    else:
        tickers = [market.ticker_get(name) for name in names]
    return _one_or_list(params, [shapes.price_ticker(t) for t in tickers])


def book_ticker(params: Params) -> Any:
    names = symbols_of(params)
    names = names if names is not None else [s for s in _all_symbols() if reachable(s)]
    return _one_or_list(
        params, [shapes.book_ticker(s, market.depth_get(s, limit=1)) for s in names]
    )


# -- the account --------------------------------------------------------------------------


def account(params: Params, *, user_id: int, can_trade: bool) -> dict[str, Any]:
    held = {b["asset"]: b for b in accounts.balance_list(user_id=user_id)}
    names = sorted(set(Asset.objects.values_list("symbol", flat=True)) | set(held))
    balances = [held.get(a) or {"asset": a, "available": "0", "locked": "0"} for a in names]
    if params.boolean("omitZeroBalances"):
        balances = [b for b in balances if Decimal(b["available"]) or Decimal(b["locked"])]
    fees = Market.objects.aggregate(maker=Max("maker_fee_bps"), taker=Max("taker_fee_bps"))
    return shapes.account(
        user_id=user_id,
        balances=balances,
        maker_bps=fees["maker"] or 0,
        taker_bps=fees["taker"] or 0,
        can_trade=can_trade,
    )


def order_of(params: Params, *, user_id: int, symbol: str) -> dict[str, Any]:
    """The order named by orderId or origClientOrderId (both: they must agree), of the
    user and in ``symbol``; NotFound (unknown_order) otherwise."""
    order_id = params.integer("orderId")
    client_id = params.text("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(
            errors.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    if order_id is not None:
        order = orders.order_get(user_id=user_id, order_id=order_id)
        if client_id is not None and order["client_order_id"] != client_id:
            raise NotFound("No such order.", code="unknown_order")
    else:
        assert client_id is not None  # noqa: S101 - one of the two
        order = orders.order_get_by_client_id(user_id=user_id, client_order_id=client_id)
    if order["symbol"] != symbol:
        raise NotFound("No such order.", code="unknown_order")
    return order


def order_get(params: Params, *, user_id: int) -> dict[str, Any]:
    symbol = params.symbol()
    assert symbol is not None  # noqa: S101 - required
    return shapes.order(order_of(params, user_id=user_id, symbol=symbol))


def open_orders(params: Params, *, user_id: int) -> list[dict[str, Any]]:
    symbol = params.symbol(required=False)
    listed = orders.order_list(user_id=user_id, status="open", symbol=symbol)
    return [shapes.order(o) for o in reversed(listed)]


def _ascending_window(fetch: Any, *, limit: int, oldest: bool) -> list[dict[str, Any]]:
    """``limit`` items of a newest-first history (fetch(limit=, offset=) -> (count,
    page)), oldest first: the oldest ones when ``oldest`` (a lower bound was given: the
    first items from it), else the newest."""
    offset = 0
    if oldest:
        count, _ = fetch(limit=0, offset=0)
        offset = max(0, count - limit)
    _, page = fetch(limit=limit, offset=offset)
    return list(reversed(page))


def _time_range(params: Params) -> tuple[int | None, int | None]:
    start, end = params.moment("startTime"), params.moment("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(errors.OPTIONAL_PARAMS_BAD_COMBO, "startTime is after endTime.")
    return (None if start is None else _ms(start)), (None if end is None else _ms(end))


def all_orders(params: Params, *, user_id: int) -> list[dict[str, Any]]:
    symbol = params.symbol()
    min_id = params.integer("orderId")
    start_ms, end_ms = _time_range(params)
    limit = params.limit(default=500, maximum=MAX_LIST)

    def fetch(*, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        return orders.order_history(
            user_id=user_id,
            status="all",
            symbol=symbol,
            limit=limit,
            offset=offset,
            min_id=min_id,
            start_ms=start_ms,
            end_ms=end_ms,
        )

    oldest = min_id is not None or start_ms is not None
    return [shapes.order(o) for o in _ascending_window(fetch, limit=limit, oldest=oldest)]


def my_trades(params: Params, *, user_id: int) -> list[dict[str, Any]]:
    symbol = params.symbol()
    order_id = params.integer("orderId")
    from_id = params.integer("fromId")
    start_ms, end_ms = _time_range(params)
    if from_id is not None and (start_ms is not None or end_ms is not None):
        raise BinanceError(
            errors.OPTIONAL_PARAMS_BAD_COMBO, "fromId cannot be sent with startTime or endTime."
        )
    limit = params.limit(default=500, maximum=MAX_LIST)

    def fetch(*, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        return orders.fill_history(
            user_id=user_id,
            symbol=symbol,
            limit=limit,
            offset=offset,
            min_trade_id=from_id,
            order_id=order_id,
            start_ms=start_ms,
            end_ms=end_ms,
        )

    oldest = from_id is not None or start_ms is not None
    return [shapes.my_trade(f) for f in _ascending_window(fetch, limit=limit, oldest=oldest)]
