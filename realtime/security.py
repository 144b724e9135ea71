"""Channels' AllowedHostsOriginValidator, except that a handshake without an Origin header
is let through. Browsers always send Origin, so a cross-site page (the case the check is
for: it would ride on the victim's session cookie) is still refused; bots and the
`websockets` library send none and authenticate with {"op": "auth"} instead."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class _OriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)


def allowed_hosts_origin_validator(application: Any) -> OriginValidator:
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return _OriginValidator(application, allowed_hosts)
