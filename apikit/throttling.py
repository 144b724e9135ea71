"""Rate limits (429 in the contract's error shape), counted in each web process's memory,
and the one rule for a request's client address.

With N web processes a client gets at most N times the rate; a Redis-backed count would
cost two round trips on every request for a limit that only needs to be approximate."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import throttling

from apikit.errors import error_body, login_refused_page

logger = logging.getLogger(__name__)


def client_address(request: Any) -> str:
    """The client's address: the socket's peer (REMOTE_ADDR), unless
    settings.TRUSTED_PROXY_COUNT proxies in front each append the address they saw to
    X-Forwarded-For; then the entry that many from the right (the one the outermost
    trusted proxy wrote), falling back to the peer when that entry is missing or not an
    address. A client's own X-Forwarded-For is never believed without trusted proxies.
    Used by the rate limits and by django-axes (AXES_CLIENT_IP_CALLABLE); takes a Django
    or DRF request (or anything with META)."""
    meta = request.META
    return address_of(meta.get("REMOTE_ADDR") or "", meta.get("HTTP_X_FORWARDED_FOR", ""))


def scope_client_address(scope: dict[str, Any]) -> str:
    """client_address for an ASGI scope (a WebSocket connection): the same rule, from
    scope["client"] and the x-forwarded-for header."""
    peer = scope.get("client") or ("", 0)
    forwarded = b",".join(v for k, v in scope.get("headers", []) if k == b"x-forwarded-for")
    return address_of(peer[0] or "", forwarded.decode("latin-1"))


def address_of(remote: str, forwarded_for: str) -> str:
    """The rule itself: ``remote`` (the socket's peer) unless TRUSTED_PROXY_COUNT > 0 and
    ``forwarded_for`` (X-Forwarded-For) holds an address that many entries from the right."""
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [a.strip() for a in forwarded_for.split(",") if a.strip()]
    if not forwarded:
        return remote
    candidate = forwarded[-min(count, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        logger.warning("X-Forwarded-For entry %r is not an address; using the peer", candidate)
        return remote


class _ClientAddress:
    def get_ident(self, request: Any) -> str:
        return client_address(request)


class UserRateThrottle(_ClientAddress, throttling.UserRateThrottle):
    cache = caches["throttle"]


class AuthRateThrottle(_ClientAddress, throttling.AnonRateThrottle):
    """Sign-up and log-in attempts (token API and admin) per client address."""

    cache = caches["throttle"]
    scope = "anon_auth"


def throttle_response(wait: float | None) -> JsonResponse:
    response = JsonResponse(error_body("throttled", "Request was throttled."), status=429)
    if wait:
        response["Retry-After"] = str(int(wait))
    return response


def auth_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A plain Django view (the admin's login) whose POSTs count against AuthRateThrottle,
    as the API's sign-up and token views do."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            throttle = AuthRateThrottle()
            # A Django view (the admin's log-in): the throttle reads only the client's
            # address and the cache, which a plain HttpRequest has; DRF's stubs ask a Request.
            if not throttle.allow_request(request, None):  # type: ignore[arg-type]
                wait = throttle.wait()
                return login_refused_page(
                    request,
                    "Too many log-in attempts",
                    "Too many log-in attempts from your address; wait a little.",
                    int(wait) if wait else None,
                )
        return view(request, *args, **kwargs)

    return wrapped
