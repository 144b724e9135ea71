"""Rate limits (429 in the contract's error shape), counted in each web process's memory,
and the one rule for a request's client address.

With N web processes a client gets at most N times the rate; a Redis-backed count would
cost two round trips on every request for a limit that only needs to be approximate.

The counts are DRF's: a sliding window of the times of a key's requests in the last
period (a minute: up to API_RATE_LIMIT of them). DRF reads and writes the whole window
through the cache on every request, which Django's LocMemCache pickles both ways: a cost
that grows with the client's rate (measured at 14% of an order's web CPU at 240 orders a
second from one user). Here the "throttle" cache keeps each window as it is
(:class:`WindowCache`) and the throttles update it in place under one lock
(:class:`InPlaceWindow`): the same counts, the same 429s and Retry-After."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
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


class WindowCache(LocMemCache):
    """The "throttle" cache (settings.CACHES): Django's in-process LocMemCache (expiry,
    culling past MAX_ENTRIES, clear()) that keeps each value itself, not a pickled copy,
    so that a throttle's window is not copied on every request. Values are shared: only
    for the throttles, which change a window under :data:`WINDOW_LOCK`."""

    if TYPE_CHECKING:  # LocMemCache's own, which django-stubs leaves out
        _lock: threading.Lock
        _cache: OrderedDict[str, Any]

        def _has_expired(self, key: str) -> bool: ...
        def _delete(self, key: str) -> bool: ...
        def _set(self, key: str, value: Any, timeout: float | None = ...) -> None: ...

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                return default
            value = self._cache[key]
            self._cache.move_to_end(key, last=False)
        return value

    def set(
        self,
        key: str,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            self._set(key, value, timeout)

    def add(
        self,
        key: str,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._set(key, value, timeout)
                return True
            return False

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                raise ValueError(f"Key '{key}' not found")
            value = self._cache[key] + delta
            self._cache[key] = value
            self._cache.move_to_end(key, last=False)
        return value


WINDOW_LOCK = threading.Lock()


class InPlaceWindow(throttling.SimpleRateThrottle):
    """DRF's SimpleRateThrottle.allow_request (the same window of request times, newest
    first, which its wait() reads for Retry-After), the window read, trimmed, counted and
    appended to under one lock: with :class:`WindowCache` nothing is copied, and
    concurrent requests of one key all count (DRF's read-then-write loses some)."""

    history: Any  # a deque in the cache, a list when refused (for wait())
    duration: int  # set by DRF's __init__ from the rate
    num_requests: int

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.now = self.timer()
        horizon = now - self.duration
        with WINDOW_LOCK:
            history = self.cache.get(key)
            if history is None:
                history = deque()
            while history and history[-1] <= horizon:
                history.pop()
            if len(history) >= self.num_requests:
                self.history = list(history)
                return self.throttle_failure()
            history.appendleft(now)
            self.cache.set(key, history, self.duration)
        self.history = history
        return True


class _ClientAddress:
    def get_ident(self, request: Any) -> str:
        return client_address(request)


class UserRateThrottle(InPlaceWindow, _ClientAddress, throttling.UserRateThrottle):
    cache = caches["throttle"]


class AuthRateThrottle(InPlaceWindow, _ClientAddress, throttling.AnonRateThrottle):
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
            # address and the cache, which a plain HttpRequest has.
            if not throttle.allow_request(request, None):
                wait = throttle.wait()
                return login_refused_page(
                    request,
                    "Too many log-in attempts",
                    "Too many log-in attempts from your address; wait a little.",
                    int(wait) if wait else None,
                )
        return view(request, *args, **kwargs)

    return wrapped
