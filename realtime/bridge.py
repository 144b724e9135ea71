"""The WebSocket bridge (docs/websocket.md, "How messages flow"): ONE long-lived asyncio
loop that pattern-subscribes to the engine's ``md.*`` and ``user.*`` channels (and
``ws.revoked.*``) and sends each market's coalesced messages to the Channels groups
(``md.depth.SYM``, ``md.trades.SYM``, ``md.klines.SYM.INTERVAL``, ``md.ticker.SYM``,
``user.<id>``).

Coalescing (Binance's depth@100ms): per market, depth changes and trades that arrive within
``WS_COALESCE_MS`` of the first one go out as one message each; a coalesced depth update
holds each changed level's last quantity and the sequence range it covers
(``first_sequence`` .. ``sequence``), so clients still detect gaps. 0 sends every engine
batch on its own. User events are not delayed.

Every frame is encoded to its final JSON text once, here; the web processes only forward
it. Klines (the current candle of each interval after each trades message) and the 24 h
ticker are kept in memory from the trades seen, seeded at the first trade of a market from
the read model's recent trades (``rm:trades``, the last 1,000).

It runs as its own service (``manage.py run_wsbridge``) on the loop base shared by the
long-running services: ``fetch`` waits for Pub/Sub messages or the next window's end,
``handle`` folds them in and sends what is due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from prometheus_client import Counter

from infra import keys
from infra.metrics import MetricSet
from infra.service import Service
from marketdata.shapes import depth_sides, kline_body
from marketdata.tickers import TickerWindow, ticker_body
from marketdata.units import CONTEXT, plain
from realtime.protocol import INTERVAL_MS, INTERVALS, data_frame, md_group, user_group
from realtime.signals import REVOKED_PATTERN

logger = logging.getLogger(__name__)

PATTERNS = ("md.*", "user.*", REVOKED_PATTERN)
MAX_DRAIN = 2000  # Pub/Sub messages taken per fetch
DAY_MS = 86_400_000


def sum_exact(values: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = CONTEXT.add(total, value)
    return total


# -- candles and the 24 h ticker ---------------------------------------------------------


@dataclass(slots=True)
class Candle:
    open_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trades: int = 0
    hi: Decimal = Decimal(0)
    lo: Decimal = Decimal(0)

    @classmethod
    def start(cls, open_ms: int, price: str) -> Candle:
        p = Decimal(price)
        return cls(open_ms, price, price, price, price, hi=p, lo=p)

    def add(self, price: str, quantity: str) -> None:
        p, q = Decimal(price), Decimal(quantity)
        if p > self.hi:
            self.hi, self.high = p, price
        if p < self.lo:
            self.lo, self.low = p, price
        self.close = price
        self.volume = CONTEXT.add(self.volume, q)  # exact: the default context keeps 28 digits
        self.quote_volume = CONTEXT.add(self.quote_volume, CONTEXT.multiply(p, q))
        self.trades += 1

    def json(self) -> dict[str, Any]:
        return kline_body(
            open_time_ms=self.open_ms,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=plain(self.volume),
            quote_volume=plain(self.quote_volume),
            trades=self.trades,
        )


@dataclass(slots=True)
class MarketStats:
    """One market's current candle per interval, and 24 h of 1m candles for the ticker."""

    symbol: str
    current: dict[str, Candle] = field(default_factory=dict)
    minutes: deque[Candle] = field(default_factory=lambda: deque(maxlen=1441))
    last_trade_id: int = 0

    def add(self, trade: dict[str, Any]) -> dict[str, list[Candle]]:
        """Fold one trade in; returns per interval the candles it touched (a candle that
        closed, then the current one)."""
        touched: dict[str, list[Candle]] = {}
        if trade["id"] <= self.last_trade_id:
            return touched
        self.last_trade_id = trade["id"]
        ms, price, qty = int(trade["time_ms"]), trade["price"], trade["quantity"]
        for interval in INTERVALS:
            open_ms = ms - ms % INTERVAL_MS[interval]
            candle = self.current.get(interval)
            if candle is None or candle.open_ms < open_ms:
                candle = self.current[interval] = Candle.start(open_ms, price)
                if interval == "1m":
                    self.minutes.append(candle)
            elif candle.open_ms > open_ms:  # older than the current bucket: not shown live
                continue
            candle.add(price, qty)
            touched.setdefault(interval, []).append(candle)
        return touched

    def ticker(self, now_ms: int, best_bid: str | None, best_ask: str | None) -> dict[str, Any]:
        """The 24 h ticker (marketdata.tickers, as REST's) over the 1m candles whose
        minute ends after now - 24 h; ``last`` is the newest trade seen, even older."""
        since = now_ms - DAY_MS
        window = [c for c in self.minutes if c.open_ms + 60_000 > since]
        stats = None
        if window:
            stats = TickerWindow(
                open=Decimal(window[0].open),
                high=max(c.hi for c in window),
                low=min(c.lo for c in window),
                close=Decimal(window[-1].close),
                volume=sum_exact(c.volume for c in window),
                quote_volume=sum_exact(c.quote_volume for c in window),
                trades=sum(c.trades for c in window),
            )
        last = Decimal(self.minutes[-1].close) if self.minutes else None
        return ticker_body(
            self.symbol, last=last, window=stats, best_bid=best_bid, best_ask=best_ask
        )


# -- coalescing --------------------------------------------------------------------------


@dataclass(slots=True)
class Window:
    """What one market did since its window opened."""

    deadline: float
    first_sequence: int | None = None
    sequence: int | None = None
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)


class Coalescer:
    """Folds the engine's per-batch messages into per-market windows. Pure: no I/O."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.windows: dict[str, Window] = {}

    def _window(self, symbol: str, now: float) -> Window:
        window = self.windows.get(symbol)
        if window is None:
            window = self.windows[symbol] = Window(deadline=now + self.window_s)
        return window

    def add_depth(self, update: dict[str, Any], now: float) -> list[tuple[str, Window]]:
        """Returns windows that must go out first (a depth update that does not follow on
        from the window's: the break is kept visible to clients)."""
        symbol = update["symbol"]
        out: list[tuple[str, Window]] = []
        window = self.windows.get(symbol)
        if window is not None and window.sequence is not None:
            if update["first_sequence"] != window.sequence + 1:
                out.append((symbol, self.windows.pop(symbol)))
        window = self._window(symbol, now)
        if window.first_sequence is None:
            window.first_sequence = update["first_sequence"]
        window.sequence = update["sequence"]
        for price, qty in update["bids"]:
            window.bids[price] = qty
        for price, qty in update["asks"]:
            window.asks[price] = qty
        return out

    def add_trades(self, symbol: str, trades: list[dict[str, Any]], now: float) -> None:
        self._window(symbol, now).trades.extend(trades)

    def due(self, now: float) -> list[tuple[str, Window]]:
        ready = [s for s, w in self.windows.items() if w.deadline <= now]
        return [(s, self.windows.pop(s)) for s in ready]

    def next_deadline(self) -> float | None:
        return min((w.deadline for w in self.windows.values()), default=None)


def depth_levels(levels: dict[str, str], *, descending: bool) -> list[list[str]]:
    return [
        [p, q] for p, q in sorted(levels.items(), key=lambda i: Decimal(i[0]), reverse=descending)
    ]


# -- the service -------------------------------------------------------------------------


@dataclass(slots=True)
class Fetched:
    messages: list[dict[str, Any]]
    due: bool

    def __bool__(self) -> bool:
        return bool(self.messages) or self.due

    def __len__(self) -> int:
        return len(self.messages)


class BridgeMetrics(MetricSet):
    """The bridge's own, beside the loop's (exchange_service_*{service="wsbridge"})."""

    def __init__(self) -> None:
        super().__init__()
        self.received = self.add(
            Counter(
                "exchange_wsbridge_messages_received",
                "Engine Pub/Sub messages the bridge received (md.*, user.*, ws.revoked.*).",
                registry=None,
            )
        )
        self.malformed = self.add(
            Counter(
                "exchange_wsbridge_messages_malformed",
                "Pub/Sub messages the bridge could not read and dropped.",
                registry=None,
            )
        )
        group_sends = self.add(
            Counter(
                "exchange_wsbridge_group_sends",
                "Messages the bridge sent to the web processes' Channels groups, by type.",
                ["type"],
                registry=None,
            )
        )
        self._group_sends = group_sends
        self._by_type: dict[str, Any] = {}

    def sent(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """A batch's group sends, counted per type once per batch."""
        counts: dict[str, int] = {}
        for _, event in sends:
            kind = event["type"]
            counts[kind] = counts.get(kind, 0) + 1
        for kind, n in counts.items():
            child = self._by_type.get(kind)
            if child is None:
                child = self._by_type[kind] = self._group_sends.labels(kind)
            child.inc(n)


class WsBridge(Service):
    name = "wsbridge"
    point_in_time = ("markets",)

    def __init__(self, *, redis_url: str, window_ms: float, layer_alias: str = "default") -> None:
        super().__init__()
        self.redis_url = redis_url
        self.coalescer = Coalescer(window_ms / 1000)
        self.layer_alias = layer_alias
        self.loop = asyncio.new_event_loop()
        self.stats: dict[str, MarketStats] = {}
        self.redis: aioredis.Redis | None = None
        self.pubsub: Any = None
        self.layer: Any = None
        self.sent = 0
        self.bridge_metrics = BridgeMetrics()

    # -- the loop base's hooks -----------------------------------------------------------

    def setup(self) -> None:
        self.loop.run_until_complete(self._connect())

    def fetch(self) -> Fetched:
        return self.loop.run_until_complete(self._fetch())

    def handle(self, batch: Fetched) -> dict[str, Any]:
        return self.loop.run_until_complete(self._handle(batch))

    def recover(self, exc: BaseException) -> None:
        self.loop.run_until_complete(self._disconnect())
        self.coalescer.windows.clear()  # clients see the gap and take a new snapshot

    def close(self) -> None:
        self.loop.run_until_complete(self._disconnect())
        self.loop.close()

    # -- async parts ---------------------------------------------------------------------

    async def _connect(self) -> None:
        self.redis = aioredis.Redis.from_url(self.redis_url)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.psubscribe(*PATTERNS)
        self.layer = get_channel_layer(self.layer_alias)
        logger.info("wsbridge: subscribed to %s", ", ".join(PATTERNS))

    def _connected(self) -> aioredis.Redis:
        if self.redis is None:
            raise RuntimeError("wsbridge: not connected to Redis")
        return self.redis

    async def _disconnect(self) -> None:
        if self.pubsub is not None:
            try:
                await self.pubsub.aclose()
            except Exception:  # noqa: BLE001 - best effort: it is dropped either way
                logger.debug("wsbridge: closing the subscription failed", exc_info=True)
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except Exception:  # noqa: BLE001 - best effort: it is dropped either way
                logger.debug("wsbridge: closing the connection failed", exc_info=True)
        self.pubsub = self.redis = None

    async def _fetch(self) -> Fetched:
        deadline = self.coalescer.next_deadline()
        timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        messages: list[dict[str, Any]] = []
        message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        while message is not None:
            if message.get("type") == "pmessage":
                messages.append(message)
            if len(messages) >= MAX_DRAIN:
                break
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        deadline = self.coalescer.next_deadline()
        return Fetched(messages, deadline is not None and deadline <= time.monotonic())

    async def _handle(self, batch: Fetched) -> dict[str, Any]:
        sends: list[tuple[str, dict[str, Any]]] = []
        now = time.monotonic()
        for message in batch.messages:
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            data = message["data"]
            try:
                if channel.startswith("md.depth."):
                    for symbol, window in self.coalescer.add_depth(json.loads(data), now):
                        await self._emit(symbol, window, sends)
                elif channel.startswith("md.trades."):
                    self.coalescer.add_trades(channel[len("md.trades.") :], json.loads(data), now)
                elif channel.startswith("user."):
                    self._user(int(channel[len("user.") :]), json.loads(data), sends)
                elif channel.startswith("ws.revoked."):
                    user_id = int(channel[len("ws.revoked.") :])
                    credential = data.decode() if isinstance(data, bytes) else data
                    sends.append(
                        (
                            user_group(user_id),
                            {"type": "user.revoked", "credential": credential},
                        )
                    )
            except (ValueError, KeyError, TypeError):
                logger.warning("wsbridge: malformed message on %s dropped", channel)
                self.bridge_metrics.malformed.inc()
            if self.coalescer.window_s <= 0:  # no coalescing: each engine batch on its own
                for symbol, window in self.coalescer.due(float("inf")):
                    await self._emit(symbol, window, sends)
        for symbol, window in self.coalescer.due(time.monotonic()):
            await self._emit(symbol, window, sends)
        await self._send(sends)
        if batch.messages:
            self.bridge_metrics.received.inc(len(batch.messages))
        self.bridge_metrics.sent(sends)
        return {"size": len(batch.messages), "sent": len(sends), "markets": len(self.stats)}

    def _user(self, user_id: int, events: list[dict[str, Any]], sends: list) -> None:
        texts = [data_frame("user", "update", None, event) for event in events]
        sends.append((user_group(user_id), {"type": "user.events", "texts": texts}))

    async def _emit(self, symbol: str, window: Window, sends: list) -> None:
        if window.sequence is not None:
            text = data_frame(
                f"depth.{symbol}",
                "update",
                window.sequence,
                depth_sides(
                    bids=depth_levels(window.bids, descending=True),
                    asks=depth_levels(window.asks, descending=False),
                ),
                first_sequence=window.first_sequence,
            )
            sends.append(
                (
                    md_group("depth", symbol),
                    {
                        "type": "md.depth",
                        "symbol": symbol,
                        "first_sequence": window.first_sequence,
                        "sequence": window.sequence,
                        "text": text,
                    },
                )
            )
        if window.trades:
            await self._emit_trades(symbol, window.trades, sends)

    async def _emit_trades(self, symbol: str, trades: list[dict[str, Any]], sends: list) -> None:
        last_id = trades[-1]["id"]
        sends.append(
            (
                md_group("trades", symbol),
                {
                    "type": "md.trades",
                    "text": data_frame(f"trades.{symbol}", "update", last_id, trades),
                },
            )
        )
        stats = self.stats.get(symbol)
        if stats is None:
            stats = self.stats[symbol] = await self._seed(symbol, before=trades[0]["id"])
        touched: dict[str, list[Candle]] = {}
        for trade in trades:
            for interval, candles in stats.add(trade).items():
                seen = touched.setdefault(interval, [])
                for candle in candles:
                    if not seen or seen[-1] is not candle:
                        seen.append(candle)
        for interval, candles in touched.items():
            channel = f"klines.{symbol}.{interval}"
            for candle in candles:
                sends.append(
                    (
                        md_group("klines", symbol, interval),
                        {
                            "type": "md.klines",
                            "text": data_frame(channel, "update", last_id, candle.json()),
                        },
                    )
                )
        best_bid, best_ask = await self._best(symbol)
        ticker = stats.ticker(int(time.time() * 1000), best_bid, best_ask)
        sends.append(
            (
                md_group("ticker", symbol),
                {
                    "type": "md.ticker",
                    "text": data_frame(f"ticker.{symbol}", "update", last_id, ticker),
                },
            )
        )

    async def _seed(self, symbol: str, *, before: int) -> MarketStats:
        """A market's candles from the read model's recent trades, up to ``before``."""
        stats = MarketStats(symbol)
        try:
            raw = await self._connected().lrange(keys.rm_trades(symbol), 0, keys.RECENT_ITEMS - 1)
        except Exception:
            logger.exception("wsbridge: could not seed %s's candles", symbol)
            return stats
        earlier = [t for t in (json.loads(r) for r in raw) if t["id"] < before]
        for trade in sorted(earlier, key=lambda t: t["id"]):
            stats.add(trade)
        return stats

    async def _best(self, symbol: str) -> tuple[str | None, str | None]:
        raw = await self._connected().get(keys.rm_depth(symbol))
        if not raw:
            return None, None
        book = json.loads(raw)
        bid = book["bids"][0][0] if book["bids"] else None
        ask = book["asks"][0][0] if book["asks"] else None
        return bid, ask

    async def _send(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """The batch's group sends, one after the other: on the Pub/Sub layer each is one
        PUBLISH, and awaiting each keeps a market's messages in order (concurrent sends
        would take several connections and could overtake each other). Each event names
        its group so that a web process's hub can route it."""
        layer = self.layer
        for group, event in sends:
            event["group"] = group
            await layer.group_send(group, event)
        self.sent += len(sends)
