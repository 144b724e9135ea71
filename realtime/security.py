"""Who may open a socket.

Origins: Channels' AllowedHostsOriginValidator, except that a handshake without an Origin
header is let through. Browsers always send Origin, so a cross-site page (the case the
check is for: it would ride on the victim's session cookie) is still refused; bots and the
`websockets` library send none and authenticate with {"op": "auth"} instead.

Connections per client address: at most ``WS_MAX_CONNECTIONS_PER_ADDRESS`` open sockets per
address in each web process, counted before anything else runs (no session lookup, no
consumer). The address is the socket's peer, as for HTTP, unless ``TRUSTED_PROXY_COUNT``
(N > 0) says N proxies of ours stand in front: then it is the N-th address from the right
of X-Forwarded-For (what the outermost proxy of ours saw), as DRF's NUM_PROXIES reads it.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings

from apikit.throttling import scope_client_address
from realtime import conf, metrics
from realtime.protocol import error_frame

logger = logging.getLogger(__name__)

CLOSE_TOO_MANY = 4029  # stands for HTTP 429 (autobahn lets a server send only 1000, 3000-4999)


class _OriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)


LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def allowed_origins() -> list[str]:
    """The hosts a browser's WebSocket may come from: ALLOWED_HOSTS, or, when that is "*"
    (DEBUG without an explicit list), this machine's names and the address the web service
    binds (settings.HOST), so a cross-site page is refused in local development too."""
    hosts = list(settings.ALLOWED_HOSTS)
    if "*" not in hosts:
        return hosts
    bound = settings.HOST.strip("[]")
    extra = [] if bound in ("", "0.0.0.0", "::") else [f"[{bound}]" if ":" in bound else bound]  # noqa: S104
    return LOCAL_HOSTS + [h for h in extra if h not in LOCAL_HOSTS]


def allowed_hosts_origin_validator(application: Any) -> OriginValidator:
    return _OriginValidator(application, allowed_origins())


class ConnectionCap:
    """ASGI middleware: counts this process's open sockets per client address; one past
    the cap is accepted only to be told ``too_many_connections`` and closed (4029)."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.open: collections.Counter[str] = collections.Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        address = scope_client_address(scope)
        cap = conf.max_connections_per_address()
        if self.open[address] >= cap:
            await self._refuse(address, cap, receive, send)
            return None
        self.open[address] += 1
        try:
            return await self.application(scope, receive, send)
        finally:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]

    async def _refuse(self, address: str, cap: int, receive: Any, send: Any) -> None:
        logger.warning("websocket from %s refused: %d sockets open already", address, cap)
        metrics.REFUSED.add(("too_many_connections",))
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        text = error_frame(
            "too_many_connections", f"At most {cap} WebSocket connections per client address."
        )
        await send({"type": "websocket.send", "text": text})
        await send({"type": "websocket.close", "code": CLOSE_TOO_MANY})
