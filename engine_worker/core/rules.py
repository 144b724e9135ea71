"""Per-market trading rules, in integer units."""

from __future__ import annotations

from dataclasses import dataclass

from .types import MarketStatus


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Rules of one market, all in integers.

    A price of ``p`` ticks times a quantity of ``q`` lots costs
    ``p * q * quote_per_tick_lot`` units of the quote asset; ``q`` lots are
    ``q * base_per_lot`` units of the base asset. The edge (API, support commands)
    converts decimal tick and lot sizes into these two factors.
    """

    symbol: str
    base: str
    quote: str
    base_per_lot: int
    quote_per_tick_lot: int
    min_quantity: int = 1  # lots
    max_quantity: int = 10**15  # lots
    max_price: int = 10**18  # ticks; the edge keeps max_price * max_quantity storable
    min_notional: int = 0  # quote units
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0
    status: MarketStatus = MarketStatus.TRADING
