"""/ws/v1: one consumer per socket, dispatching client messages on ``op`` and the bridge's
events (through the process's hub) on their type: ``md.depth`` -> ``md_depth``, ...

Depth: a subscription starts with the read model's snapshot at sequence S; the updates
after it are sent with ``first_sequence`` = the previous ``sequence`` + 1 (the first one
is trimmed to S + 1 when a coalesced update overlaps the snapshot). If an update the bridge
sends does not follow on (a message lost between Redis and this process), the socket is
sent a fresh snapshot, which replaces the client's book; a client that sees a gap itself
re-subscribes.

Slow clients: daphne (Twisted) never makes a send wait; bytes a client does not take pile
up in its connection's buffer. Before each market frame the consumer reads that buffer's
size; past ``WS_MAX_BUFFER_BYTES`` the client is told (``slow_consumer``) and disconnected
(close code 4001). Nothing else waits on it: the hub's loop only ever appends to buffers.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from infra import keys
from marketdata.shapes import depth_sides
from realtime import conf
from realtime import metrics as m
from realtime.hub import get_hub
from realtime.protocol import (
    Channel,
    ProtocolError,
    data_frame,
    dumps,
    error_frame,
    parse_channel,
    parse_message,
    user_group,
)
from realtime.signals import credential_digest

logger = logging.getLogger(__name__)

CLOSE_ABUSE = 4008  # policy violation (autobahn lets a server send only 1000 and 3000-4999)
CLOSE_SLOW = 4001  # too far behind
MAX_PENDING_DEPTH = 1000  # updates held per market while its snapshot is being read

_known_symbols: set[str] = set()
_redis: dict[int, aioredis.Redis] = {}
_SENT = m.SENT.counts  # frames by channel kind: one dict update per frame
_DROPPED = m.DROPPED.counts
_SENT_DEPTH, _SENT_USER, _SENT_CONTROL = (m.SENT_KEYS[k] for k in ("depth", "user", m.CONTROL))
_DROP_SLOW, _DROP_CLOSED, _DROP_BACKLOG = (
    m.DROP_KEYS[k] for k in ("slow_consumer", "closed", "depth_backlog")
)
# a bridge event's type -> the channel kind its frames count under
_EVENT_KINDS = {"md.trades": ("trades",), "md.ticker": ("ticker",), "md.klines": ("klines",)}


def read_model() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _redis.get(id(loop))
    if client is None:
        client = _redis[id(loop)] = aioredis.Redis.from_url(settings.REDIS_URL)
    return client


@database_sync_to_async
def _market_exists(symbol: str) -> bool:
    from marketdata.models import Market

    return Market.objects.filter(symbol=symbol).exists()


@database_sync_to_async
def _token_user(key: str) -> int | None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return int(token.user_id)


@database_sync_to_async
def _session_alive(session_key: str) -> bool:
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    return Session.objects.filter(session_key=session_key, expire_date__gt=timezone.now()).exists()


def find_protocol(send: Any) -> Any:
    """daphne's WebSocket protocol (autobahn) under the send callable Channels gives the
    consumer (through its session wrapper), or None under another server."""
    for _ in range(5):
        if isinstance(send, functools.partial):
            protocol = send.args[0] if send.args else None
            ok = hasattr(protocol, "transport") and hasattr(protocol, "sendPreparedMessage")
            return protocol if ok else None
        owner = getattr(send, "__self__", None)
        send = getattr(owner, "real_send", None)
        if send is None:
            return None
    return None


def find_transport(send: Any) -> Any:
    """The Twisted transport under daphne's send callable, or None."""
    protocol = find_protocol(send)
    return getattr(protocol, "transport", None)


def buffered_bytes(transport: Any) -> int:
    """Bytes written to a Twisted TCP transport that the peer has not taken yet."""
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return 0


class DepthState:
    __slots__ = ("last", "pending", "syncing")

    def __init__(self) -> None:
        self.last = -1  # sequence of the last frame sent
        self.pending: collections.deque[dict[str, Any]] = collections.deque()
        self.syncing = True  # a snapshot is being read: updates wait in pending


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    # No channel of its own per socket: the process's hub joins groups for all of them.
    channel_layer_alias = "realtime-per-socket-channel-unused"

    async def connect(self) -> None:
        self.subscriptions: dict[str, Channel] = {}
        self.depth: dict[str, DepthState] = {}
        self.user_id: int | None = None
        self.credential: str | None = None  # digest of the token or session key
        self.token: str | None = None
        self.session_key: str | None = None
        self.closing = False
        self.rate = conf.rate_per_second()
        self.tokens = 2 * self.rate
        self.refilled = time.monotonic()
        self.errors: collections.deque[float] = collections.deque()
        self.max_buffer = conf.max_buffer_bytes()
        self.protocol = find_protocol(self.base_send)
        self.transport = getattr(self.protocol, "transport", None)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.hub = get_hub()
        await self.accept()
        self.counted = True  # in m.SOCKETS.open until disconnect
        m.SOCKETS.open += 1
        m.OPENED.add(())
        user = self.scope.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            session = self.scope.get("session")
            self.session_key = getattr(session, "session_key", None)
            await self._authenticate(user.pk, credential_digest("session", self.session_key or ""))
        self._spawn(self._pinger())

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if getattr(self, "counted", False):
            self.counted = False
            m.SOCKETS.open -= 1
        for task in self.tasks:
            task.cancel()
        await self._leave_all()

    async def _leave_all(self) -> None:
        subscribed = m.SOCKETS.subscriptions
        for channel in list(self.subscriptions.values()):
            subscribed[channel.kind] -= 1
            if not channel.private:
                await self.hub.discard(channel.group(), self)
        self.subscriptions.clear()
        self.depth.clear()
        if self.user_id is not None:
            await self.hub.discard(user_group(self.user_id), self)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- sending --------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        if not self.closing:
            await self.send(text_data=text)
            _SENT[_SENT_CONTROL] += 1

    async def send_market(
        self, text: str, kind: tuple[str], event: dict[str, Any] | None = None
    ) -> None:
        """A market or user frame (counted under the channel ``kind``, one of
        realtime.metrics.SENT_KEYS): first the slow-client check. Under daphne, a frame
        that goes to many sockets (``event`` given) is framed once, by autobahn's
        prepareMessage, and the same bytes are written to each socket."""
        if self.closing:
            _DROPPED[_DROP_CLOSED] += 1
            return
        protocol = self.protocol
        if protocol is None:
            await self.send(text_data=text)
            _SENT[kind] += 1
            return
        if buffered_bytes(self.transport) > self.max_buffer:
            _DROPPED[_DROP_SLOW] += 1
            await self._drop_slow()
            return
        if protocol.state != protocol.STATE_OPEN:
            _DROPPED[_DROP_CLOSED] += 1
            return
        _SENT[kind] += 1
        if event is None:
            protocol.sendMessage(text.encode(), False)
            return
        prepared = event.get("_prepared")
        if prepared is None:
            prepared = event["_prepared"] = protocol.factory.prepareMessage(text.encode())
        protocol.sendPreparedMessage(prepared)

    async def _drop_slow(self) -> None:
        m.SLOW_DISCONNECTS.add(())
        logger.info(
            "socket of user %s: %d bytes behind, disconnected",
            self.user_id,
            buffered_bytes(self.transport),
        )
        await self.send(
            text_data=error_frame(
                "slow_consumer",
                "You are too far behind the stream; reconnect and subscribe again.",
            )
        )
        await self._close(CLOSE_SLOW)

    async def _close(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        await self.close(code=code)
        await self._leave_all()

    async def error(self, code: str, message: str, **details: Any) -> None:
        await self.send_text(error_frame(code, message, **details))
        now = time.monotonic()
        self.errors.append(now)
        while self.errors and self.errors[0] < now - conf.ABUSE_WINDOW:
            self.errors.popleft()
        if len(self.errors) > conf.abuse_errors():
            logger.warning("socket of user %s: closed for abuse", self.user_id)
            await self.send_text(error_frame("abuse", "Too many bad messages; closing."))
            await self._close(CLOSE_ABUSE)

    # -- client messages ------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        if size > conf.max_message_bytes():
            await self.error(
                "message_too_large", f"Messages are at most {conf.max_message_bytes()} bytes."
            )
            return
        now = time.monotonic()
        self.tokens = min(2 * self.rate, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            await self.error("rate_limited", f"At most {self.rate:g} messages per second.")
            return
        self.tokens -= 1
        try:
            message = parse_message(text_data)
            await getattr(self, "op_" + message["op"])(message)
        except ProtocolError as exc:
            await self.error(exc.code, exc.message, **exc.details)

    def _reply(self, message: dict[str, Any], body: dict[str, Any]) -> str:
        if message.get("id") is not None:
            body["id"] = message["id"]
        return dumps(body)

    async def op_ping(self, message: dict[str, Any]) -> None:
        await self.send_text(
            self._reply(message, {"type": "pong", "time": int(time.time() * 1000)})
        )

    async def op_pong(self, message: dict[str, Any]) -> None:
        pass  # any message shows the client is alive; nothing to answer

    async def op_auth(self, message: dict[str, Any]) -> None:
        user_id = await _token_user(message["token"])
        if user_id is None:
            raise ProtocolError("auth_failed", "Unknown or revoked token.", id=message.get("id"))
        if self.user_id is not None and self.user_id != user_id:
            await self._drop_auth()
        self.token = message["token"]
        self.session_key = None
        await self._authenticate(user_id, credential_digest("token", message["token"]))
        await self.send_text(self._reply(message, {"type": "authenticated", "user_id": user_id}))

    async def _authenticate(self, user_id: int, credential: str) -> None:
        self.user_id = user_id
        self.credential = credential
        # joined at once, subscribed or not, so that a revocation always reaches the socket
        await self.hub.add(user_group(user_id), self)

    async def _drop_auth(self) -> None:
        if self.user_id is not None:
            await self.hub.discard(user_group(self.user_id), self)
        self.user_id = self.credential = self.token = self.session_key = None
        if self.subscriptions.pop("user", None) is not None:
            m.SOCKETS.subscriptions["user"] -= 1

    async def op_subscribe(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        channels: list[Channel] = []
        for name in message["channels"]:
            try:
                channel = parse_channel(name)
            except ProtocolError as exc:
                exc.details["id"] = request_id
                raise
            if channel.private and self.user_id is None:
                raise ProtocolError(
                    "auth_required",
                    'Send {"op": "auth", "token": ...} before subscribing to "user".',
                    channel=name,
                    id=request_id,
                )
            if channel.symbol and channel.symbol not in _known_symbols:
                if not await _market_exists(channel.symbol):
                    raise ProtocolError(
                        "unknown_channel",
                        f"Unknown market in {name!r}.",
                        channel=name,
                        id=request_id,
                    )
                _known_symbols.add(channel.symbol)
            if channel.name not in {c.name for c in channels}:
                channels.append(channel)
        new = [c for c in channels if c.name not in self.subscriptions]
        if len(self.subscriptions) + len(new) > conf.max_subscriptions():
            raise ProtocolError(
                "too_many_subscriptions",
                f"At most {conf.max_subscriptions()} subscriptions per connection.",
                id=request_id,
            )
        for channel in new:
            self.subscriptions[channel.name] = channel
            m.SOCKETS.subscriptions[channel.kind] += 1
            if channel.kind == "depth":
                self.depth[channel.symbol] = DepthState()
            if not channel.private:
                await self.hub.add(channel.group(), self)
        await self.send_text(
            self._reply(message, {"type": "subscribed", "channels": [c.name for c in channels]})
        )
        for channel in channels:
            if channel.kind == "depth" and channel in new:
                await self._depth_sync(channel.symbol)

    async def op_unsubscribe(self, message: dict[str, Any]) -> None:
        names = []
        for name in message["channels"]:
            channel = self.subscriptions.pop(name, None) if isinstance(name, str) else None
            if channel is None:
                continue
            names.append(name)
            m.SOCKETS.subscriptions[channel.kind] -= 1
            if channel.kind == "depth":
                self.depth.pop(channel.symbol, None)
            if not channel.private:
                await self.hub.discard(channel.group(), self)
        await self.send_text(self._reply(message, {"type": "unsubscribed", "channels": names}))

    # -- the bridge's events (called by the hub) -----------------------------------------

    async def deliver(self, handler: str, event: dict[str, Any]) -> None:
        method = getattr(self, handler, None)
        if method is not None and not self.closing:
            await method(event)

    async def md_depth(self, event: dict[str, Any]) -> None:
        state = self.depth.get(event["symbol"])
        if state is None:
            return
        if state.syncing:
            if len(state.pending) < MAX_PENDING_DEPTH:
                state.pending.append(event)
            else:
                _DROPPED[_DROP_BACKLOG] += 1
            return
        if not await self._depth_send(state, event):
            state.syncing = True
            state.pending.append(event)
            self._spawn(self._depth_sync(event["symbol"]))

    async def _depth_send(self, state: DepthState, event: dict[str, Any]) -> bool:
        """Send an update that follows on; False on a gap (nothing sent)."""
        sequence = event["sequence"]
        if sequence <= state.last:
            return True  # already in the snapshot
        expected = state.last + 1
        if event["first_sequence"] > expected:
            return False
        text = event["text"]
        if event["first_sequence"] < expected:  # overlaps the snapshot: trim the range
            frame = json.loads(text)
            frame["first_sequence"] = expected
            text = dumps(frame)
        state.last = sequence
        await self.send_market(text, _SENT_DEPTH, event if text is event["text"] else None)
        return True

    async def _depth_sync(self, symbol: str) -> None:
        """Send a snapshot, then the updates held while it was read."""
        state = self.depth.get(symbol)
        while state is not None and self.depth.get(symbol) is state and not self.closing:
            state.syncing = True
            raw = await read_model().get(keys.rm_depth(symbol))
            if self.depth.get(symbol) is not state:
                return
            book = json.loads(raw) if raw else {"sequence": 0, "bids": [], "asks": []}
            limit = conf.depth_limit()
            state.last = int(book["sequence"])
            await self.send_market(
                data_frame(
                    f"depth.{symbol}",
                    "snapshot",
                    state.last,
                    depth_sides(bids=book["bids"][:limit], asks=book["asks"][:limit]),
                ),
                _SENT_DEPTH,
            )
            gap = False
            while state.pending:
                if not await self._depth_send(state, state.pending.popleft()):
                    gap = True
                    break
            if not gap:
                state.syncing = False
                return
            logger.info("depth %s: gap after sequence %d, new snapshot", symbol, state.last)

    async def md_trades(self, event: dict[str, Any]) -> None:
        await self.send_market(event["text"], _EVENT_KINDS[event["type"]], event)

    md_ticker = md_trades
    md_klines = md_trades

    async def user_events(self, event: dict[str, Any]) -> None:
        if "user" in self.subscriptions:
            for text in event["texts"]:
                await self.send_market(text, _SENT_USER)

    async def user_revoked(self, event: dict[str, Any]) -> None:
        if event.get("credential") in (None, self.credential):
            await self._revoke()

    async def _revoke(self) -> None:
        subscribed = "user" in self.subscriptions
        await self._drop_auth()
        await self.send_text(
            error_frame(
                "auth_revoked",
                "Your token or session was revoked; private subscriptions ended.",
                channels=["user"] if subscribed else [],
            )
        )

    # -- liveness -------------------------------------------------------------------------

    async def _pinger(self) -> None:
        interval = conf.ping_interval()
        while not self.closing:
            await asyncio.sleep(interval)
            await self.send_text(dumps({"type": "ping", "time": int(time.time() * 1000)}))
            try:
                if self.token is not None and await _token_user(self.token) != self.user_id:
                    await self._revoke()
                elif self.session_key is not None and not await _session_alive(self.session_key):
                    await self._revoke()
            except Exception:
                logger.exception("socket of user %s: auth re-check failed", self.user_id)
