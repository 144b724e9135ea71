"""Admin forms for the market catalogue (marketdata/admin.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from apikit.errors import InvalidInput
from marketdata.models import Asset, Market
from marketdata.selectors import market_units_of
from marketdata.services import market_validate

asset_symbol = RegexValidator(r"^[A-Z0-9]+$", "Letters and digits only, such as BTC.")
market_symbol = RegexValidator(
    r"^[A-Z0-9]+(_[A-Z0-9]+)*$", "Letters, digits and underscores, such as BTC_USDT."
)


class AssetForm(forms.ModelForm):
    class Meta:
        model = Asset
        fields = ["symbol", "decimals"]

    def clean_symbol(self) -> str:
        symbol = self.cleaned_data["symbol"].strip().upper()
        asset_symbol(symbol)
        return symbol


# A market's fields as an admin enters them; all read-only once it exists.
MARKET_FIELDS = (
    "symbol",
    "base",
    "quote",
    "tick_size",
    "lot_size",
    "min_quantity",
    "max_quantity",
    "max_price",
    "min_notional",
    "maker_fee_bps",
    "taker_fee_bps",
    "shard",
)


class MarketAddForm(forms.ModelForm):
    """A new market, checked as marketdata.services.market_create would check it (sizes
    that fit the assets' decimals), so that the admin's save cannot be refused."""

    class Meta:
        model = Market
        fields = list(MARKET_FIELDS)

    def clean_symbol(self) -> str:
        symbol = self.cleaned_data["symbol"].strip().upper()
        market_symbol(symbol)
        return symbol

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        needed = tuple(f for f in MARKET_FIELDS if f != "shard")  # what the rules use
        optional = ("max_price",)  # empty: derived (marketdata.units.max_price_default)
        if any(cleaned.get(name) is None for name in needed if name not in optional):
            return cleaned  # a field error is shown already
        if cleaned["base"] == cleaned["quote"]:
            self.add_error("quote", "The quote asset must differ from the base asset.")
            return cleaned
        if cleaned["min_quantity"] > cleaned["max_quantity"]:
            self.add_error("max_quantity", "The maximum must not be below the minimum.")
            return cleaned
        candidate = Market(**{name: cleaned.get(name) for name in needed})
        if cleaned.get("shard") is not None:
            candidate.shard = cleaned["shard"]
        try:
            market_validate(market_units_of(candidate))
        except InvalidInput as exc:
            self.add_error(exc.details.get("field"), exc.message)
        return cleaned
