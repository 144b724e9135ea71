"""The ticker body (marketdata.tickers): one rounding rule and one no-trades rule, shared
by the REST ticker and the WebSocket bridge's (realtime/tests/test_units.py checks the two
agree on the same trades)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketdata.tickers import TickerWindow, change_percent, ticker_body
from marketdata.units import AMOUNT_MAX, AMOUNT_QUANTUM


def window(open_: str, close: str, **kw) -> TickerWindow:
    o, c = Decimal(open_), Decimal(close)
    values = {"high": max(o, c), "low": min(o, c), "volume": Decimal(1), "trades": 2}
    values["quote_volume"] = o + c
    values.update(kw)
    return TickerWindow(open=o, close=c, **values)


@pytest.mark.parametrize(
    ("open_", "close", "expected"),
    [
        ("1000", "1000.05", "0.00"),  # 0.005: half to even, down
        ("1000", "1000.15", "0.02"),  # 0.015: up to the even digit
        ("1000", "1000.25", "0.02"),  # 0.025: down to the even digit (HALF_UP: 0.03)
        ("1000", "999.95", "0.00"),  # -0.005: no "-0.00"
        ("1000", "999.75", "-0.02"),  # -0.025
        ("1000", "1000.0500000000000001", "0.01"),  # just past the half
        ("100", "110", "10.00"),
        ("3", "1", "-66.67"),
        ("7", "7", "0.00"),
    ],
)
def test_change_percent_rounds_once_half_to_even(open_, close, expected):
    assert format(change_percent(Decimal(open_), Decimal(close)), "f") == expected


def test_change_percent_is_exact_across_any_storable_prices():
    assert (
        format(change_percent(AMOUNT_QUANTUM, AMOUNT_MAX), "f") == "9" * 37 + "800.00"
    )  # (10^38 - 2) x 100
    assert format(change_percent(AMOUNT_MAX, AMOUNT_QUANTUM), "f") == "-100.00"
    assert change_percent(Decimal(0), Decimal(1)) is None


def test_no_trades_in_the_window_is_null_and_last_stays_the_newest_price():
    expected = {
        "symbol": "A_B",
        "last": "7",
        "open": None,
        "high": None,
        "low": None,
        "volume": "0",
        "quote_volume": "0",
        "trades": 0,
        "change_percent": None,
        "best_bid": None,
        "best_ask": "8",
    }
    assert ticker_body("A_B", last=Decimal("7.00"), window=None, best_bid=None, best_ask="8") == (
        expected
    )
    never = ticker_body("A_B", last=None, window=None, best_bid=None, best_ask=None)
    assert never["last"] is None and never["change_percent"] is None


def test_a_window_is_written_as_the_contract_writes_decimals():
    body = ticker_body(
        "A_B",
        last=Decimal("1"),
        window=window("100.00", "110.50", volume=Decimal("1.50"), quote_volume=Decimal("1E+2")),
        best_bid="110",
        best_ask="111",
    )
    assert body == {
        "symbol": "A_B",
        "last": "110.5",
        "open": "100",
        "high": "110.5",
        "low": "100",
        "volume": "1.5",
        "quote_volume": "100",
        "trades": 2,
        "change_percent": "10.50",
        "best_bid": "110",
        "best_ask": "111",
    }
    huge = ticker_body(
        "A_B",
        last=None,
        window=window(str(AMOUNT_QUANTUM), str(AMOUNT_MAX), quote_volume=AMOUNT_MAX * 10**19),
        best_bid=None,
        best_ask=None,
    )
    assert huge["low"] == "0.000000000000000001" and huge["high"] == format(AMOUNT_MAX, "f")
    assert "E" not in huge["quote_volume"] and "E" not in huge["change_percent"]
