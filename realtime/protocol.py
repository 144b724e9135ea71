"""The /ws/v1 wire protocol (docs/websocket.md, "Protocol"): parsing and validating what
clients send, naming channels and their Channels groups, and rendering the server's
frames.

Client -> server, one JSON object per text frame, at most ``WS_MAX_MESSAGE_BYTES``:

    {"op": "subscribe" | "unsubscribe", "channels": ["depth.BTC_USDT", ...], "id"?: ...}
    {"op": "auth", "token": "..."}      {"op": "ping"}      {"op": "pong"}

Server -> client: data frames ``{"channel", "type": "snapshot" | "update", "sequence",
"data"}`` (depth updates also carry ``first_sequence``), replies ``{"type": "subscribed" |
"unsubscribed" | "authenticated" | "pong" | "ping", ...}`` and errors
``{"type": "error", "code", "message"}``. A reply echoes the request's ``id`` if it had one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apikit.parsers import UNSTORABLE_MESSAGE, unstorable, unstorable_path
from marketdata import timeseries

OPS = frozenset({"subscribe", "unsubscribe", "auth", "ping", "pong"})
INTERVALS = tuple(timeseries.INTERVALS)  # the kline intervals, as REST has them
INTERVAL_MS = {
    name: width // timedelta(milliseconds=1) for name, width in timeseries.INTERVALS.items()
}
PUBLIC_KINDS = frozenset({"depth", "trades", "ticker", "klines"})
SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,24}_[A-Z0-9]{1,24}$")
MAX_CHANNEL_NAME = 64
MAX_ID_LENGTH = 64


class ProtocolError(Exception):
    """A client mistake: answered with an error frame, the socket stays open."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class Channel:
    name: str  # as the client wrote it: "depth.BTC_USDT", "klines.BTC_USDT.1m", "user"
    kind: str  # depth, trades, ticker, klines, user
    symbol: str = ""
    interval: str = ""

    @property
    def private(self) -> bool:
        return self.kind == "user"

    def group(self, user_id: int | None = None) -> str:
        """The Channels group the bridge sends this channel's messages to."""
        if self.kind == "user":
            return user_group(user_id or 0)
        return md_group(self.kind, self.symbol, self.interval)


def md_group(kind: str, symbol: str, interval: str = "") -> str:
    return f"md.{kind}.{symbol}.{interval}" if interval else f"md.{kind}.{symbol}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def parse_channel(name: Any) -> Channel:
    if not isinstance(name, str) or not name or len(name) > MAX_CHANNEL_NAME:
        raise ProtocolError("unknown_channel", "A channel is a short string.", channel=None)
    if name == "user":
        return Channel(name, "user")
    parts = name.split(".")
    kind = parts[0]
    if kind not in PUBLIC_KINDS:
        raise ProtocolError("unknown_channel", f"Unknown channel {name!r}.", channel=name)
    if kind == "klines":
        if len(parts) != 3 or parts[2] not in INTERVALS:
            raise ProtocolError(
                "unknown_channel",
                f"Unknown channel {name!r}: klines.SYMBOL.INTERVAL with an interval of "
                f"{', '.join(INTERVALS)}.",
                channel=name,
            )
    elif len(parts) != 2:
        raise ProtocolError("unknown_channel", f"Unknown channel {name!r}.", channel=name)
    symbol = parts[1]
    if not SYMBOL_RE.match(symbol):
        raise ProtocolError("unknown_channel", f"Unknown market in {name!r}.", channel=name)
    return Channel(name, kind, symbol, parts[2] if kind == "klines" else "")


def parse_message(text: str | None) -> dict[str, Any]:
    """The client's message as a dict with a known ``op`` and valid fields, or
    ProtocolError. Size and rate are checked by the consumer before this."""
    if text is None:
        raise ProtocolError("bad_message", "Send JSON text frames, not binary ones.")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "The message is not valid JSON.") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "A message is a JSON object with an op.")
    _refuse_unstorable(message)
    request_id = message.get("id")
    if request_id is not None and not (
        (isinstance(request_id, int) and not isinstance(request_id, bool))
        or (isinstance(request_id, str) and len(request_id) <= MAX_ID_LENGTH)
    ):
        raise ProtocolError("bad_message", "id must be an integer or a short string.")
    op = message.get("op")
    if not isinstance(op, str):
        raise ProtocolError("bad_message", "A message needs an op.", id=request_id)
    if op not in OPS:
        raise ProtocolError(
            "unknown_op", f"Unknown op {op[:32]!r}; ops are {', '.join(sorted(OPS))}.",
            id=request_id,
        )  # fmt: skip
    if op in ("subscribe", "unsubscribe"):
        channels = message.get("channels")
        if not isinstance(channels, list) or not channels:
            raise ProtocolError(
                "bad_message", f"{op} needs a non-empty list of channels.", id=request_id
            )
        if len(channels) > 100:
            raise ProtocolError("too_many_subscriptions", "Too many channels.", id=request_id)
    elif op == "auth":
        token = message.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= 128:
            raise ProtocolError("bad_message", "auth needs a token string.", id=request_id)
    return message


def _refuse_unstorable(message: dict[str, Any]) -> None:
    """Text the database cannot store (NUL, a lone surrogate from a ``\\ud800`` escape),
    anywhere in the message, keys included: an error frame, before any field reaches a
    query (a token with NUL was a DataError that closed the socket with 1011). A token
    is answered as any unknown token is, a channel name as any unknown channel."""
    where = unstorable_path(message)
    if where is None:
        return
    request_id = message.get("id")
    if not isinstance(request_id, int | str) or isinstance(request_id, bool):
        request_id = None
    elif isinstance(request_id, str) and (
        unstorable(request_id) or len(request_id) > MAX_ID_LENGTH
    ):
        request_id = None  # never echoed back
    if where == "token" and message.get("op") == "auth":
        raise ProtocolError("auth_failed", "Unknown or revoked token.", id=request_id)
    shown = where if not unstorable(where) and len(where) <= MAX_CHANNEL_NAME else "a field"
    if where.startswith("channels["):
        raise ProtocolError(
            "unknown_channel", f"{shown}: {UNSTORABLE_MESSAGE}", channel=None, id=request_id
        )
    raise ProtocolError("bad_message", f"{shown}: {UNSTORABLE_MESSAGE}", id=request_id)


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def error_frame(code: str, message: str, **details: Any) -> str:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    body.update({k: v for k, v in details.items() if v is not None})
    return dumps(body)


def data_frame(channel: str, kind: str, sequence: int | None, data: Any, **extra: Any) -> str:
    body: dict[str, Any] = {"channel": channel, "type": kind, "sequence": sequence}
    body.update(extra)
    body["data"] = data
    return dumps(body)
