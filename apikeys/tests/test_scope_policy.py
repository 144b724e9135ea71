"""Which /api/v1 operations an API key may call, and with which scope: the whole table, so
that a new endpoint lets keys in only when someone writes it here (a view without
``api_key_scopes`` refuses them)."""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny

from apikeys.authentication import ApiKeySignatureAuthentication
from apikeys.permissions import ApiKeyScopes, view_scope

METHODS = ("get", "post", "put", "patch", "delete")

EXPECTED = {
    "GET /api/v1/auth/me": "read",
    "GET /api/v1/balances": "read",
    "GET /api/v1/orders": "read",
    "POST /api/v1/orders": "trade",
    "DELETE /api/v1/orders": "trade",
    "GET /api/v1/orders/{order_id}": "read",
    "DELETE /api/v1/orders/{order_id}": "trade",
    "PATCH /api/v1/orders/{order_id}": "trade",
    "POST /api/v1/order-lists": "trade",
    "GET /api/v1/order-lists/{list_id}": "read",
    "DELETE /api/v1/order-lists/{list_id}": "trade",
    "GET /api/v1/trades": "read",
}


def policy() -> dict[str, str]:
    """``METHOD path`` -> the scope a key needs, "public", "refused" or "UNGUARDED"."""
    table: dict[str, str] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                view = pattern.callback.view_class  # type: ignore[attr-defined]
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
                for method in METHODS:
                    if hasattr(view, method):
                        table[f"{method.upper()} {path}"] = verdict(view, method.upper())

    walk(get_resolver().url_patterns, "")
    return table


def verdict(view: type, method: str) -> str:
    if not any(issubclass(a, ApiKeySignatureAuthentication) for a in view.authentication_classes):
        return "refused"
    permissions = view.permission_classes
    if any(issubclass(p, ApiKeyScopes) for p in permissions):
        return view_scope(view, method) or "refused"
    if any(issubclass(p, AllowAny) for p in permissions):
        return "public"
    return "UNGUARDED"


def test_the_scopes_of_every_api_operation():
    table = policy()
    assert len(table) >= 20  # the walk found the API
    granted = {op: scope for op, scope in table.items() if scope not in ("public", "refused")}
    assert granted == EXPECTED
    assert table["POST /api/v1/auth/logout"] == "refused"
    assert table["POST /api/v1/api-keys"] == table["DELETE /api/v1/api-keys/{key_id}"] == "refused"
    assert table["GET /api/v1/markets"] == "public"
