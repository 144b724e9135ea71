"""The read model's depth, at two depths.

``rm:depth:S`` is a JSON snapshot of the top ``TOP_LEVELS`` levels a side, rewritten by the
engine for every book a batch changed: what GET depth up to 100 levels, the WebSocket
snapshot and the tickers' best prices read in one GET.

Deeper requests (GET depth with ``limit`` past 100, up to ``MAX_LEVELS``, or ``limit=all``)
read the whole book, kept per market in two Redis sorted sets, ``rm:book:S:bids`` and
``rm:book:S:asks``, every score 0 so that members sort by their text:
``"<price in ticks, 40 digits>:<price>:<quantity>"``. The engine keeps a mirror of the
members (ticks -> member), so a batch sends, per side of each book it changed, one ZREM of
the changed levels' old members and one ZADD of their new ones (in parts of at most
MAX_VALUES_PER_OP values), beside ``rm:book:S:seq`` = the book's depth sequence, in the
same MULTI as everything else: the per-batch cost follows the levels that changed, which
the batch formats anyway for its depth update, whatever the book's size. A read is one
MULTI of two ZRANGE ... BYLEX LIMIT and a GET: O(log n + levels read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from infra import keys

TOP_LEVELS = 100  # levels a side in rm:depth:S (and the WebSocket snapshot)
MAX_LEVELS = 5_000  # the deepest numbered limit GET depth serves (Binance's maximum)
TICKS_WIDTH = 40  # digits: 10^38 ticks (numeric(38,18) prices at an 18-decimal tick) fit
SIDES = ("bids", "asks")


def member(ticks: int, price: str, quantity: str) -> str:
    return f"{ticks:0{TICKS_WIDTH}d}:{price}:{quantity}"


def apply_levels(
    current: dict[int, str],
    levels: dict[int, int],
    price: Callable[[int], str],
    quantity: Callable[[int], str],
) -> tuple[list[str], list[str]]:
    """Fold a batch's changed levels of one side (ticks -> new total lots, 0 for an
    emptied level) into ``current`` (ticks -> member, the engine's mirror of the side's
    sorted set); returns the members to remove and to add."""
    removed: list[str] = []
    added: list[str] = []
    for ticks, lots in levels.items():
        old = current.pop(ticks, None)
        if old is not None:
            removed.append(old)
        if lots:
            new = current[ticks] = member(ticks, price(ticks), quantity(lots))
            added.append(new)
    return removed, added


def rewrite(
    client: redis.Redis,
    symbol: str,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    sequence: int,
    price: Callable[[int], str],
    quantity: Callable[[int], str],
    *,
    chunk: int = 1000,
) -> tuple[dict[int, str], dict[int, str]]:
    """Replace a market's whole book (at start-up; the engine takes no job meanwhile);
    returns the engine's mirror of both sides (ticks -> member)."""
    mirrors: tuple[dict[int, str], dict[int, str]] = ({}, {})
    pipe = client.pipeline(transaction=True)
    pipe.delete(*(keys.rm_book(symbol, side) for side in SIDES))
    for side, levels, mirror in zip(SIDES, (bids, asks), mirrors, strict=True):
        key = keys.rm_book(symbol, side)
        for ticks, lots in levels:
            mirror[ticks] = member(ticks, price(ticks), quantity(lots))
        members = list(mirror.values())
        for start in range(0, len(members), chunk):
            pipe.zadd(key, dict.fromkeys(members[start : start + chunk], 0))
    pipe.set(keys.rm_book_seq(symbol), str(sequence))
    pipe.execute()
    return mirrors


def read(
    client: redis.Redis, symbol: str, limit: int | None
) -> tuple[int, list[list[str]], list[list[str]]]:
    """``(sequence, bids, asks)`` with up to ``limit`` levels a side (None: all), best
    first, each ``[price, quantity]``, from one consistent point of the book."""
    window: tuple[Any, ...] = () if limit is None else ("LIMIT", 0, limit)
    pipe = client.pipeline(transaction=True)
    pipe.execute_command("ZRANGE", keys.rm_book(symbol, "bids"), "+", "-", "BYLEX", "REV", *window)
    pipe.execute_command("ZRANGE", keys.rm_book(symbol, "asks"), "-", "+", "BYLEX", *window)
    pipe.get(keys.rm_book_seq(symbol))
    bids, asks, sequence = pipe.execute()
    return (
        int(sequence or 0),
        [m.decode().split(":")[1:] for m in bids],
        [m.decode().split(":")[1:] for m in asks],
    )
