"""Serializer fields for the contract's decimal strings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rest_framework import serializers

MAX_DECIMAL = Decimal(10) ** 30


class DecimalString(serializers.Field):
    """A positive decimal given as a string (numbers are accepted too, but a float on the
    wire may already have lost digits). Rejects NaN, infinities, exponents past 10^30 and
    more than 18 decimals, so absurd input is a 400, never an overflow."""

    default_error_messages = {
        "invalid": 'Must be a decimal number given as a string, such as "0.01".',
        "positive": "Must be greater than zero.",
        "range": "Out of range.",
    }

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        text = str(data).strip()
        if len(text) > 64:
            self.fail("range")
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if abs(value) >= MAX_DECIMAL or value.as_tuple().exponent < -18:  # type: ignore[operator]
            self.fail("range")
        if value < 0 or (value == 0 and not self.allow_zero):
            self.fail("positive")
        return value

    def to_representation(self, value: Decimal) -> str:
        return format(value.normalize(), "f") if value else "0"
