"""The user admin, plus a "Balances and orders" page per user.

Balances and orders live in the engine and its read model, so the page reads them
through accounts.selectors and orders.selectors and acts through the services (deposit,
withdraw, cancel, cancel all); a service's refusal becomes an admin error message. Every
view needs a staff user with the change permission on users, and every action is
recorded in the admin log of the user.

Balances, the ledger and transfers as the DB processor persisted them are shown
read-only; a balance links to its ledger (the ledger list filtered by user and asset) and
shows its latest movements on its page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from accounts.forms import BalanceMoveForm
from accounts.models import Balance, LedgerEntry, Transfer
from accounts.selectors import balance_list
from accounts.services import balance_deposit, balance_withdraw
from apikit.errors import ExchangeError
from orders.admin import (
    ReadOnlyAdmin,
    admin_open_orders,
    admin_order_cancel,
    admin_orders_cancel_all,
    username_of,
)
from orders.models import OrderLimit
from orders.services import order_limit_sync

LEDGER_ON_BALANCE_PAGE = 50

User = get_user_model()

admin.site.unregister(User)


class OrderLimitInline(admin.StackedInline):
    """The user's own open-order limit per market; none: settings.MAX_OPEN_ORDERS_PER_MARKET.
    Saving it tells the engine at once (ExchangeUserAdmin.save_related)."""

    model = OrderLimit
    can_delete = True
    max_num = 1
    extra = 0
    verbose_name = "own limit of open orders per market"
    verbose_name_plural = verbose_name


@admin.register(User)
class ExchangeUserAdmin(UserAdmin):
    change_form_template = "admin/accounts/user/change_form.html"
    balances_template = "admin/accounts/user/balances.html"
    list_display = (*UserAdmin.list_display, "balances_link")  # type: ignore[misc]  # a tuple of names
    inlines = (OrderLimitInline,)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if any(f.model is OrderLimit and f.has_changed() for f in formsets):
            user = form.instance
            try:
                limit = order_limit_sync(user_id=user.pk)
            except ExchangeError as exc:
                messages.warning(
                    request,
                    f"The open-order limit is saved; the engine could not be told now "
                    f"({exc.code}) and applies it at its next start.",
                )
            else:
                shown = "the default" if limit is None else str(limit)
                self.log_change(request, user, f"Open orders per market: {shown}.")
                messages.success(request, f"The engine now allows {shown} open orders per market.")

    @admin.display(description="Balances and orders")
    def balances_link(self, user: Any) -> str:
        return format_html('<a href="{}">Balances and orders</a>', self._balances_url(user.pk))

    def _balances_url(self, user_id: int) -> str:
        opts = self.opts
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_balances",
            args=[user_id],
        )

    def get_urls(self) -> list[URLPattern]:
        def view(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(function)

        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/balances/", view(self.balances_view), name=f"{name}_balances"),
            path(
                "<path:object_id>/balances/deposit/",
                view(self.deposit_view),
                name=f"{name}_deposit",
            ),
            path(
                "<path:object_id>/balances/withdraw/",
                view(self.withdraw_view),
                name=f"{name}_withdraw",
            ),
            path(
                "<path:object_id>/orders/<int:order_id>/cancel/",
                view(self.order_cancel_view),
                name=f"{name}_order_cancel",
            ),
            path(
                "<path:object_id>/orders/cancel-all/",
                view(self.orders_cancel_all_view),
                name=f"{name}_orders_cancel_all",
            ),
            *super().get_urls(),
        ]

    def _user_for_change(self, request: HttpRequest, object_id: str) -> Any:
        user = self.get_object(request, unquote(object_id))
        if user is None:
            raise Http404("No such user.")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        return user

    # -- the page ----------------------------------------------------------------------

    def balances_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        user = self._user_for_change(request, object_id)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        try:
            balances = balance_list(user_id=user.pk)
            orders = admin_open_orders(user_id=user.pk)
        except (ExchangeError, redis.RedisError) as exc:  # the read model is unreachable
            messages.error(request, f"Cannot read the balances and orders: {exc}")
            balances, orders = [], []
        context = {
            **self.admin_site.each_context(request),
            "title": f"Balances and orders of {user.username}",
            "subtitle": None,
            "opts": self.opts,
            "original": user,
            "balances": balances,
            "orders": orders,
            "order_symbols": sorted({o["symbol"] for o in orders}),
            "deposit_form": BalanceMoveForm(auto_id="id_deposit_%s"),
            "withdraw_form": BalanceMoveForm(auto_id="id_withdraw_%s"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.balances_template, context)

    # -- the actions (POST, then back to the page) -------------------------------------

    def _move(
        self, request: HttpRequest, object_id: str, move: Callable[..., dict], verb: str
    ) -> HttpResponse:
        user = self._user_for_change(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = BalanceMoveForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Nothing {verb}: {form.errors_text()}")
            return redirect(self._balances_url(user.pk))
        asset, amount = form.cleaned_data["asset"].symbol, form.cleaned_data["amount"]
        try:
            balance = move(user_id=user.pk, asset=asset, amount=amount)
        except ExchangeError as exc:
            messages.error(request, f"Nothing {verb} ({exc.code}): {exc.message}")
        else:
            line = f"{verb.capitalize()} {amount} {asset}."
            self.log_change(request, user, line)
            messages.success(
                request,
                f"{line} {asset} now: available {balance['available']}, "
                f"locked {balance['locked']}.",
            )
        return redirect(self._balances_url(user.pk))

    def deposit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._move(request, object_id, balance_deposit, "deposited")

    def withdraw_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._move(request, object_id, balance_withdraw, "withdrawn")

    def order_cancel_view(
        self, request: HttpRequest, object_id: str, order_id: int
    ) -> HttpResponse:
        user = self._user_for_change(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        line = admin_order_cancel(request, user_id=user.pk, order_id=order_id)
        if line:
            self.log_change(request, user, line)
        return redirect(self._balances_url(user.pk))

    def orders_cancel_all_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        user = self._user_for_change(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        symbol = request.POST.get("symbol", "").strip().upper() or None
        line = admin_orders_cancel_all(request, user_id=user.pk, symbol=symbol)
        if line:
            self.log_change(request, user, line)
        return redirect(self._balances_url(user.pk))


# -- the persisted history, read-only -----------------------------------------------------


def _ledger_url(user_id: int, asset: str) -> str:
    params: dict[str, int | str] = {"user_id": user_id, "asset": asset}
    query = urlencode(params)
    return f"{reverse('admin:accounts_ledgerentry_changelist')}?{query}"


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "username", "asset", "available", "locked", "sequence", "ledger")
    list_filter = ("asset",)
    search_fields = ("user__username", "asset")
    id_search_fields = ("user_id",)
    fields = ("user_id", "username", "asset", "available", "locked", "sequence", "ledger_table")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(username=username_of("user_id"))

    @admin.display(description="username")
    def username(self, balance: Any) -> str | None:
        return balance.username

    @admin.display(description="ledger")
    def ledger(self, balance: Balance) -> str:
        return format_html('<a href="{}">ledger</a>', _ledger_url(balance.user_id, balance.asset))

    @admin.display(description="latest ledger entries")
    def ledger_table(self, balance: Balance) -> str:
        entries = LedgerEntry.objects.filter(user_id=balance.user_id, asset=balance.asset)[
            :LEDGER_ON_BALANCE_PAGE
        ]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    e.id,
                    e.time,
                    e.cause,
                    e.delta_available,
                    e.delta_locked,
                    e.sequence,
                    e.trade_id or "",
                    e.order_id or "",
                )
                for e in entries
            ),
        )
        return format_html(
            "<table><thead><tr><th>id</th><th>time</th><th>cause</th><th>available</th>"
            "<th>locked</th><th>sequence</th><th>trade</th><th>order</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}">The whole ledger of this balance</a></p>',
            rows,
            _ledger_url(balance.user_id, balance.asset),
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "time",
        "user_id",
        "username",
        "asset",
        "cause",
        "delta_available",
        "delta_locked",
        "sequence",
        "trade_id",
        "order_id",
    )
    list_filter = ("cause", "asset")
    search_fields = ("user__username", "asset")
    id_search_fields = ("id", "user_id", "trade_id", "order_id", "sequence")
    date_hierarchy = "time"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(username=username_of("user_id"))

    @admin.display(description="username")
    def username(self, entry: Any) -> str | None:
        return entry.username


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "time", "user_id", "username", "asset", "kind", "amount")
    list_filter = ("kind", "asset")
    search_fields = ("user__username", "asset")
    id_search_fields = ("id", "user_id", "sequence")
    date_hierarchy = "time"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(username=username_of("user_id"))

    @admin.display(description="username")
    def username(self, transfer: Any) -> str | None:
        return transfer.username
