"""Admin for the market catalogue: assets, markets and their trading status.

A market is created through marketdata.services.market_create and the engine is told of
it as soon as the admin's transaction commits; status changes go through
market_set_status. The engine has no command to change a market's sizes, rules or shard,
so everything but the status is read-only once a market exists (an edit would only reach
the engine at its next start, and the API would show rules the engine does not apply).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from apikit.errors import ExchangeError
from engine_worker.core.types import MarketStatus
from marketdata.forms import MARKET_FIELDS, AssetForm, MarketAddForm
from marketdata.models import Asset, Market
from marketdata.services import market_create, market_engine_sync, market_set_status


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    form = AssetForm
    list_display = ("symbol", "decimals")
    search_fields = ("symbol",)

    def get_readonly_fields(self, request: HttpRequest, obj: Asset | None = None) -> tuple:
        # Balances are counted in 10^-decimals units and keyed by the symbol.
        return ("symbol", "decimals") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Asset | None = None) -> bool:
        return False  # the engine may hold balances of it


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    add_form = MarketAddForm
    list_display = (
        "symbol",
        "status",
        "base",
        "quote",
        "tick_size",
        "lot_size",
        "min_notional",
        "maker_fee_bps",
        "taker_fee_bps",
        "shard",
    )
    list_filter = ("status", "shard")
    list_select_related = ("base", "quote")
    search_fields = ("symbol",)
    actions = ("halt", "resume", "cancel_only")

    def get_form(
        self, request: HttpRequest, obj: Market | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Market | None = None) -> tuple:
        if obj is None:
            return MARKET_FIELDS
        return (*MARKET_FIELDS, "status", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Market | None = None) -> tuple:
        return self.get_fields(request, obj) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Market | None = None) -> bool:
        return False  # the engine has no command to remove a market

    def save_model(self, request: HttpRequest, obj: Market, form: ModelForm, change: bool) -> None:
        if change:  # every field is read-only: nothing to save
            return
        market = market_create(
            symbol=obj.symbol,
            base=obj.base.symbol,
            quote=obj.quote.symbol,
            tick_size=obj.tick_size,
            lot_size=obj.lot_size,
            min_quantity=obj.min_quantity,
            max_quantity=obj.max_quantity,
            max_price=obj.max_price,
            min_notional=obj.min_notional,
            maker_fee_bps=obj.maker_fee_bps,
            taker_fee_bps=obj.taker_fee_bps,
            shard=obj.shard,
            notify_engine=False,  # not while the admin's transaction is open: on commit
        )
        obj.pk, obj.status, obj.created_at = market.pk, market.status, market.created_at
        obj._state.adding, obj._state.db = False, market._state.db
        transaction.on_commit(partial(self._engine_sync, request, market))

    @staticmethod
    def _engine_sync(request: HttpRequest, market: Market) -> None:
        try:
            market_engine_sync(market=market)
        except ExchangeError as exc:
            messages.error(
                request,
                f"Market {market.symbol} is saved, but the engine was not told ({exc.code}: "
                f"{exc.message}). It will trade once the engine restarts.",
            )

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Market], status: MarketStatus
    ) -> None:
        done = []
        for market in queryset.select_related("base", "quote"):
            try:
                market_set_status(market=market, status=status)
            except ExchangeError as exc:
                self.message_user(
                    request, f"{market.symbol}: {exc.code}: {exc.message}", messages.ERROR
                )
            else:
                done.append(market.symbol)
                self.log_change(request, market, f"Set status to {status.value}.")
        if done:
            self.message_user(request, f"{', '.join(done)}: now {status.value}.", messages.SUCCESS)

    @admin.action(
        description="Halt selected markets (no orders, no cancels)", permissions=["change"]
    )
    def halt(self, request: HttpRequest, queryset: QuerySet[Market]) -> None:
        self._set_status(request, queryset, MarketStatus.HALTED)

    @admin.action(description="Resume trading on selected markets", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Market]) -> None:
        self._set_status(request, queryset, MarketStatus.TRADING)

    @admin.action(description="Set selected markets to cancel-only", permissions=["change"])
    def cancel_only(self, request: HttpRequest, queryset: QuerySet[Market]) -> None:
        self._set_status(request, queryset, MarketStatus.CANCEL_ONLY)
