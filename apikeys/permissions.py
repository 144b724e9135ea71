"""Scopes: what a request authenticated by an API key may do (see authentication.py).

- ``ApiKeyScopes`` (a default permission of /api/v1): a request authenticated by a key
  reaches a view only if the view declares the scope its method needs,
  ``api_key_scopes = {"GET": Scope.READ, "POST": Scope.TRADE}``, and the key has it.
  Requests authenticated otherwise (token, session) pass untouched.
- ``api_key_required(scope)`` (the Binance facade's SIGNED endpoints): the request must be
  authenticated by a key (else -2014 without X-MBX-APIKEY, -1102 when not signed) that
  has ``scope``.

Every refusal is an ``apikeys.errors.ApiKeyError`` (-2015 for a scope).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apikeys import errors
from apikeys.models import ApiKey, Scope

logger = logging.getLogger(__name__)


def check_scope(key: ApiKey, scope: str | None) -> None:
    """Refuse (-2015) unless ``key`` has ``scope`` (None: the action takes no key)."""
    if scope is None or scope not in key.scopes:
        logger.info("api key %d: refused, needs scope %s, has %s", key.pk, scope, key.scopes)
        raise errors.key_rejected()


def view_scope(view: Any, method: str) -> str | None:
    """The scope ``view`` asks of an API key for ``method``; None: keys may not call it."""
    scopes: Mapping[str, str] = getattr(view, "api_key_scopes", {})
    if method == "HEAD":
        method = "GET"
    return scopes.get(method)


class ApiKeyScopes(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            check_scope(request.auth, view_scope(view, request.method or ""))
        return True


def api_key_required(scope: Scope | str) -> type[BasePermission]:
    """A permission class: authenticated by an API key that has ``scope``."""

    class ApiKeyRequired(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            key = request.auth
            if not isinstance(key, ApiKey):
                if request.META.get("HTTP_X_MBX_APIKEY") is None:
                    raise errors.key_format_invalid()
                raise errors.parameter_missing("timestamp")
            check_scope(key, str(scope))
            return True

    ApiKeyRequired.__name__ = ApiKeyRequired.__qualname__ = f"ApiKeyRequired_{scope}"
    return ApiKeyRequired
