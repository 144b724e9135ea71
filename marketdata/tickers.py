"""The 24 h ticker's body, defined once: the REST ticker (``GET /markets/{s}/ticker``,
``/tickers``) and the WebSocket bridge's ``ticker.SYM`` channel both build it here, from
what each knows of the window (docs/api.md, docs/websocket.md).

One rounding rule: ``change_percent`` = (last - open) / open x 100, computed exactly in
``units.CONTEXT`` and rounded once to 0.01 half to even (banker's rounding: 0.005 -> 0.00,
0.015 -> 0.02), never ``-0.00``. One rule for a window without trades: ``open``, ``high``,
``low`` and ``change_percent`` are null, ``volume`` and ``quote_volume`` ``"0"``,
``trades`` 0, while ``last`` stays the newest trade's price (null if there was none).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from marketdata.units import CONTEXT, plain

CHANGE_QUANTUM = Decimal("0.01")  # change_percent's step
CHANGE_ROUNDING = ROUND_HALF_EVEN


@dataclass(frozen=True, slots=True)
class TickerWindow:
    """The trades of the 24 h window, at least one: the first's price, the extremes, the
    last's price, the base and quote volumes and the count."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


def change_percent(open_: Decimal, close: Decimal) -> Decimal | None:
    """The change from open to close in percent, to 0.01 half to even; None if open is 0
    (no price to compare with). Exact up to the rounding: prices any orders of magnitude
    apart fit the wide context."""
    if not open_:
        return None
    change = CONTEXT.divide(CONTEXT.multiply(CONTEXT.subtract(close, open_), 100), open_)
    rounded = change.quantize(CHANGE_QUANTUM, rounding=CHANGE_ROUNDING, context=CONTEXT)
    return rounded.copy_abs() if rounded.is_zero() else rounded  # no "-0.00"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def ticker_body(
    symbol: str,
    *,
    last: Decimal | None,
    window: TickerWindow | None,
    best_bid: str | None,
    best_ask: str | None,
) -> dict[str, Any]:
    """A market's ticker as the contract writes it. ``last`` is the newest trade's price,
    inside the window or not (None if the market never traded); ``window`` None (or with
    no trades) when nothing traded in the last 24 h."""
    if window is None or not window.trades:
        return {
            "symbol": symbol,
            "last": _text(last),
            "open": None,
            "high": None,
            "low": None,
            "volume": "0",
            "quote_volume": "0",
            "trades": 0,
            "change_percent": None,
            "best_bid": best_bid,
            "best_ask": best_ask,
        }
    change = change_percent(window.open, window.close)
    return {
        "symbol": symbol,
        "last": plain(window.close),
        "open": plain(window.open),
        "high": plain(window.high),
        "low": plain(window.low),
        "volume": plain(window.volume),
        "quote_volume": plain(window.quote_volume),
        "trades": window.trades,
        "change_percent": None if change is None else format(change, "f"),
        "best_bid": best_bid,
        "best_ask": best_ask,
    }
