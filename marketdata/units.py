"""Conversions between the wire's decimal strings and the engine's integers.

The engine counts prices in ticks, quantities in lots and balances in each asset's
smallest unit (DESIGN.md section 3). These functions are the only place where the two
meet; they never round: a value that is not an exact multiple is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from engine_worker.core.rules import MarketRules
from engine_worker.core.types import MarketStatus

MAX_UNITS = 10**30  # absurd magnitudes are refused before they reach the engine
MEMO_LIMIT = 20_000  # formatted prices (quantities) a market remembers before starting over


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
    mantissa, exponent = scale_of(unit)
    return format_scaled(units * mantissa, exponent)


def scale_of(unit: Decimal) -> tuple[int, int]:
    """``unit`` as ``(m, k)`` with ``unit == m * 10**-k``, m an integer."""
    sign, digits, exponent = unit.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    if exponent >= 0:  # type: ignore[operator]
        return mantissa * 10**exponent, 0  # type: ignore[operator]
    return mantissa, -exponent  # type: ignore[operator]


def format_scaled(n: int, k: int) -> str:
    """``n * 10**-k`` as a plain decimal string, by integer and string operations only
    (the engine worker formats every amount it publishes: Decimal is 5x slower here)."""
    if k == 0 or n == 0:
        return str(n)
    digits = str(-n if n < 0 else n).rjust(k + 1, "0")
    head, tail = digits[:-k], digits[-k:].rstrip("0")
    text = f"{head}.{tail}" if tail else head
    return "-" + text if n < 0 else text


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
    _tick: tuple[int, int] = field(init=False, repr=False, compare=False)
    _lot: tuple[int, int] = field(init=False, repr=False, compare=False)
    # prices and quantities recur (near the touch, round sizes): their text is remembered
    _prices: dict[int, str] = field(init=False, repr=False, compare=False)
    _quantities: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tick", scale_of(self.tick_size))
        object.__setattr__(self, "_lot", scale_of(self.lot_size))
        object.__setattr__(self, "_prices", {})
        object.__setattr__(self, "_quantities", {})

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
        text = self._prices.get(ticks)
        if text is None:
            if len(self._prices) > MEMO_LIMIT:
                self._prices.clear()
            mantissa, exponent = self._tick
            text = self._prices[ticks] = format_scaled(ticks * mantissa, exponent)
        return text

    def lots_to_quantity(self, lots: int) -> str:
        text = self._quantities.get(lots)
        if text is None:
            if len(self._quantities) > MEMO_LIMIT:
                self._quantities.clear()
            mantissa, exponent = self._lot
            text = self._quantities[lots] = format_scaled(lots * mantissa, exponent)
        return text

    def base_units_to_amount(self, units: int) -> str:
        return format_scaled(units, self.base_decimals)

    def quote_units_to_amount(self, units: int) -> str:
        return format_scaled(units, self.quote_decimals)

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
