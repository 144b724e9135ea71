"""Pending stop orders of one market, and what a stop order locks.

A stop order waits here, off the book, until the market's last trade price reaches its
``stop_price``: a sell stop triggers when the last price falls to or below its stop price,
a buy stop when it rises to or above it. A stop cannot be placed with its condition
already holding (``stop_would_trigger``), and every check triggers every stop whose
condition holds, so between commands no pending stop's condition holds (an invariant).

Trigger order, when one check triggers several (a trade that moved the price past several
stop prices): sell stops highest stop price first, buy stops lowest first -- the order in
which the moving price reached them -- and within one stop price in placement order (order
id). Sell and buy stops can trigger in the same check only at a market's first trade (before
it, there is no last price to compare a new stop with); then the sell stops go first.

Layout: like the book's sides, each side keeps a ``dict`` stop price -> orders (by order id)
and a sorted ``list`` of signed keys with the next stop to trigger at the end: sell stops
keyed by ``+stop`` (the highest last), buy stops by ``-stop`` (the lowest last). "Triggered
by last price L" is then ``key >= L`` for sells and ``key >= -L`` for buys.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import TYPE_CHECKING

from .types import OrderStatus, OrderType

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .book import Order

#: What a stop-market buy locks beyond ``quantity * stop_price``: once triggered it is a
#: market buy that spends at most its lock (and stops filling when the next lot would
#: cost more), so the margin is how far past its stop price it may still fill.
STOP_MARKET_MARGIN_BPS = 500  # 5%


def stop_market_budget(quantity: int, stop_price: int, quote_per_tick_lot: int) -> int:
    """The quote a stop-market buy of ``quantity`` lots locks, and may spend once triggered:
    ``quantity * stop_price`` plus STOP_MARKET_MARGIN_BPS, rounded up."""
    notional = quantity * stop_price * quote_per_tick_lot
    return -(-notional * (10_000 + STOP_MARKET_MARGIN_BPS) // 10_000)


def triggers(is_buy: bool, stop_price: int, last_price: int) -> bool:
    """Whether a stop's condition holds at ``last_price`` (0: the market never traded)."""
    if last_price <= 0:
        return False
    return last_price >= stop_price if is_buy else last_price <= stop_price


def _order_id(o: Order) -> int:
    return o.order_id


class StopBook:
    """The pending stop orders of one market (see the module docstring)."""

    __slots__ = ("sells", "sell_keys", "buys", "buy_keys", "count")

    def __init__(self) -> None:
        self.sells: dict[int, dict[int, Order]] = {}  # stop price -> {order id: order}
        self.sell_keys: list[int] = []  # +stop ascending: the highest (next to trigger) last
        self.buys: dict[int, dict[int, Order]] = {}
        self.buy_keys: list[int] = []  # -stop ascending: the lowest (next to trigger) last
        self.count = 0

    def _side(self, o: Order) -> tuple[dict[int, dict[int, Order]], list[int], int]:
        if o.is_buy:
            return self.buys, self.buy_keys, -o.stop_price
        return self.sells, self.sell_keys, o.stop_price

    def add(self, o: Order) -> None:
        levels, keys, k = self._side(o)
        lvl = levels.get(o.stop_price)
        if lvl is None:
            lvl = levels[o.stop_price] = {}
            insort(keys, k)
        lvl[o.order_id] = o
        self.count += 1

    def remove(self, o: Order) -> None:
        levels, keys, k = self._side(o)
        lvl = levels[o.stop_price]
        del lvl[o.order_id]
        if not lvl:
            del levels[o.stop_price]
            del keys[bisect_left(keys, k)]
        self.count -= 1

    def pop_triggered(self, last_price: int) -> list[Order]:
        """Take out the stops that ``last_price`` triggers, in trigger order."""
        out: list[Order] = []
        if last_price <= 0 or not self.count:
            return out
        for levels, keys, bound, sign in (
            (self.sells, self.sell_keys, last_price, 1),
            (self.buys, self.buy_keys, -last_price, -1),
        ):
            while keys and keys[-1] >= bound:
                lvl = levels.pop(sign * keys.pop())
                out.extend(sorted(lvl.values(), key=_order_id))
        self.count -= len(out)
        return out

    def __iter__(self) -> Iterator[Order]:
        """Every pending stop in trigger order: sells, then buys."""
        for levels, keys, sign in ((self.sells, self.sell_keys, 1), (self.buys, self.buy_keys, -1)):
            for k in reversed(keys):
                yield from sorted(levels[sign * k].values(), key=_order_id)

    def check(self, symbol: str, last_price: int) -> None:
        """Raise AssertionError if the structure is broken or a stop's condition holds."""
        n = 0
        for name, levels, keys, sign, is_buy in (
            ("sell stops", self.sells, self.sell_keys, 1, False),
            ("buy stops", self.buys, self.buy_keys, -1, True),
        ):
            assert keys == sorted(keys) and len(set(keys)) == len(keys), f"{symbol} {name} keys"
            assert sorted(sign * k for k in keys) == sorted(levels), f"{symbol} {name} levels"
            for stop, lvl in levels.items():
                assert lvl, f"{symbol} {name} {stop}: empty level"
                for oid, o in lvl.items():
                    n += 1
                    assert o.order_id == oid and o.stop_price == stop, f"{o} filed at {stop}"
                    assert o.symbol == symbol and o.is_buy == is_buy, f"{o} in {symbol} {name}"
                    assert o.status == OrderStatus.PENDING, f"{o} pending with {o.status}"
                    assert o.type in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET), f"{o} type"
                    assert o.filled_quantity == 0 and o.remaining == o.quantity > 0, f"{o}"
                    assert not triggers(is_buy, stop, last_price), (
                        f"{o} still pending at last price {last_price}"
                    )
        assert n == self.count, f"{symbol}: {n} pending stops, count {self.count}"
