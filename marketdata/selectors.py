"""Reads of the market catalogue."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import redis
from django.conf import settings

from apikit.errors import InvalidInput, NotFound
from infra import deepbook, keys
from marketdata import timeseries
from marketdata.models import Asset, Market
from marketdata.shapes import depth_body, kline_body, market_trade_body
from marketdata.tickers import TickerWindow, ticker_body
from marketdata.units import CONTEXT, MarketUnits, epoch_ms, plain

_cache: dict[str, MarketUnits] = {}
_cache_lock = threading.Lock()


def market_units_of(market: Market) -> MarketUnits:
    return MarketUnits(
        symbol=market.symbol,
        base=market.base.symbol,
        quote=market.quote.symbol,
        base_decimals=market.base.decimals,
        quote_decimals=market.quote.decimals,
        tick_size=market.tick_size.normalize(CONTEXT),
        lot_size=market.lot_size.normalize(CONTEXT),
        min_quantity=market.min_quantity.normalize(CONTEXT),
        max_quantity=market.max_quantity.normalize(CONTEXT),
        min_notional=market.min_notional.normalize(CONTEXT),
        max_price=market.max_price.normalize(CONTEXT) if market.max_price is not None else None,
        maker_fee_bps=market.maker_fee_bps,
        taker_fee_bps=market.taker_fee_bps,
        status=market.status,
        shard=market.shard,
    )


def market_units_list(*, shard: int | None = None) -> list[MarketUnits]:
    markets = Market.objects.select_related("base", "quote")
    if shard is not None:
        markets = markets.filter(shard=shard)
    return [market_units_of(m) for m in markets]


def market_units_get(symbol: str) -> MarketUnits:
    """A market's sizes, cached per process: tick and lot sizes never change once a
    market exists, so only a miss reads the database (a new market is found at once).
    Its ``status`` here may be stale; the engine enforces the live one."""
    units = _cache.get(symbol)
    if units is None:
        market = Market.objects.select_related("base", "quote").filter(symbol=symbol).first()
        if market is None:
            raise NotFound(f"Unknown market {symbol!r}.", code="unknown_market")
        units = market_units_of(market)
        with _cache_lock:
            _cache[symbol] = units
    return units


def market_list() -> list[Market]:
    return list(Market.objects.select_related("base", "quote"))


def asset_decimals_get(symbol: str) -> int:
    asset = Asset.objects.filter(symbol=symbol).first()
    if asset is None:
        raise NotFound(f"Unknown asset {symbol!r}.", code="unknown_asset")
    return asset.decimals


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


_redis_client: redis.Redis | None = None


def read_model() -> redis.Redis:
    """The shared client for read-model reads (thread-safe connection pool)."""
    global _redis_client
    if _redis_client is None:
        _redis_client = _redis()
    return _redis_client


def depth_get(symbol: str, *, limit: int | None) -> dict[str, Any]:
    """Up to ``limit`` levels a side, best first (None: the whole book). Up to the
    snapshot's TOP_LEVELS from its one JSON key; deeper from the whole book's sorted sets
    (infra/deepbook.py). Either is one consistent point, its ``sequence``."""
    units = market_units_get(symbol)
    if limit is None or limit > deepbook.TOP_LEVELS:
        sequence, bids, asks = deepbook.read(read_model(), units.symbol, limit)
        return depth_body(symbol=units.symbol, sequence=sequence, bids=bids, asks=asks)
    raw = read_model().get(keys.rm_depth(units.symbol))
    if not raw:
        return depth_body(symbol=units.symbol, sequence=0, bids=[], asks=[])
    depth = json.loads(raw)
    return depth_body(
        symbol=depth["symbol"],
        sequence=depth["sequence"],
        bids=depth["bids"][:limit],
        asks=depth["asks"][:limit],
    )


# -- market data from the time series (marketdata/timeseries.py) -----------------------------


def trade_list(symbol: str, *, limit: int) -> list[dict[str, Any]]:
    """A market's latest public trades, newest first."""
    units = market_units_get(symbol)
    return [
        market_trade_body(
            id=trade["id"],
            price=plain(trade["price"]),
            quantity=plain(trade["quantity"]),
            quote_quantity=plain(trade["quote_quantity"]),
            taker_side=trade["taker_side"],
            time_ms=epoch_ms(trade["time"]),
        )
        for trade in timeseries.trade_list(symbol=units.symbol, limit=limit)
    ]


def kline_list(
    symbol: str,
    *,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """A market's candles, oldest first (see timeseries.kline_list)."""
    units = market_units_get(symbol)
    if interval not in timeseries.INTERVALS:
        raise InvalidInput(
            f"Unknown interval {interval!r}.",
            code="invalid_interval",
            details={
                "interval": sorted(
                    timeseries.INTERVALS, key=lambda name: timeseries.INTERVALS[name]
                )
            },
        )
    if start is not None and end is not None and start > end:
        raise InvalidInput("start is after end.", code="invalid_range")
    return [
        kline_body(
            open_time_ms=epoch_ms(kline["open_time"]),
            open=plain(kline["open"]),
            high=plain(kline["high"]),
            low=plain(kline["low"]),
            close=plain(kline["close"]),
            volume=plain(kline["volume"]),
            quote_volume=plain(kline["quote_volume"]),
            trades=int(kline["trades"]),
        )
        for kline in timeseries.kline_list(
            symbol=units.symbol, interval=interval, start=start, end=end, limit=limit
        )
    ]


def _best_prices(symbols: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Best bid and ask of each market from the read model's depth snapshots."""
    raws = read_model().mget([keys.rm_depth(symbol) for symbol in symbols]) if symbols else []
    best: dict[str, tuple[str | None, str | None]] = {}
    for symbol, raw in zip(symbols, raws, strict=True):
        depth = json.loads(raw) if raw else {}
        bids, asks = depth.get("bids") or [], depth.get("asks") or []
        best[symbol] = (bids[0][0] if bids else None, asks[0][0] if asks else None)
    return best


def _tickers(symbols: list[str]) -> list[dict[str, Any]]:
    stats = timeseries.ticker_stats(symbols)
    best = _best_prices(symbols)
    tickers = []
    for symbol in symbols:
        row = stats[symbol]
        window = None
        if row["trades"]:
            window = TickerWindow(
                open=row["open"],
                high=row["high"],
                low=row["low"],
                close=row["last"],
                volume=row["volume"],
                quote_volume=row["quote_volume"],
                trades=row["trades"],
            )
        bid, ask = best[symbol]
        tickers.append(
            ticker_body(symbol, last=row["last"], window=window, best_bid=bid, best_ask=ask)
        )
    return tickers


def ticker_get(symbol: str) -> dict[str, Any]:
    """A market's 24 h rolling ticker."""
    return _tickers([market_units_get(symbol).symbol])[0]


def ticker_list() -> list[dict[str, Any]]:
    """The 24 h rolling tickers of every market, by symbol."""
    return _tickers(list(Market.objects.order_by("symbol").values_list("symbol", flat=True)))
