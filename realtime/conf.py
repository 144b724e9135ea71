"""The WebSocket API's knobs. Each reads a Django setting of the same name if one is set,
else the environment, else the default (twelve-factor, like exchange_site/settings.py)."""

from __future__ import annotations

import os

from django.conf import settings


def _number(name: str, default: float) -> float:
    value = getattr(settings, name, None)
    if value is None:
        return float(os.environ.get(name, default))
    return float(value)


def coalesce_ms() -> float:
    """Per-market window over which depth changes and trades go out as one message
    (0: every engine batch goes out on its own)."""
    return _number("WS_COALESCE_MS", 100)


def max_subscriptions() -> int:
    return int(_number("WS_MAX_SUBSCRIPTIONS", 50))


def max_message_bytes() -> int:
    """The largest message (and frame) a client may send: past it, the server closes the
    socket with 1009 as soon as the frame's header says so (realtime/server.py)."""
    return int(_number("WS_MAX_MESSAGE_BYTES", 4096))


def max_connections_per_address() -> int:
    """Open sockets per client address (realtime/security.py has the address rule); the
    next one is told ``too_many_connections`` and closed with 4029."""
    return int(_number("WS_MAX_CONNECTIONS_PER_ADDRESS", 50))


def rate_per_second() -> float:
    """Client messages per second a socket may send (a token bucket of twice this size)."""
    return _number("WS_RATE_PER_SECOND", 10)


def abuse_errors() -> int:
    """Errors within ABUSE_WINDOW seconds after which the socket is closed (code 4008)."""
    return int(_number("WS_ABUSE_ERRORS", 100))


ABUSE_WINDOW = 10.0


def max_buffer_bytes() -> int:
    """Bytes queued towards one client (not yet taken by its TCP connection) past which
    the client is told it is too slow and disconnected (close code 4001)."""
    return int(_number("WS_MAX_BUFFER_BYTES", 1 << 20))


def ping_interval() -> float:
    """Seconds between the server's {"type": "ping"} frames (and re-checks of the auth)."""
    return _number("WS_PING_INTERVAL", 20)


def depth_limit() -> int:
    """Levels per side in a depth snapshot."""
    return int(_number("WS_DEPTH_LIMIT", 100))
