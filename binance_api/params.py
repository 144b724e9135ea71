"""Reading Binance's request parameters: the query string and, for POST and DELETE, an
``application/x-www-form-urlencoded`` body (a name in both: the query string's value,
as Binance does). Each reader refuses in Binance's terms (-1100 illegal characters, -1102
a mandatory parameter missing or malformed, -1101 a parameter sent twice, -1108 too
large, -1111 too many decimals, -1130 out of range); every refusal names the parameter.

Decimals are plain ASCII digits with an optional fraction (Binance's legal range
``^([0-9]{1,20})(\\.[0-9]{1,20})?$``: no sign, no exponent, no underscores), and only
amounts the database can store (marketdata.units.is_storable)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rest_framework.request import Request

from apikit.parsers import unstorable
from binance_api import errors, symbols
from binance_api.errors import BinanceError
from marketdata.fields import BIGINT_MAX
from marketdata.units import AMOUNT_DECIMALS, EPOCH, is_storable

DECIMAL_RE = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
INTEGER_RE = re.compile(r"[0-9]{1,20}")
SYMBOL_RE = re.compile(r"[A-Z0-9\-_.]{1,40}")
MAX_TEXT = 100  # characters of any one parameter's value
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=EPOCH.tzinfo) - EPOCH) // timedelta(
    milliseconds=1
)


def illegal(name: str, legal: str | None = None) -> BinanceError:
    if legal is None:
        return BinanceError(
            errors.ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'."
        )
    return BinanceError(
        errors.ILLEGAL_CHARS,
        f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.",
    )


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        errors.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(errors.PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required.")


def invalid(name: str) -> BinanceError:
    return BinanceError(errors.INVALID_PARAMETER, f"Data sent for parameter '{name}' is not valid.")


class Params:
    """The parameters of one request."""

    def __init__(self, values: Mapping[str, list[str]]) -> None:
        for name, texts in values.items():
            if unstorable(name) or any(unstorable(v) for v in texts):
                raise illegal("query" if unstorable(name) else name)
        self._values = dict(values)

    @classmethod
    def of(cls, request: Request) -> Params:
        """The query string's parameters and a form body's (the query string's win)."""
        values: dict[str, list[str]] = {}
        sources: list[Any] = [request.query_params]
        if request.method not in ("GET", "HEAD") and hasattr(request.data, "lists"):
            sources.append(request.data)  # a form body (a QueryDict); JSON is not Binance's
        for source in sources:
            for name, texts in source.lists():
                values.setdefault(name, [str(v) for v in texts])
        return cls(values)

    def names(self) -> Iterable[str]:
        return self._values.keys()

    def sent(self, name: str) -> bool:
        return bool(self._values.get(name, [""])[-1])

    def text(self, name: str, *, required: bool = False) -> str | None:
        """The one value of ``name`` (an empty one is absent), or None."""
        values = self._values.get(name)
        if not values or values == [""]:
            if required:
                raise mandatory(name)
            return None
        if len(values) > 1:
            raise BinanceError(
                errors.TOO_MANY_PARAMETERS, f"Duplicate values for parameter '{name}' detected."
            )
        value = values[0]
        if len(value) > MAX_TEXT:
            raise illegal(name)
        return value

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        text = self.text(name, required=required)
        if text is None:
            return None
        if not DECIMAL_RE.fullmatch(text):
            raise illegal(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
        value = Decimal(text)  # below 10^20: at most 20 digits before the point
        if not is_storable(value):  # more than AMOUNT_DECIMALS decimals, trailing zeros aside
            raise BinanceError(
                errors.BAD_PRECISION,
                f"Parameter '{name}' has too much precision (at most {AMOUNT_DECIMALS}).",
            )
        return value

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        minimum: int = 0,
        maximum: int = BIGINT_MAX,
        default: int | None = None,
    ) -> int | None:
        text = self.text(name, required=required)
        if text is None:
            return default
        if not INTEGER_RE.fullmatch(text):
            raise illegal(name, "^[0-9]{1,20}$")
        value = int(text)
        if value > BIGINT_MAX:
            raise BinanceError(errors.PARAM_OVERFLOW, f"Parameter '{name}' overflowed.")
        if not minimum <= value <= maximum:
            raise invalid(name)
        return value

    def limit(self, name: str = "limit", *, default: int, maximum: int) -> int:
        """A number of items, 1 to ``maximum``."""
        value = self.integer(name, minimum=1, maximum=maximum, default=default)
        assert value is not None  # noqa: S101 - a default is given
        return value

    def moment(self, name: str) -> datetime | None:
        """A time in epoch milliseconds (startTime, endTime)."""
        value = self.integer(name, maximum=MAX_MS)
        return None if value is None else EPOCH + timedelta(milliseconds=value)

    def choice(
        self, name: str, choices: Iterable[str], error: BinanceError, **kw: Any
    ) -> str | None:
        text = self.text(name, **kw)
        if text is not None and text not in choices:
            raise error
        return text

    def boolean(self, name: str) -> bool:
        text = self.text(name)
        if text is None:
            return False
        if text.lower() not in ("true", "false"):
            raise illegal(name, "true, false")
        return text.lower() == "true"

    def symbol(self, name: str = "symbol", *, required: bool = True) -> str | None:
        """Our market symbol for the Binance one sent; -1121 if no market has it."""
        text = self.text(name, required=required)
        if text is None:
            return None
        return market_of(text)


def market_of(binance: str) -> str:
    """Our market symbol for a Binance symbol, or -1121 Invalid symbol."""
    if not SYMBOL_RE.fullmatch(binance):
        raise BinanceError(errors.BAD_SYMBOL, errors.INVALID_SYMBOL_MSG)
    symbol = symbols.to_ours(binance)
    if symbol is None:
        raise BinanceError(errors.BAD_SYMBOL, errors.INVALID_SYMBOL_MSG)
    return symbol
