"""Writes to the market catalogue. The database is the catalogue's source of truth; the
engine is told at once, and an engine that was down learns it at its next start-up."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from apikit.errors import EngineRejected, InvalidInput
from engine_client import commands
from engine_client.gateway import engine_call
from engine_worker.core.types import MarketStatus, RejectReason
from infra import shards
from marketdata.models import Asset, Market
from marketdata.selectors import market_units_of
from marketdata.units import (
    AMOUNT_DECIMALS,
    AMOUNT_LIMIT,
    DEFAULT_DECIMALS,
    MarketUnits,
    NotAMultiple,
    exact_units,
    is_storable,
    market_units_to_wire,
    max_price_default,
    max_units,
)

logger = logging.getLogger(__name__)


def asset_get_or_create(*, symbol: str, decimals: int = DEFAULT_DECIMALS) -> Asset:
    """The asset, created with ``decimals`` if missing; an existing asset must agree."""
    if not 0 <= decimals <= 18:
        raise InvalidInput("decimals must be within 0..18.", details={"field": "decimals"})
    asset, created = Asset.objects.get_or_create(
        symbol=symbol.upper(), defaults={"decimals": decimals}
    )
    if not created and asset.decimals != decimals:
        raise InvalidInput(
            f"{asset.symbol} exists with {asset.decimals} decimals, not {decimals}.",
            code="asset_decimals_mismatch",
        )
    return asset


SIZES = ("tick_size", "lot_size", "min_quantity", "max_quantity", "max_price", "min_notional")


def market_validate(units: MarketUnits) -> None:
    """Refuse rules the engine cannot apply or that would let it accept amounts the
    database cannot store: sizes outside the database's range (marketdata.units.AMOUNT)
    or that it cannot count in whole units, a notional at the maximum price and quantity
    that is not storable, fees outside 0..10000 bps, a minimum above the maximum, a
    negative shard or one without the balances (infra/shards.py)."""
    for name in SIZES:
        value = getattr(units, name)
        if not is_storable(value) or value < 0:
            raise InvalidInput(
                f"{name} must be a non-negative decimal below {AMOUNT_LIMIT:f} with at most "
                f"{AMOUNT_DECIMALS} decimals.",
                code="amount_out_of_range",
                details={"field": name, "value": str(value)},
            )
    for name in ("tick_size", "lot_size"):
        if getattr(units, name) <= 0:
            raise InvalidInput(f"{name} must be positive.", details={"field": name})
    if units.max_quantity < units.lot_size:
        raise InvalidInput("max_quantity is below one lot.", details={"field": "max_quantity"})
    if units.max_price is not None and units.max_price < units.tick_size:
        raise InvalidInput("max_price is below one tick.", details={"field": "max_price"})
    for name in ("maker_fee_bps", "taker_fee_bps"):
        if not 0 <= getattr(units, name) <= 10_000:
            raise InvalidInput(f"{name} must be within 0..10000.", details={"field": name})
    # the engine counts minimums in whole lots and quote units: a minimum between two
    # would be rounded (down), and the market would accept less than it advertises
    for name, unit in (("min_quantity", units.lot_size), ("min_notional", units.quote_unit)):
        try:
            exact_units(getattr(units, name), unit)
        except NotAMultiple:
            raise InvalidInput(
                f"{name} must be a multiple of {unit:f}.",
                details={"field": name, "value": str(getattr(units, name)), "unit": f"{unit:f}"},
            ) from None
    if units.min_quantity > units.max_quantity:
        raise InvalidInput("min_quantity is above max_quantity.", details={"field": "min_quantity"})
    if units.shard < 0:
        raise InvalidInput("shard must not be negative.", details={"field": "shard"})
    if shards.foreign([(units.symbol, units.shard)]):
        raise InvalidInput(
            shards.refusal(units.symbol, units.shard),
            code="shard_not_supported",
            details={"field": "shard", "symbol": units.symbol, "shard": units.shard},
        )
    if units.base == units.quote:
        raise InvalidInput("base and quote must differ.", details={"field": "quote"})
    try:
        rules = units.rules()
    except NotAMultiple as exc:
        raise InvalidInput(
            "lot_size must be a whole number of base units and tick_size * lot_size a whole "
            "number of quote units (raise the assets' decimals or coarsen the sizes).",
            details={"value": str(exc)},
        ) from exc
    # the largest order's notional (and so its fee, its fills' quote amounts, the locked
    # funds) in quote units: storable as an amount of the quote asset
    notional = rules.max_price * rules.max_quantity * rules.quote_per_tick_lot
    if notional > max_units(units.quote_decimals):
        highest = max_price_default(units.tick_size, units.max_quantity)
        raise InvalidInput(
            f"max_price * max_quantity must stay below {AMOUNT_LIMIT:f} (what the database "
            f"stores): lower max_price to at most {highest:f} or lower max_quantity.",
            code="amount_out_of_range",
            details={"field": "max_price", "highest": format(highest, "f")},
        )


def market_create(
    *,
    symbol: str,
    base: str,
    quote: str,
    tick_size: Decimal,
    lot_size: Decimal,
    min_quantity: Decimal = Decimal(0),
    max_quantity: Decimal = Decimal(1_000_000),
    max_price: Decimal | None = None,
    min_notional: Decimal = Decimal(0),
    maker_fee_bps: int = 10,
    taker_fee_bps: int = 20,
    base_decimals: int = DEFAULT_DECIMALS,
    quote_decimals: int = DEFAULT_DECIMALS,
    shard: int | None = None,
    notify_engine: bool = True,
) -> Market:
    """Create the market (and its missing assets); it trades at once. Without
    ``max_price``, the highest price whose notional at ``max_quantity`` is storable."""
    with transaction.atomic():
        base_asset = asset_get_or_create(symbol=base, decimals=base_decimals)
        quote_asset = asset_get_or_create(symbol=quote, decimals=quote_decimals)
        market = Market(
            symbol=symbol.upper(),
            base=base_asset,
            quote=quote_asset,
            tick_size=tick_size,
            lot_size=lot_size,
            min_quantity=min_quantity,
            max_quantity=max_quantity,
            max_price=max_price,  # type: ignore[misc]  # None: derived below (units.max_price)
            min_notional=min_notional,
            maker_fee_bps=maker_fee_bps,
            taker_fee_bps=taker_fee_bps,
            shard=settings.ENGINE_SHARDS.get(symbol.upper(), settings.ENGINE_DEFAULT_SHARD)
            if shard is None
            else shard,
        )
        units = market_units_of(market)
        market_validate(units)
        market.max_price = units.max_price  # type: ignore[assignment]  # None: save() derives it
        if Market.objects.filter(symbol=market.symbol).exists():
            raise InvalidInput(f"Market {market.symbol} already exists.", code="market_exists")
        market.save()
    if notify_engine:
        market_engine_sync(market=market)
    logger.info("market %s created", market.symbol)
    return market


def market_engine_sync(*, market: Market) -> None:
    """Tell the engine about a market (idempotent)."""
    units = market_units_of(market)
    reply = engine_call(commands.add_market(market=market_units_to_wire(units)), shard=units.shard)
    if not reply["ok"] and reply["code"] != RejectReason.MARKET_EXISTS:
        raise EngineRejected(reply["message"], code=reply["code"])


def market_set_status(*, market: Market, status: MarketStatus) -> Market:
    """The engine first: if it refuses or is down, the catalogue keeps the old status."""
    reply = engine_call(
        commands.set_market_status(symbol=market.symbol, status=status.value),
        shard=market.shard,
    )
    if not reply["ok"]:
        raise EngineRejected(reply["message"], code=reply["code"])
    Market.objects.filter(pk=market.pk).update(status=status)
    market.status = status
    logger.info("market %s is now %s", market.symbol, status.value)
    return market
