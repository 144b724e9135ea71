"""Conversions between the wire's decimal strings and the engine's integers.

The engine counts prices in ticks, quantities in lots and balances in each asset's
smallest unit (DESIGN.md section 3). These functions are the only place where the two
meet; they never round: a value that is not an exact multiple is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine_worker.core.rules import MarketRules
from engine_worker.core.types import MarketStatus

MAX_UNITS = 10**30  # absurd magnitudes are refused before they reach the engine


class NotAMultiple(ValueError):
    """A decimal is not a whole number of the unit it must be counted in."""


def exact_units(value: Decimal, unit: Decimal) -> int:
    """``value / unit`` as an int, or NotAMultiple if it is not a whole number."""
    try:
        count = value / unit
    except (InvalidOperation, ZeroDivisionError) as exc:
        raise NotAMultiple(str(value)) from exc
    if not count.is_finite() or count != count.to_integral_value() or abs(count) > MAX_UNITS:
        raise NotAMultiple(str(value))
    return int(count)


def format_units(units: int, unit: Decimal) -> str:
    """``units * unit`` as a plain decimal string without exponent or trailing zeros."""
    value = Decimal(units) * unit
    text = format(value.normalize(), "f") if value else "0"
    return text


@dataclass(frozen=True, slots=True)
class MarketUnits:
    """The decimal sizes of one market and its assets, and their integer equivalents."""

    symbol: str
    base: str
    quote: str
    base_decimals: int
    quote_decimals: int
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    max_quantity: Decimal
    min_notional: Decimal
    maker_fee_bps: int
    taker_fee_bps: int
    status: str
    shard: int

    @property
    def base_unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.base_decimals)

    @property
    def quote_unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.quote_decimals)

    def price_to_ticks(self, price: Decimal) -> int:
        return exact_units(price, self.tick_size)

    def quantity_to_lots(self, quantity: Decimal) -> int:
        return exact_units(quantity, self.lot_size)

    def ticks_to_price(self, ticks: int) -> str:
        return format_units(ticks, self.tick_size)

    def lots_to_quantity(self, lots: int) -> str:
        return format_units(lots, self.lot_size)

    def base_units_to_amount(self, units: int) -> str:
        return format_units(units, self.base_unit)

    def quote_units_to_amount(self, units: int) -> str:
        return format_units(units, self.quote_unit)

    def rules(self) -> MarketRules:
        """The engine's integer rules; raises NotAMultiple if the sizes do not fit the
        assets' decimals (a tick times a lot must be a whole number of quote units)."""
        base_per_lot = exact_units(self.lot_size, self.base_unit)
        quote_per_tick_lot = exact_units(self.tick_size * self.lot_size, self.quote_unit)
        min_lots = max(1, -(-self.min_quantity // self.lot_size)) if self.min_quantity else 1
        return MarketRules(
            symbol=self.symbol,
            base=self.base,
            quote=self.quote,
            base_per_lot=base_per_lot,
            quote_per_tick_lot=quote_per_tick_lot,
            min_quantity=int(min_lots),
            max_quantity=int(self.max_quantity // self.lot_size),
            min_notional=int(-(-self.min_notional // self.quote_unit)),
            maker_fee_bps=self.maker_fee_bps,
            taker_fee_bps=self.taker_fee_bps,
            status=MarketStatus(self.status),
        )
