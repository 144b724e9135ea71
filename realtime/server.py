"""The web service's server: daphne, with the WebSocket limits set where autobahn (under
daphne) enforces them, in the protocol, before a message is buffered.

Run it exactly as ``daphne`` (same arguments; `make run`, deploy/supervisord.conf, the
Dockerfile and the tests do):

    python -m realtime.server -b 127.0.0.1 -p 8000 exchange_site.asgi:application

daphne builds its autobahn ``WebSocketServerFactory`` inside ``Server.run`` and has no
option for payload sizes, so :class:`ExchangeServer` sets them on the factory as daphne
stores it. autobahn then checks each frame's length from its header (``onMessageFrameBegin``):
a frame, or a message of several frames, over ``WS_MAX_MESSAGE_BYTES`` fails the connection
with close code 1009 before its payload is read into the message. The limit is for what
clients send: autobahn applies ``maxMessagePayloadSize`` in ``sendMessage`` as well, which
would fail every frame the server sends over it (a depth snapshot of a deep book, a pong
echoing a long id) with PayloadExceededError and close the socket with 1011, so the
sockets' protocol (:class:`ExchangeWebSocketProtocol`) sends without it.
"""

from __future__ import annotations

import logging
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings

from realtime import conf

access_logger = logging.getLogger("daphne.access")


def protocol_options() -> dict[str, Any]:
    """autobahn's protocol options: the largest frame and message a client may send, and
    a failed connection (oversized message, protocol violation) closed with its close code
    (1009, 1002, ...) rather than a bare TCP drop, so the client learns why. What the
    client sends after that is discarded as it arrives, never collected."""
    limit = conf.max_message_bytes()
    return {"maxFramePayloadSize": limit, "maxMessagePayloadSize": limit, "failByDrop": False}


class ExchangeWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol whose own messages are not held to the client's limit:
    ``maxMessagePayloadSize`` is lifted while autobahn frames an outgoing message (the
    reactor runs one call at a time, so no incoming frame is checked meanwhile)."""

    def sendMessage(self, payload: bytes, *args: Any, **kwargs: Any) -> None:
        limit = self.maxMessagePayloadSize  # type: ignore[has-type]  # autobahn's, untyped
        self.maxMessagePayloadSize = 0
        try:
            super().sendMessage(payload, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit


class LoggedAccessLog(AccessLogGenerator):
    """daphne's access log as log records (logger ``daphne.access``) instead of raw lines
    on stdout: with LOG_FORMAT=json each is a JSON object like every other line, with the
    client, request line, status and bytes as fields."""

    def __init__(self) -> None:
        super().__init__(stream=None)

    def write_entry(
        self, host: str, date: Any, request: str, status: int | None = None,
        length: int | None = None, ident: str | None = None, user: str | None = None,
    ) -> None:  # fmt: skip
        access_logger.info(
            '%s "%s" %s %s', host, request, status or "-", length or "-",
            extra={"client": host, "request_line": request, "status": status, "bytes": length},
        )  # fmt: skip


class ExchangeServer(Server):
    """daphne's Server whose WebSocket factory carries :func:`protocol_options` and builds
    :class:`ExchangeWebSocketProtocol` sockets. daphne's own
    ``setProtocolOptions`` call after the assignment sets other options only. With
    LOG_FORMAT=json the access log goes through logging (:class:`LoggedAccessLog`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("action_logger") is not None and settings.LOG_FORMAT == "json":
            kwargs["action_logger"] = LoggedAccessLog()
        super().__init__(*args, **kwargs)

    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        factory.protocol = ExchangeWebSocketProtocol
        factory.setProtocolOptions(**protocol_options())
        self._ws_factory = factory


class ExchangeCommandLine(CommandLineInterface):
    server_class = ExchangeServer


if __name__ == "__main__":
    ExchangeCommandLine.entrypoint()
