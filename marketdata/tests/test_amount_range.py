"""The database's amount range (numeric(38,18)) and the one decimal context: every value
the edge accepts is storable, and no conversion of a storable value rounds or raises."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine_worker import wire
from engine_worker.core import events as e
from engine_worker.core.types import OrderStatus, OrderType, Side, TimeInForce
from marketdata.fields import DecimalString
from marketdata.units import (
    AMOUNT_MAX,
    CONTEXT,
    MarketUnits,
    NotAMultiple,
    exact_units,
    is_storable,
    market_units_from_wire,
    market_units_to_wire,
    max_price_default,
)


def units(**overrides) -> MarketUnits:
    fields = dict(
        symbol="BIG_WEI", base="BIG", quote="WEI", base_decimals=18, quote_decimals=18,
        tick_size=Decimal("0.000000000000000001"), lot_size=Decimal("1"),
        min_quantity=Decimal(0), max_quantity=Decimal(1_000_000), min_notional=Decimal(0),
        maker_fee_bps=10, taker_fee_bps=20, status="trading", shard=0,
    )  # fmt: skip
    return MarketUnits(**{**fields, **overrides})


@pytest.mark.parametrize(
    "text",
    ["0", "1", "99999999999999999999.999999999999999999", "0.000000000000000001",
     "1e-5", "1.000000000000000000000000", "-99999999999999999999"],
)  # fmt: skip
def test_storable_amounts(text):
    assert is_storable(Decimal(text))


@pytest.mark.parametrize(
    "text",
    ["100000000000000000000", "1e20", "1E+999999999", "0.0000000000000000001", "1e-19",
     "99999999999999999999.9999999999999999999", "NaN", "sNaN", "Infinity", "-1e20"],
)  # fmt: skip
def test_unstorable_amounts(text):
    assert not is_storable(Decimal(text))


def test_exact_units_never_rounds_a_38_digit_amount():
    # Decimal's default 28-digit context rounded this quotient and counted wrong units
    value = Decimal("12345678901234567890.123456789012345678")
    assert exact_units(value, Decimal("1E-18")) == 12345678901234567890123456789012345678
    with pytest.raises(NotAMultiple):
        exact_units(Decimal("1.0000000000000000000000000000000000001"), Decimal(1))


def test_rules_of_sizes_with_many_digits_are_exact():
    # 10^19 / 10^-18 lots: past the default context's 28 digits (it raised there)
    big = units(max_quantity=Decimal("10000000000000000000"), max_price=Decimal("0.000001"))
    assert big.rules().max_quantity == 10**19
    assert big.rules().max_price == 10**12


def _filled(quote_units: int, lots: int) -> e.OrderUpdated:
    return e.OrderUpdated(
        seq=1, order_id=1, user_id=1, symbol="BIG_WEI", side=Side.BUY, type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, post_only=False, price=1, quantity=lots,
        filled_quantity=lots, filled_quote=quote_units, status=OrderStatus.FILLED,
        client_order_id=None, created_ts=0, updated_ts=0,
    )  # fmt: skip


def test_average_price_of_an_18_decimal_quote_at_a_price_of_10_to_the_10():
    # 10^10 to 18 decimals is 29 digits: the default context raised InvalidOperation
    market = units(tick_size=Decimal(1))
    body = wire.order_json_text(_filled(3 * 10**10 * 10**18, 3), market)[0]
    assert body["average_price"] == "10000000000"
    third = wire.order_json_text(_filled(10**10 * 10**18 + 1, 3), market)[0]  # rounds half even
    assert third["average_price"] == "3333333333.333333333333333334"


@pytest.mark.parametrize(
    ("tick", "max_quantity"),
    [("0.01", "1000000"), ("0.000000000000000001", "1"), ("7", "0.3"), ("1", "1E-18")],
)
def test_the_default_max_price_is_the_highest_tick_whose_notional_is_storable(tick, max_quantity):
    tick, max_quantity = Decimal(tick), Decimal(max_quantity)
    price = max_price_default(tick, max_quantity)
    assert CONTEXT.remainder(price, tick) == 0
    assert is_storable(price) and CONTEXT.multiply(price, max_quantity) <= AMOUNT_MAX
    above = CONTEXT.add(price, tick)
    assert not is_storable(above) or CONTEXT.multiply(above, max_quantity) > AMOUNT_MAX


def test_the_market_wire_carries_max_price_and_old_entries_get_the_default():
    market = units(max_price=Decimal("12.5"))
    assert market_units_from_wire(market_units_to_wire(market)).max_price == Decimal("12.5")
    old = market_units_to_wire(units())
    del old["max_price"]  # a log or snapshot from before the field
    restored = market_units_from_wire(old)
    assert restored.max_price == max_price_default(Decimal("1E-18"), Decimal(1_000_000))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1e-5", Decimal("0.00001")), (1, Decimal(1)), ("0.000000000000000001", Decimal("1E-18")),
     ("99999999999999999999.999999999999999999", AMOUNT_MAX),
     ("1.50000000000000000000", Decimal("1.5"))],
)  # fmt: skip
def test_decimal_strings_in_range_are_read_exactly(value, expected):
    assert DecimalString().to_internal_value(value) == expected


@pytest.mark.parametrize(
    "value",
    ["100000000000000000000", "1e20", "100000000000000000000.5", "1E+999999999",
     "1e-999999999", "0.0000000000000000001", "NaN", "Infinity", "-Infinity", "sNaN",
     10**20, 1e20, float("nan"), "1" * 65],
)  # fmt: skip
def test_decimal_strings_out_of_range_are_refused(value):
    from rest_framework.exceptions import ValidationError

    with pytest.raises(ValidationError):
        DecimalString().to_internal_value(value)
