"""Serializer fields for the contract's inputs: decimal strings, whole numbers and
points in time. Each accepts only the plain ASCII forms the contract documents: Python's
own parsers (Decimal(), int(), datetime.fromisoformat) also take underscores ("1_000")
and any Unicode digit ("\uff11", "\u0661"), which no client means to send."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Model
from rest_framework import serializers

from marketdata.units import AMOUNT_DECIMALS, AMOUNT_LIMIT, EPOCH, is_storable, plain

MAX_TEXT = 64  # characters of a decimal string; longer is refused before it is parsed
# a decimal on the wire: optional sign, ASCII digits, optional fraction, optional exponent
DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
WHOLE_RE = re.compile(r"[0-9]+")
ASCII_SPACE = " \t\r\n"  # stripped around a decimal or a time (str.strip() takes any Unicode space)
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59, seconds=59)  # PostgreSQL's own limit
BIGINT_MAX = 2**63 - 1  # PostgreSQL's bigint


class DecimalString(serializers.Field):
    """A positive decimal given as a string (numbers are accepted too, but a float on the
    wire may already have lost digits). Plain ASCII only (DECIMAL_RE): no underscores, no
    other scripts' digits, no "NaN" or "Infinity". Exponent forms are read exactly ("1e-5" is
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
        text = str(data).strip(ASCII_SPACE)
        if len(text) > MAX_TEXT:
            self.fail("range")
        if not DECIMAL_RE.fullmatch(text):
            self.fail("invalid")
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


def column_length(model: type[Model], name: str) -> int:
    """The max_length of a model's text column: a serializer field over it takes no more
    (longer text would reach PostgreSQL as a DataError, a 500)."""
    length = getattr(model._meta.get_field(name), "max_length", None)  # relations have none
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{name} has no max_length")
    return length


class WholeNumber(serializers.IntegerField):
    """A whole number from ``min_value`` to ``max_value`` (inclusive), given as ASCII digits
    (a query parameter) or a JSON integer. DRF's IntegerField goes through int(), which
    also takes "1_0", "\u0661\u0660", " 10 " and "10.0"; this refuses them. An empty
    query parameter is an absent one (DRF's rule for form-style input)."""

    default_error_messages = {
        "invalid": "Must be a whole number written in digits 0-9.",
        "long": f"Must be a whole number of at most {MAX_TEXT} digits.",
    }

    def __init__(self, *, min_value: int = 0, max_value: int | None = BIGINT_MAX, **kwargs: Any):
        if max_value is not None:
            kwargs["max_value"] = max_value
        super().__init__(min_value=min_value, **kwargs)

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if not isinstance(data, str) or not WHOLE_RE.fullmatch(data):
            self.fail("invalid")
        if len(data) > MAX_TEXT:
            self.fail("long")
        return int(data)


def whole_number(data: object, *, name: str, **kwargs: Any) -> int:
    """``data`` read by a WholeNumber field, or a ValidationError (a 400, invalid_input)
    whose details name the parameter: for what reads a query parameter without a
    serializer (pagination)."""
    try:
        return WholeNumber(**kwargs).run_validation(data)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


class CappedLimit(WholeNumber):
    """A page size: at least 1; anything past ``cap`` is served as ``cap``."""

    def __init__(self, *, cap: int, **kwargs: Any) -> None:
        self.cap = cap
        super().__init__(min_value=1, max_value=None, **kwargs)

    def to_internal_value(self, data: object) -> int:
        return min(super().to_internal_value(data), self.cap)


class MomentField(serializers.Field):
    """A point in time given as epoch milliseconds or ISO 8601 (UTC when no offset),
    normalised to UTC (the offset itself never reaches the database). Only what
    PostgreSQL can take: years 1-9999 once in UTC (Python's datetime range, inside
    timestamptz's), ASCII digits, and an offset PostgreSQL would take too: within
    +-15:59:59 and in whole seconds (Python's parser takes up to +-23:59:59.999999)."""

    default_error_messages = {
        "invalid": "Must be epoch milliseconds or an ISO 8601 time, such as "
        '"1700000000000" or "2023-11-14T22:13:20Z".',
        "range": "Out of range: times are from year 1 to year 9999 (UTC).",
        "offset": "The UTC offset must be a whole number of seconds within +-15:59:59.",
    }

    def to_internal_value(self, data: object) -> datetime:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        text = str(data).strip(ASCII_SPACE)
        if not text.isascii() or len(text) > 64:
            self.fail("invalid")
        if re.fullmatch(r"-?[0-9]+", text):
            if len(text.lstrip("-").lstrip("0")) > 15:
                self.fail("range")
            try:
                return EPOCH + timedelta(milliseconds=int(text))
            except OverflowError:
                self.fail("range")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        offset = moment.utcoffset()
        if offset is None or offset.microseconds or abs(offset) > MAX_UTC_OFFSET:
            self.fail("offset")
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail("range")

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()
