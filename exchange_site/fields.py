"""Serializer fields for the contract's decimal strings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from marketdata.units import AMOUNT_DECIMALS, AMOUNT_LIMIT, is_storable, plain

MAX_TEXT = 64  # characters of a decimal string; longer is refused before it is parsed


class DecimalString(serializers.Field):
    """A positive decimal given as a string (numbers are accepted too, but a float on the
    wire may already have lost digits). Exponent forms are read exactly ("1e-5" is
    0.00001). Only amounts the database can store are accepted: below 10^20, at most 18
    decimals (marketdata.units.AMOUNT); NaN, infinities, huge exponents and longer
    fractions are a 400, never an overflow."""

    default_error_messages = {
        "invalid": 'Must be a decimal number given as a string, such as "0.01".',
        "positive": "Must be greater than zero.",
        "range": (
            f"Out of range: amounts are below {AMOUNT_LIMIT:f} "
            f"with at most {AMOUNT_DECIMALS} decimals."
        ),
    }

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        text = str(data).strip()
        if len(text) > MAX_TEXT:
            self.fail("range")
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if not is_storable(value):
            self.fail("range")
        if value.is_signed() and not value.is_zero():
            self.fail("positive")
        if value.is_zero() and not self.allow_zero:
            self.fail("positive")
        return value

    def to_representation(self, value: Decimal) -> str:
        return plain(value)


class DecimalText(serializers.CharField):
    """A decimal amount as responses write it: a string in plain notation (no exponent,
    no trailing zeros), signed only where the value can be negative (a ticker's change).
    Output only: it documents the response bodies (OpenAPI ``format: decimal``)."""
