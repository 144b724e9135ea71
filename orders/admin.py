"""Admin helpers for orders. Orders live in the engine and its read model, not in a
database table (yet), so there is no ModelAdmin here: a user's open orders are shown,
and cancelled, on the user admin's "Balances and orders" page (accounts/admin.py),
which routes its cancel buttons to these functions. They read through orders.selectors,
act through orders.services and turn every service error into an admin message."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from exchange_site.errors import ExchangeError
from orders.selectors import order_get, order_list
from orders.services import order_cancel, order_cancel_all


def admin_open_orders(*, user_id: int) -> list[dict[str, Any]]:
    return order_list(user_id=user_id, status="open")


def admin_order_cancel(request: HttpRequest, *, user_id: int, order_id: int) -> str | None:
    """Cancel one open order of the user; returns a line for the admin log, or None."""
    try:
        order = order_get(user_id=user_id, order_id=order_id)
        cancelled = order_cancel(user_id=user_id, order_id=order_id, symbol=order["symbol"])
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
