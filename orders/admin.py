"""Admin for orders.

Live orders are in the engine and its read model: a user's open orders are shown, and
cancelled, on the user admin's "Balances and orders" page (accounts/admin.py), which
routes its cancel buttons to the functions below. They read through orders.selectors,
act through orders.services and turn every service error into an admin message.

The database's orders and trades are the DB processor's copy of the engine's history:
the admin shows them read-only (:class:`ReadOnlyAdmin`, shared with accounts/admin.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest

from apikit.admin_base import NoWritesAdmin
from apikit.errors import ExchangeError
from orders.models import Order, Trade
from orders.selectors import order_list
from orders.services import order_cancel, order_cancel_all


def username_of(field: str) -> Subquery:
    """The username of the user in ``field``, as a subquery: user references have no
    database constraint (a row may name a user the database does not hold), so a join
    would drop such rows."""
    users = get_user_model().objects.filter(pk=OuterRef(field)).values("username")[:1]
    return Subquery(users)


class ReadOnlyAdmin(NoWritesAdmin):
    """A list and a detail page, never an add, change or delete: these rows are the DB
    processor's copy of what the engine did, and only it writes them.

    ``id_search_fields`` are integer fields matched exactly when the search term is a
    number (by index, no cast); ``search_fields`` take the other terms."""

    id_search_fields: tuple[str, ...] = ()
    list_per_page = 50
    show_full_result_count = False  # no count(*) over a large history on every page

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if term.isdigit() and self.id_search_fields:
            number = int(term)
            if number < 2**63:
                match = Q()
                for name in self.id_search_fields:
                    match |= Q(**{name: number})
                return queryset.filter(match), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user_id",
        "username",
        "symbol",
        "side",
        "type",
        "price",
        "quantity",
        "filled_quantity",
        "status",
        "created_at",
        "sequence",
    )
    list_filter = ("status", "side", "type", "symbol")
    search_fields = ("user__username", "symbol", "client_order_id")
    id_search_fields = ("id", "user_id")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).annotate(username=username_of("user_id"))

    @admin.display(description="username")
    def username(self, order: Any) -> str | None:
        return order.username


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "symbol",
        "price",
        "quantity",
        "quote_quantity",
        "taker_side",
        "maker_user_id",
        "maker_username",
        "maker_order_id",
        "taker_user_id",
        "taker_username",
        "taker_order_id",
        "maker_fee",
        "taker_fee",
        "time",
    )
    list_filter = ("symbol", "taker_side")
    search_fields = ("symbol", "maker_user__username", "taker_user__username")
    id_search_fields = ("id", "maker_user_id", "taker_user_id", "maker_order_id", "taker_order_id")
    date_hierarchy = "time"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Trade]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                maker_username=username_of("maker_user_id"),
                taker_username=username_of("taker_user_id"),
            )
        )

    @admin.display(description="maker")
    def maker_username(self, trade: Any) -> str | None:
        return trade.maker_username

    @admin.display(description="taker")
    def taker_username(self, trade: Any) -> str | None:
        return trade.taker_username


def admin_open_orders(*, user_id: int) -> list[dict[str, Any]]:
    return order_list(user_id=user_id, status="open")


def admin_order_cancel(request: HttpRequest, *, user_id: int, order_id: int) -> str | None:
    """Cancel one open order of the user; returns a line for the admin log, or None."""
    try:
        cancelled = order_cancel(user_id=user_id, order_id=order_id)
    except ExchangeError as exc:
        messages.error(request, f"Order {order_id} not cancelled ({exc.code}): {exc.message}")
        return None
    line = f"Cancelled order {cancelled['id']} ({cancelled['symbol']} {cancelled['side']})."
    messages.success(request, line)
    return line


def admin_orders_cancel_all(
    request: HttpRequest, *, user_id: int, symbol: str | None = None
) -> str | None:
    """Cancel every open order of the user (in one market); returns a log line, or None."""
    try:
        cancelled = order_cancel_all(user_id=user_id, symbol=symbol)
    except ExchangeError as exc:
        messages.error(request, f"Orders not cancelled ({exc.code}): {exc.message}")
        return None
    where = f" in {symbol}" if symbol else ""
    line = f"Cancelled {len(cancelled)} open orders{where}."
    messages.success(request, line)
    return line
