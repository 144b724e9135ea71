"""Binance-style symbols (``BTCUSDT``) and ours (``BTC_USDT``).

A Binance symbol is our market symbol without its separator. The map is read from the
market catalogue and cached per process; a symbol it does not know reloads it once, so
a market added while the process runs is found at once. Two markets whose symbols differ
only by the separator (``AB_C`` and ``A_BC``) would share a Binance symbol: the older one
keeps it and the other is not reachable here (logged)."""

from __future__ import annotations

import logging
import threading

from marketdata.models import Market

logger = logging.getLogger(__name__)

SEPARATOR = "_"

_lock = threading.Lock()
_to_ours: dict[str, str] = {}


def to_binance(symbol: str) -> str:
    """Our market symbol as Binance writes it: ``BTC_USDT`` -> ``BTCUSDT``."""
    return symbol.replace(SEPARATOR, "")


def _load() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for symbol in Market.objects.order_by("id").values_list("symbol", flat=True):
        binance = to_binance(symbol)
        if binance in mapping:
            logger.warning(
                "markets %s and %s share the Binance symbol %s: %s is not reachable on /api/v3",
                mapping[binance],
                symbol,
                binance,
                symbol,
            )
            continue
        mapping[binance] = symbol
    return mapping


def to_ours(binance: str) -> str | None:
    """Our market symbol for a Binance one, or None if no market has it."""
    global _to_ours
    symbol = _to_ours.get(binance)
    if symbol is None:
        mapping = _load()
        with _lock:
            _to_ours = mapping
        symbol = mapping.get(binance)
    return symbol


def reachable(symbol: str) -> bool:
    """Whether our market ``symbol`` is the one its Binance symbol names."""
    return to_ours(to_binance(symbol)) == symbol
