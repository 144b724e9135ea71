"""Decimal strings <-> the engine's integers: exact, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketdata.units import MarketUnits, NotAMultiple, exact_units, format_scaled, format_units


def btc_usdt(**overrides) -> MarketUnits:
    fields = dict(
        symbol="BTC_USDT", base="BTC", quote="USDT", base_decimals=8, quote_decimals=8,
        tick_size=Decimal("0.01"), lot_size=Decimal("0.00001"), min_quantity=Decimal("0.0001"),
        max_quantity=Decimal(100), min_notional=Decimal("5"), maker_fee_bps=10,
        taker_fee_bps=20, status="trading", shard=0,
    )  # fmt: skip
    return MarketUnits(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [("0.01", "0.01", 1), ("30000.00", "0.01", 3_000_000), ("0.5", "0.25", 2), ("0", "1", 0)],
)
def test_exact_units_counts_whole_units(value, unit, expected):
    assert exact_units(Decimal(value), Decimal(unit)) == expected


@pytest.mark.parametrize(
    ("value", "unit"),
    [("0.001", "0.01"), ("1E+400", "0.01"), ("0.3", "0.25"), ("1", "0")],
)
def test_exact_units_refuses_what_is_not_a_whole_number_of_units(value, unit):
    with pytest.raises(NotAMultiple):
        exact_units(Decimal(value), Decimal(unit))


@pytest.mark.parametrize(
    ("n", "k", "text"),
    [(0, 8, "0"), (1, 8, "0.00000001"), (123_456, 2, "1234.56"), (100, 2, "1"),
     (-250, 2, "-2.5"), (7, 0, "7"), (10**20 + 5, 8, "1000000000000.00000005")],
)  # fmt: skip
def test_format_scaled_prints_plain_decimals_without_trailing_zeros(n, k, text):
    assert format_scaled(n, k) == text
    assert Decimal(text) == Decimal(n).scaleb(-k)


@pytest.mark.parametrize("unit", ["0.01", "0.25", "10", "1", "0.00000001"])
def test_format_units_agrees_with_decimal_arithmetic(unit):
    for n in (0, 1, -3, 7, 12_345_678_901, 10**18):
        expected = Decimal(n) * Decimal(unit)
        assert Decimal(format_units(n, Decimal(unit))) == expected
        assert "E" not in format_units(n, Decimal(unit))


def test_rules_turn_decimal_sizes_into_the_engines_integers():
    rules = btc_usdt().rules()
    assert rules.base_per_lot == 1_000  # 0.00001 BTC in satoshi
    assert rules.quote_per_tick_lot == 10  # 0.01 * 0.00001 USDT in 1e-8 units
    assert rules.min_quantity == 10  # 0.0001 / 0.00001 lots
    assert rules.max_quantity == 10_000_000
    assert rules.min_notional == 500_000_000  # 5 USDT


def test_sizes_finer_than_the_assets_decimals_are_refused():
    with pytest.raises(NotAMultiple):
        btc_usdt(lot_size=Decimal("0.000000001")).rules()
    with pytest.raises(NotAMultiple):  # a tick times a lot below one quote unit
        btc_usdt(tick_size=Decimal("0.0000001")).rules()


def test_prices_and_quantities_round_trip():
    units = btc_usdt()
    assert units.price_to_ticks(Decimal("30000.01")) == 3_000_001
    assert units.ticks_to_price(3_000_001) == "30000.01"
    assert units.lots_to_quantity(units.quantity_to_lots(Decimal("1.23450"))) == "1.2345"
