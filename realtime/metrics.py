"""The WebSocket sockets' metrics (docs/operations.md, "Metrics"): the web process's,
shown by its /metrics (imported by the consumers, the hub and the connection cap only;
the bridge's are realtime.bridge.BridgeMetrics, on its own port).

They are counted per frame and per socket, on the event loop's one thread, as plain ints
(:class:`~infra.metrics.Tally`), read only when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Iterator

from infra.metrics import ScrapeGauges, Tally

CHANNEL_KINDS = ("depth", "trades", "klines", "ticker", "user")
CONTROL = "control"  # replies, pings, errors: what a socket is sent outside its channels
DROP_REASONS = ("slow_consumer", "closed", "depth_backlog")


class SocketStats:
    """This web process's sockets now; written on the event loop, read by scrapes."""

    def __init__(self) -> None:
        self.open = 0
        self.subscriptions: dict[str, int] = dict.fromkeys(CHANNEL_KINDS, 0)

    def gauges(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        yield "exchange_ws_connections", (), float(self.open)
        for kind, count in list(self.subscriptions.items()):
            yield "exchange_ws_subscriptions", (kind,), float(count)


SOCKETS = SocketStats()
ScrapeGauges(
    {
        "exchange_ws_connections": ("WebSocket connections open in this web process.", ()),
        "exchange_ws_subscriptions": (
            "Channel subscriptions of this web process's sockets, by channel kind.",
            ("channel",),
        ),
    },
    SOCKETS.gauges,
)
OPENED = Tally(
    "exchange_ws_connections_opened", "WebSocket connections accepted by this web process."
)
REFUSED = Tally(
    "exchange_ws_connections_refused",
    "WebSocket connections refused (too_many_connections: the per-address cap).",
    ("reason",),
    preset=[("too_many_connections",)],
)
SENT = Tally(
    "exchange_ws_messages_sent",
    "Frames written to sockets, by channel kind (control: replies, pings, errors).",
    ("channel",),
    preset=[(kind,) for kind in (*CHANNEL_KINDS, CONTROL)],
)
DROPPED = Tally(
    "exchange_ws_messages_dropped",
    "Frames not written, by reason: slow_consumer (the client was too far behind and is "
    "disconnected), closed (the socket was closing), depth_backlog (depth updates held "
    "past the limit while a snapshot was read).",
    ("reason",),
    preset=[(reason,) for reason in DROP_REASONS],
)
SLOW_DISCONNECTS = Tally(
    "exchange_ws_slow_consumer_disconnects",
    "Sockets disconnected for being too far behind (close code 4001).",
)
HUB_EVENTS = Tally(
    "exchange_ws_hub_events", "Bridge messages this web process's hub received (one per group)."
)
# the label tuples, made once (a count is then one dict update)
SENT_KEYS = {kind: (kind,) for kind in (*CHANNEL_KINDS, CONTROL)}
DROP_KEYS = {reason: (reason,) for reason in DROP_REASONS}
