"""Rate limits (429 in the contract's error shape), counted in each web process's memory.

With N web processes a client gets at most N times the rate; a Redis-backed count would
cost two round trips on every request for a limit that only needs to be approximate."""

from __future__ import annotations

from django.core.cache import caches
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    cache = caches["throttle"]


class AuthRateThrottle(throttling.AnonRateThrottle):
    """Sign-up and log-in attempts per client address."""

    cache = caches["throttle"]
    scope = "anon_auth"
