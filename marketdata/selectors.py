"""Reads of the market catalogue."""

from __future__ import annotations

import json
import threading
from typing import Any

import redis
from django.conf import settings

from engine_worker import keys
from exchange_site.errors import NotFound
from marketdata.models import Asset, Market
from marketdata.units import MarketUnits

_cache: dict[str, MarketUnits] = {}
_cache_lock = threading.Lock()


def market_units_of(market: Market) -> MarketUnits:
    return MarketUnits(
        symbol=market.symbol,
        base=market.base.symbol,
        quote=market.quote.symbol,
        base_decimals=market.base.decimals,
        quote_decimals=market.quote.decimals,
        tick_size=market.tick_size.normalize(),
        lot_size=market.lot_size.normalize(),
        min_quantity=market.min_quantity.normalize(),
        max_quantity=market.max_quantity.normalize(),
        min_notional=market.min_notional.normalize(),
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


def depth_get(symbol: str, *, limit: int) -> dict[str, Any]:
    units = market_units_get(symbol)
    raw = read_model().get(keys.rm_depth(units.symbol))
    depth = json.loads(raw) if raw else {"symbol": symbol, "sequence": 0, "bids": [], "asks": []}
    depth["bids"] = depth["bids"][:limit]
    depth["asks"] = depth["asks"][:limit]
    return depth
