"""Conversions between the wire's decimal strings and the engine's integers.

The engine counts prices in ticks, quantities in lots and balances in each asset's
smallest unit (docs/architecture.md, "Why it is shaped this way"). These functions are
the only place where the two meet; they never round: a value that is not an exact
multiple is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Any, TypedDict

from engine_worker.core.rules import MarketRules
from engine_worker.core.types import MarketStatus

# The one context of every decimal computation of the exchange: wide enough that any
# product or quotient of two storable amounts is exact (2 x 38 digits and more), so that
# nothing rounds silently and nothing overflows; a huge exponent is an error, not a hang.
# (Decimal's default context keeps 28 digits: it rounds storable amounts.)
_CONTEXT_ARGS: dict[str, Any] = {
    "prec": 100,
    "rounding": ROUND_HALF_EVEN,
    "Emax": 999,
    "Emin": -999,
}
_TRAPS = [InvalidOperation, DivisionByZero, Overflow]
CONTEXT = Context(**_CONTEXT_ARGS, traps=_TRAPS)
# the same context, where any rounding is an error (built, not copied and set: compiled,
# assigning into a context's traps is refused)
_EXACT = Context(**_CONTEXT_ARGS, traps=[*_TRAPS, Inexact])

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the engine's and the wire's times are ms since it
DEFAULT_DECIMALS = 8  # an asset's decimals when none are given (and the engine knows none)

# -- the database's range: every amount column is numeric(AMOUNT_DIGITS, AMOUNT_DECIMALS) ----
AMOUNT_DIGITS = 38
AMOUNT_DECIMALS = 18


class DecimalColumn(TypedDict):
    """A DecimalField's size, as keyword arguments: models.DecimalField(**AMOUNT)."""

    max_digits: int
    decimal_places: int


AMOUNT: DecimalColumn = {"max_digits": AMOUNT_DIGITS, "decimal_places": AMOUNT_DECIMALS}
# a sum of storable amounts (a candle's volume): room for 10^19 of them
VOLUME: DecimalColumn = {"max_digits": AMOUNT_DIGITS + 19, "decimal_places": AMOUNT_DECIMALS}
AMOUNT_LIMIT = Decimal(10 ** (AMOUNT_DIGITS - AMOUNT_DECIMALS))  # |x| < 10^20 is storable
AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_DECIMALS, CONTEXT)  # the smallest storable step
AMOUNT_MAX = CONTEXT.subtract(AMOUNT_LIMIT, AMOUNT_QUANTUM)  # the largest storable amount

MAX_UNITS = 10**AMOUNT_DIGITS  # a storable amount counted in its smallest unit is below this
MEMO_LIMIT = 20_000  # formatted prices (quantities) a market remembers before starting over


class NotAMultiple(ValueError):
    """A decimal is not a whole number of the unit it must be counted in."""


def plain(value: Decimal) -> str:
    """A decimal as the contract writes it: no exponent, no trailing zeros, every digit."""
    return format(value.normalize(CONTEXT), "f") if value else "0"


def is_storable(value: Decimal) -> bool:
    """Whether the database's amount columns hold ``value`` exactly: finite, below
    10^20 in magnitude, with at most 18 decimals (trailing zeros aside)."""
    if not value.is_finite():
        return False
    if value.copy_abs() >= AMOUNT_LIMIT:
        return False
    _, digits, exponent = value.as_tuple()
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return value.is_zero() or exponent + trailing_zeros >= -AMOUNT_DECIMALS  # type: ignore[operator]


def asset_unit(decimals: int) -> Decimal:
    """The smallest unit of an asset with ``decimals``: 10^-decimals."""
    return Decimal(1).scaleb(-decimals, CONTEXT)


def units_to_decimal(units: int, decimals: int) -> Decimal:
    """A count of an asset's smallest unit as the amount it is, exactly."""
    return Decimal(units).scaleb(-decimals, CONTEXT)


def max_units(decimals: int) -> int:
    """The most units of an asset with ``decimals`` that an amount column stores."""
    return int(10 ** (AMOUNT_DIGITS - AMOUNT_DECIMALS + decimals)) - 1


def exact_units(value: Decimal, unit: Decimal) -> int:
    """``value / unit`` as an int, or NotAMultiple if it is not a whole number."""
    try:
        count = _EXACT.divide(value, unit)
    except (DecimalException, ZeroDivisionError) as exc:
        raise NotAMultiple(str(value)) from exc
    if not count.is_finite() or count != count.to_integral_value() or count.copy_abs() > MAX_UNITS:
        raise NotAMultiple(str(value))
    return int(count)


def max_price_default(tick_size: Decimal, max_quantity: Decimal) -> Decimal:
    """The highest price, in whole ticks, whose notional at ``max_quantity`` (and the
    price itself) is still storable: a market's maximum price when none is given."""
    if tick_size <= 0:
        return tick_size
    ticks = CONTEXT.divide_int(AMOUNT_MAX, tick_size)
    if max_quantity > 0:
        notional_per_tick = CONTEXT.multiply(tick_size, max_quantity)
        ticks = min(ticks, CONTEXT.divide_int(AMOUNT_MAX, notional_per_tick))
    return CONTEXT.multiply(ticks, tick_size).normalize(CONTEXT)


def format_units(units: int, unit: Decimal) -> str:
    """``units * unit`` as a plain decimal string without exponent or trailing zeros."""
    mantissa, exponent = scale_of(unit)
    return format_scaled(units * mantissa, exponent)


def scale_of(unit: Decimal) -> tuple[int, int]:
    """``unit`` as ``(m, k)`` with ``unit == m * 10**-k``, m an integer."""
    sign, digits, exponent = unit.normalize(CONTEXT).as_tuple()
    mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    if exponent >= 0:  # type: ignore[operator]
        return mantissa * 10**exponent, 0  # type: ignore[operator]
    return mantissa, -exponent  # type: ignore[operator]


def format_scaled(n: int, k: int) -> str:
    """``n * 10**-k`` as a plain decimal string, by integer and string operations only
    (the engine worker formats every amount it publishes: Decimal is 5x slower here).
    The common case (a positive amount of an asset with decimals) first, in the fewest
    operations: the worker calls this about ten times a command."""
    if n > 0 and k > 0:
        digits = str(n)
        if len(digits) > k:
            tail = digits[-k:].rstrip("0")
            return digits[:-k] + "." + tail if tail else digits[:-k]
        return "0." + digits.rjust(k, "0").rstrip("0")
    if k == 0 or n == 0:
        return str(n)
    return "-" + format_scaled(-n, k)


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
    max_price: Decimal | None = None  # None: max_price_default(tick_size, max_quantity)
    _tick: tuple[int, int] = field(init=False, repr=False, compare=False)
    _lot: tuple[int, int] = field(init=False, repr=False, compare=False)
    # prices and quantities recur (near the touch, round sizes): their text is remembered
    _prices: dict[int, str] = field(init=False, repr=False, compare=False)
    _quantities: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_price is None:
            default = max_price_default(self.tick_size, self.max_quantity)
            object.__setattr__(self, "max_price", default)
        object.__setattr__(self, "_tick", scale_of(self.tick_size))
        object.__setattr__(self, "_lot", scale_of(self.lot_size))
        object.__setattr__(self, "_prices", {})
        object.__setattr__(self, "_quantities", {})

    @property
    def lot_scale(self) -> tuple[int, int]:
        """The lot size as ``(m, k)``: ``lot_size == m * 10**-k`` (scale_of)."""
        return self._lot

    @property
    def base_unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.base_decimals, CONTEXT)

    @property
    def quote_unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.quote_decimals, CONTEXT)

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
        quote_per_tick_lot = exact_units(
            CONTEXT.multiply(self.tick_size, self.lot_size), self.quote_unit
        )
        ctx = CONTEXT
        min_lots = -ctx.divide_int(-self.min_quantity, self.lot_size) if self.min_quantity else 1
        max_price = self.max_price if self.max_price is not None else self.tick_size
        return MarketRules(
            symbol=self.symbol,
            base=self.base,
            quote=self.quote,
            base_per_lot=base_per_lot,
            quote_per_tick_lot=quote_per_tick_lot,
            min_quantity=max(1, int(min_lots)),
            max_quantity=int(ctx.divide_int(self.max_quantity, self.lot_size)),
            min_notional=int(-ctx.divide_int(-self.min_notional, self.quote_unit)),
            max_price=int(ctx.divide_int(max_price, self.tick_size)),
            maker_fee_bps=self.maker_fee_bps,
            taker_fee_bps=self.taker_fee_bps,
            status=MarketStatus(self.status),
        )


# The market's units on the engine's wire (AddMarket, the event stream's state).


def market_units_to_wire(units: MarketUnits) -> dict[str, Any]:
    """The market's constructor fields (not its derived caches), decimals as strings."""
    return {
        f.name: format(value, "f") if isinstance(value, Decimal) else value
        for f in fields(units)
        if f.init
        for value in (getattr(units, f.name),)
    }


def market_units_from_wire(wire: dict[str, Any]) -> MarketUnits:
    """ValueError if ``wire`` is not a market's units."""
    try:
        return MarketUnits(
            symbol=str(wire["symbol"]),
            base=str(wire["base"]),
            quote=str(wire["quote"]),
            base_decimals=int(wire["base_decimals"]),
            quote_decimals=int(wire["quote_decimals"]),
            tick_size=Decimal(wire["tick_size"]),
            lot_size=Decimal(wire["lot_size"]),
            min_quantity=Decimal(wire["min_quantity"]),
            max_quantity=Decimal(wire["max_quantity"]),
            min_notional=Decimal(wire["min_notional"]),
            maker_fee_bps=int(wire["maker_fee_bps"]),
            taker_fee_bps=int(wire["taker_fee_bps"]),
            status=str(wire["status"]),
            shard=int(wire["shard"]),
            # absent from logs and snapshots older than the field: the default it had then
            max_price=Decimal(wire["max_price"]) if wire.get("max_price") is not None else None,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"bad market: {exc}") from exc


# Times on the wire: exact epoch milliseconds and their ISO 8601 text.


def epoch_ms(moment: datetime) -> int:
    """Exact milliseconds since the epoch (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


_ISO: dict[int, str] = {}  # epoch ms -> ISO text; a batch's events share a few
_ISO_SECONDS: dict[int, str] = {}  # epoch seconds -> "YYYY-MM-DDTHH:MM:SS"
TEXT_MEMO_LIMIT = 50_000  # entries a text memo (times, quoted strings) keeps before it starts over


def iso(ts_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC (``2026-11-26T07:53:38.920Z``)."""
    text = _ISO.get(ts_ms)
    if text is None:
        seconds, ms = divmod(ts_ms, 1000)
        head = _ISO_SECONDS.get(seconds)
        if head is None:
            if len(_ISO_SECONDS) > TEXT_MEMO_LIMIT:
                _ISO_SECONDS.clear()
            head = _ISO_SECONDS[seconds] = datetime.fromtimestamp(seconds, UTC).isoformat()[:19]
        if len(_ISO) > TEXT_MEMO_LIMIT:
            _ISO.clear()
        text = _ISO[ts_ms] = f"{head}.{ms:03d}Z"
    return text
