"""The order book of one market: resting orders in price-time priority.

Layout, chosen for the hot path (see bench/engine_core.py):

* each side keeps a ``dict`` price -> :class:`Level` and a sorted ``list`` of keys with
  the best level at the *end*, so taking the best level away is ``list.pop()``.
  Bids are keyed by price (ascending, best = highest = last); asks by ``-price``
  (ascending, best = lowest price = last).
* each level is a FIFO as an intrusive doubly linked list through ``Order.prev`` /
  ``Order.next``: append at the tail, take from the head and cancel anywhere in O(1).

The book only keeps orders in order; balances, events and rules live in the engine.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import TYPE_CHECKING

from .stops import StopBook
from .types import MarketStatus, OrderStatus, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .balances import Balance
    from .rules import MarketRules


_BUY = Side.BUY


class Order:
    """A resting (or in-flight) order. Field names match OrderAccepted/OrderUpdated.

    An ordinary order reads ``stop_price`` 0 and ``order_list_id`` None from the class (no
    slot to fill on the hot path); a stop order or an order of an OCO list is a
    :class:`ConditionalOrder`, which has the two as slots. ``priority`` is the order's
    place in its level's queue (smaller: earlier): its id when placed, a fresh number from
    the order-id counter when a trigger or an amend (re)queued it."""

    __slots__ = (
        "order_id",
        "user_id",
        "symbol",
        "side",
        "type",
        "time_in_force",
        "post_only",
        "price",
        "quantity",
        "filled_quantity",
        "filled_quote",
        "status",
        "client_order_id",
        "created_ts",
        "updated_ts",
        "priority",
        "remaining",
        # engine internals
        "is_buy",
        "prev",
        "next",
        "base_bal",
        "quote_bal",
    )

    def __init__(
        self,
        order_id: int,
        user_id: int,
        symbol: str,
        side: Side,
        type: OrderType,  # noqa: A002 - the event field name
        time_in_force: TimeInForce,
        post_only: bool,
        price: int,
        quantity: int,
        filled_quantity: int = 0,
        filled_quote: int = 0,
        status: OrderStatus = OrderStatus.NEW,
        client_order_id: str | None = None,
        created_ts: int = 0,
        updated_ts: int = 0,
        priority: int = 0,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.symbol = symbol
        self.side = side
        self.type = type
        self.time_in_force = time_in_force
        self.post_only = post_only
        self.price = price
        self.quantity = quantity
        self.filled_quantity = filled_quantity
        self.filled_quote = filled_quote
        self.status = status
        self.client_order_id = client_order_id
        self.created_ts = created_ts
        self.updated_ts = updated_ts
        self.priority = priority or order_id
        self.remaining = quantity - filled_quantity
        self.is_buy = side == _BUY
        # prev / next are set when the order joins a level, base_bal / quote_bal by the
        # engine: leaving them out here keeps the hot path cheaper

    stop_price: int = 0  # ticks; a ConditionalOrder's trigger (0: none)
    order_list_id: int | None = None  # a ConditionalOrder's OCO list
    prev: Order | None
    next: Order | None
    base_bal: Balance
    quote_bal: Balance

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, user={self.user_id}, {self.symbol} {self.side} "
            f"{self.remaining}/{self.quantity}@{self.price} {self.status})"
        )


class ConditionalOrder(Order):
    """A stop order (``stop_price`` > 0) or an order of an OCO list (``order_list_id``)."""

    __slots__ = ("stop_price", "order_list_id")

    def __init__(
        self,
        order_id: int,
        user_id: int,
        symbol: str,
        side: Side,
        type: OrderType,  # noqa: A002 - the event field name
        time_in_force: TimeInForce,
        post_only: bool,
        price: int,
        quantity: int,
        filled_quantity: int = 0,
        filled_quote: int = 0,
        status: OrderStatus = OrderStatus.NEW,
        client_order_id: str | None = None,
        created_ts: int = 0,
        updated_ts: int = 0,
        priority: int = 0,
        stop_price: int = 0,
        order_list_id: int | None = None,
    ) -> None:
        super().__init__(
            order_id, user_id, symbol, side, type, time_in_force, post_only, price, quantity,
            filled_quantity, filled_quote, status, client_order_id, created_ts, updated_ts,
            priority,
        )  # fmt: skip
        self.stop_price = stop_price
        self.order_list_id = order_list_id


def new_order(
    order_id: int,
    user_id: int,
    symbol: str,
    side: Side,
    type: OrderType,  # noqa: A002 - the event field name
    time_in_force: TimeInForce,
    post_only: bool,
    price: int,
    quantity: int,
    filled_quantity: int = 0,
    filled_quote: int = 0,
    status: OrderStatus = OrderStatus.NEW,
    client_order_id: str | None = None,
    created_ts: int = 0,
    updated_ts: int = 0,
    priority: int = 0,
    stop_price: int = 0,
    order_list_id: int | None = None,
) -> Order:
    """An :class:`Order`, or a :class:`ConditionalOrder` if it has a stop price or a list
    (recovery and tests build orders from stored fields with it)."""
    if stop_price or order_list_id is not None:
        return ConditionalOrder(
            order_id, user_id, symbol, side, type, time_in_force, post_only, price, quantity,
            filled_quantity, filled_quote, status, client_order_id, created_ts, updated_ts,
            priority, stop_price, order_list_id,
        )  # fmt: skip
    return Order(
        order_id, user_id, symbol, side, type, time_in_force, post_only, price, quantity,
        filled_quantity, filled_quote, status, client_order_id, created_ts, updated_ts,
        priority,
    )  # fmt: skip


class Level:
    """All orders resting at one price on one side, oldest first."""

    __slots__ = ("price", "total", "head", "tail")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0  # lots: sum of the orders' remaining
        self.head: Order | None = None
        self.tail: Order | None = None

    def append(self, order: Order) -> None:
        tail = self.tail
        order.prev = tail
        order.next = None
        if tail is None:
            self.head = order
        else:
            tail.next = order
        self.tail = order
        self.total += order.remaining

    def __iter__(self) -> Iterator[Order]:
        o = self.head
        while o is not None:
            yield o
            o = o.next


class Book:
    """Both sides of one market."""

    __slots__ = (
        "rules",
        "symbol",
        "bids",
        "bid_keys",
        "asks",
        "ask_keys",
        "depth_seq",
        "stops",
        "last_price",
        # the engine's per-market caches (see Engine._place): the rules as plain ints,
        # each trader's (base, quote) balances and the fee account's balances
        "trading",
        "base",
        "quote",
        "base_per_lot",
        "quote_per_tick_lot",
        "min_quantity",
        "max_quantity",
        "max_price",
        "min_notional",
        "maker_fee_bps",
        "taker_fee_bps",
        "bals",
        "fee_bals",
        "open_by_user",
    )

    def __init__(self, rules: MarketRules) -> None:
        self.symbol = rules.symbol
        self.bids: dict[int, Level] = {}  # price -> level
        self.bid_keys: list[int] = []  # prices ascending: best bid last
        self.asks: dict[int, Level] = {}  # price -> level
        self.ask_keys: list[int] = []  # -price ascending: best (lowest) ask last
        self.depth_seq = 0
        self.stops = StopBook()  # pending stop orders
        self.last_price = 0  # ticks: the last trade's price; 0 before the first trade
        self.bals: dict[int, tuple[Balance, Balance]] = {}  # user -> (base, quote)
        self.fee_bals: tuple[Balance, Balance] | None = None  # fee account's (base, quote)
        self.open_by_user: dict[int, int] = {}  # user -> how many of its orders rest here
        self.set_rules(rules)

    def set_rules(self, rules: MarketRules) -> None:
        self.rules = rules
        self.trading = rules.status == MarketStatus.TRADING
        self.base = rules.base
        self.quote = rules.quote
        self.base_per_lot = rules.base_per_lot
        self.quote_per_tick_lot = rules.quote_per_tick_lot
        self.min_quantity = rules.min_quantity
        self.max_quantity = rules.max_quantity
        self.max_price = rules.max_price
        self.min_notional = rules.min_notional
        self.maker_fee_bps = rules.maker_fee_bps
        self.taker_fee_bps = rules.taker_fee_bps

    # -- queries -------------------------------------------------------------------

    def best_bid(self) -> int | None:
        k = self.bid_keys
        return k[-1] if k else None

    def best_ask(self) -> int | None:
        k = self.ask_keys
        return -k[-1] if k else None

    def depth(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids = self.bids
        asks = self.asks
        bk = self.bid_keys
        ak = self.ask_keys
        n = min(limit, len(bk))
        b = [(bk[-1 - i], bids[bk[-1 - i]].total) for i in range(n)]
        n = min(limit, len(ak))
        a = [(-ak[-1 - i], asks[-ak[-1 - i]].total) for i in range(n)]
        return b, a

    def iter_orders(self) -> Iterator[Order]:
        """Resting orders: bids best first, then asks best first; each level oldest first
        (the pending stops are in ``stops``)."""
        for p in reversed(self.bid_keys):
            yield from self.bids[p]
        for k in reversed(self.ask_keys):
            yield from self.asks[-k]

    # -- changes -------------------------------------------------------------------

    def new_level(self, is_buy: bool, price: int) -> Level:
        """Create the (missing) level at ``price`` and file its key; return it."""
        lvl = Level(price)
        if is_buy:
            self.bids[price] = lvl
            keys = self.bid_keys
            k = price
        else:
            self.asks[price] = lvl
            keys = self.ask_keys
            k = -price
        if not keys or k > keys[-1]:
            keys.append(k)
        else:
            insort(keys, k)
        return lvl

    def add(self, order: Order) -> Level:
        """Append ``order`` at the back of its price level; return the level."""
        price = order.price
        is_buy = order.is_buy
        lvl = (self.bids if is_buy else self.asks).get(price)
        if lvl is None:
            lvl = self.new_level(is_buy, price)
        lvl.append(order)
        return lvl

    def remove(self, order: Order) -> int:
        """Take a resting order off the book (cancel), dropping its level if it empties;
        return what now rests at its price on its side (0: the level is gone). The one
        place that unlinks an order from the middle of a level (matching takes from the
        head, in the engine)."""
        price = order.price
        if order.is_buy:
            levels = self.bids
            keys = self.bid_keys
            k = price
        else:
            levels = self.asks
            keys = self.ask_keys
            k = -price
        lvl = levels[price]
        prev = order.prev
        nxt = order.next
        if prev is None:
            lvl.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            lvl.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = None
        lvl.total = total = lvl.total - order.remaining
        if lvl.head is None:
            del levels[price]
            if keys[-1] == k:
                keys.pop()
            else:
                del keys[bisect_left(keys, k)]
        return total

    def check(self) -> None:
        """Raise AssertionError if the book's own structure is broken."""
        sym = self.symbol
        for name, levels, keys, sign in (
            ("bids", self.bids, self.bid_keys, 1),
            ("asks", self.asks, self.ask_keys, -1),
        ):
            assert all(keys[i] < keys[i + 1] for i in range(len(keys) - 1)), (
                f"{sym} {name}: keys not strictly sorted: {keys}"
            )
            assert sorted(sign * k for k in keys) == sorted(levels), (
                f"{sym} {name}: keys {keys} do not match levels {sorted(levels)}"
            )
            for price, lvl in levels.items():
                assert lvl.price == price, f"{sym} {name}: level {lvl.price} filed at {price}"
                assert lvl.head is not None, f"{sym} {name} {price}: empty level"
                total = 0
                prev = None
                o: Order | None = lvl.head
                while o is not None:
                    assert o.prev is prev, f"{sym} {name} {price}: broken prev link at {o}"
                    assert o.price == price, f"{sym} {name} {price}: {o} at the wrong level"
                    assert o.is_buy == (sign == 1), f"{sym} {name} {price}: {o} on wrong side"
                    assert o.symbol == sym, f"{sym} {name}: {o} in the wrong book"
                    assert o.remaining > 0, f"{sym}: {o} rests with nothing remaining"
                    assert o.remaining == o.quantity - o.filled_quantity, f"{sym}: {o} remaining"
                    assert o.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED), (
                        f"{sym}: {o} rests with status {o.status}"
                    )
                    assert o.type in (OrderType.LIMIT, OrderType.STOP_LIMIT), (
                        f"{sym}: {o} is a resting market order"
                    )
                    assert prev is None or prev.priority < o.priority, (
                        f"{sym} {name} {price}: {o} queued behind a later order {prev}"
                    )
                    total += o.remaining
                    prev = o
                    o = o.next
                assert lvl.tail is prev, f"{sym} {name} {price}: tail is not the last order"
                assert lvl.total == total, (
                    f"{sym} {name} {price}: level total {lvl.total} != sum of orders {total}"
                )
        bb = self.best_bid()
        ba = self.best_ask()
        assert bb is None or ba is None or bb < ba, f"{sym}: crossed book, bid {bb} >= ask {ba}"
        self.stops.check(sym, self.last_price)
