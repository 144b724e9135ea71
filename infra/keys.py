"""Names of every Redis key, list, stream and channel the engine shares with others."""

from __future__ import annotations

#: What the read model's recent-items lists (``rm_closed_orders``, ``rm_fills``,
#: ``rm_trades``) hold for their readers: their first RECENT_ITEMS items, newest first.
#: The engine worker trims them back to this now and then (engine_worker/fold.py,
#: push_recent), so a reader reads its first RECENT_ITEMS, never the whole list.
RECENT_ITEMS = 1000


def queue(shard: int) -> str:
    """The RQ queue one engine shard works on."""
    return f"engine.{shard}"


def events_stream(shard: int) -> str:
    """What each batch of the shard changed, for the DB processor (docs/event-stream.md)."""
    return f"engine.events.{shard}"


def commands_stream(shard: int) -> str:
    """The shard's command log, entries keyed ``<last seq>-0``: replayed at start-up."""
    return f"engine.commands.{shard}"


def alive(shard: int) -> str:
    """Heartbeat key the engine worker refreshes while it takes jobs."""
    return f"engine.alive.{shard}"


def dump(shard: int) -> str:
    """Where the unlogged "Dump" command writes the engine's state (reconcile reads it)."""
    return f"engine.dump.{shard}"


def reconcile_result(shard: int) -> str:
    """The outcome of the shard's last ``manage.py reconcile`` run (a hash: when it ran,
    whether it found differences, when it last found none), for /metrics."""
    return f"engine.reconcile.{shard}"


def reply_channel(gateway_id: str) -> str:
    return f"engine.reply.{gateway_id}"


def md_channel(kind: str, symbol: str) -> str:
    return f"md.{kind}.{symbol}"


def user_channel(user_id: int) -> str:
    return f"user.{user_id}"


# Read model (docs/architecture.md, "The path of an order"): written by the engine in the
# same MULTI as its replies.
def rm_balances(user_id: int) -> str:
    return f"rm:bal:{user_id}"


def rm_order(order_id: int) -> str:
    return f"rm:order:{order_id}"


def rm_open_orders(user_id: int) -> str:
    return f"rm:open:{user_id}"


def rm_closed_orders(user_id: int) -> str:
    return f"rm:closed:{user_id}"


def rm_client_order_ids(user_id: int) -> str:
    return f"rm:coid:{user_id}"


def rm_fills(user_id: int) -> str:
    return f"rm:fills:{user_id}"


def rm_depth(symbol: str) -> str:
    return f"rm:depth:{symbol}"


def rm_trades(symbol: str) -> str:
    return f"rm:trades:{symbol}"


def rm_ready(shard: int) -> str:
    """Set once the shard's read model is complete; absent at start-up (Redis lost its
    data, or the rm:* keys were deleted), the engine rewrites the read model from memory."""
    return f"rm:ready:{shard}"


def rm_book(symbol: str, side: str) -> str:
    """A market's whole book side ("bids" or "asks") for deep depth (infra/deepbook.py)."""
    return f"rm:book:{symbol}:{side}"


def rm_book_seq(symbol: str) -> str:
    """The depth sequence the whole book (rm_book) is at."""
    return f"rm:book:{symbol}:seq"
