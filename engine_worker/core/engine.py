"""The matching engine: ``Engine.apply(command) -> list[Event]``.

One engine owns a shard: its markets (one :class:`Book` each), every balance and the
sequence counters. Every command consumes one ``seq`` (rejected ones included) and
every event it emits carries that number. Business refusals are events
(``OrderRejected`` / ``CommandRejected`` with a :class:`RejectReason`); an exception
out of ``apply`` is a bug.

Order of the events of one command: the order's own events (accepted, then per fill a
``Trade`` and the maker's ``OrderUpdated``, then the taker's ``OrderUpdated`` if it
filled or expired), then ``BalanceChanged`` (one per account touched, final values,
order of first touch), then ``DepthChanged`` (one per price level touched, final
totals, order of first touch, all with the book's next ``depth_seq``). When the trades
trigger stops (stops.py), the cascade's events come between the taker's update and the
balances: per check, each triggered stop's ``OrderTriggered`` (and, if it was in an OCO
list, its limit order's cancellation), then per triggered stop in that order its trades,
the makers' updates and its own final ``OrderUpdated``; an OCO list whose limit order
traded as a maker has its stop order's cancellation right after that match.

Stops, OCO lists and amends (``_place_stop``, ``_place_list``, ``_amend``, ``_take``,
``_cascade``) are a slow path by design. An ordinary order is an :class:`Order`, which
reads ``stop_price`` and ``order_list_id`` from its class; stops and orders of a list are
:class:`ConditionalOrder` (the two as slots). So the hot paths pay only for the two fields
on each order event (constants for an ordinary order), ``priority`` on each resting order,
a class check per fill (a conditional maker: its fields, its list), the last trade's price
per match and, after a match, a test for linked makers that traded and for pending stops.
Time priority: an order's ``priority`` is its id when placed; a triggered stop or an
amend that re-queues takes a fresh number from the order-id counter, so order ids have
gaps there, and recovery restores each level in ``priority`` order.

The place/match/cancel paths are written for speed (see bench/engine_core.py): locals
instead of attribute lookups, no helper calls per fill, balances reached through
references kept on each order and, per market, on the book (user -> (base, quote)),
rules copied onto the book as plain ints, enum members compared by identity (``==``
only as a fallback for plain strings), events built with ``Cls.__new__(Cls)`` plus one
store per field instead of the dataclass ``__init__`` (in the helpers at the end of this module:
one call per command for a batch, e.g. ``_balances_changed``; only the two commonest
paths, a limit order resting whole and a cancel, build theirs inline: a call there costs
1-2% of the benchmark), the taker's and fee account's balance deltas applied once per
command rather than per fill where nothing reads them meanwhile. Both sides match
through one loop, ``_match``, over the opposite side's signed keys. The rest favours plainness.

Where the time goes (callgrind on bench/engine_core.py's stream, 30,000 commands, CPython
3.11, counted over the bench's whole loop): interpreted, about 31,200 machine instructions a
command, most of them in the bytecode loop, no source line above 2% of them, with building
the events the contract asks for (5.6 a command on that stream) about 40% of it. Compiled by
mypyc (scripts/build_core.py), about 16,500, 1.9 times fewer; ``apply`` itself is about
11,200 of them, a fifth of that the events' allocation (``_new_trade(Trade)`` and the like:
a generic call into the type's allocator, about 400 instructions each; a native ``__init__``
would save most of them, but the interpreted core would pay more for that call than it
saves), then the indexes' dict operations and freeing what earlier events held.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from heapq import heappop, heappush
from typing import TYPE_CHECKING

from .balances import Balance
from .book import Book, ConditionalOrder, Level, Order
from .commands import (
    AddMarket,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Configure,
    Deposit,
    PlaceOrder,
    PlaceOrderList,
    SetMarketStatus,
    SetOrderLimit,
    Withdraw,
)
from .events import (
    BalanceChanged,
    CommandRejected,
    Deposited,
    DepthChanged,
    LimitsChanged,
    MarketChanged,
    OrderAccepted,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
    Trade,
    Withdrawn,
)
from .stops import stop_market_budget, triggers
from .types import MarketStatus, OrderStatus, OrderType, RejectReason, Side, TimeInForce

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .commands import Command
    from .events import Event
    from .rules import MarketRules

#: User id of the account that collects fees unless the engine is told otherwise.
#: 0 is never a database user id, so it cannot collide with a trader.
FEE_ACCOUNT_DEFAULT = 0
#: How long (ms) a client_order_id stays taken after its order was placed, until a
#: Configure command says otherwise.
CLIENT_ORDER_ID_RETENTION_DEFAULT = 24 * 3600 * 1000
#: ``Engine.coid_horizon`` before any order with a client id came (timestamps are >= 0).
COID_HORIZON_NONE = -1

_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_STOP_LIMIT = OrderType.STOP_LIMIT
_STOP_MARKET = OrderType.STOP_MARKET
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_PENDING = OrderStatus.PENDING
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_EXPIRED = OrderStatus.EXPIRED
_TRADING = MarketStatus.TRADING
_HALTED = MarketStatus.HALTED
_R = RejectReason
_UNKNOWN_ORDER = RejectReason.UNKNOWN_ORDER
# each event class's allocator, looked up once: object.__new__ in pure Python; compiled, the
# native class's own (object.__new__ refuses those)
_new_balance_changed = BalanceChanged.__new__
_new_command_rejected = CommandRejected.__new__
_new_depth_changed = DepthChanged.__new__
_new_order_accepted = OrderAccepted.__new__
_new_order_updated = OrderUpdated.__new__
_new_trade = Trade.__new__


class Engine:
    """All state of one shard; see the module docstring for the event contract."""

    def __init__(
        self,
        fee_account: int = FEE_ACCOUNT_DEFAULT,
        next_seq: int = 1,
        next_order_id: int = 1,
        next_trade_id: int = 1,
    ) -> None:
        self.fee_account = fee_account
        self.next_seq = next_seq
        self.next_order_id = next_order_id
        self.next_trade_id = next_trade_id
        self.markets: dict[str, MarketRules] = {}
        self.net_deposits: dict[str, int] = {}
        self._books: dict[str, Book] = {}
        self._accounts: dict[int, dict[str, Balance]] = {}  # user -> asset -> balance
        self._orders: dict[int, Order] = {}  # open orders by id
        self._user_orders: dict[int, dict[int, Order]] = {}  # user -> id -> open order
        self._coids: dict[tuple[int, str], int] = {}  # (user, client id) -> open order id
        # OCO pairs still linked: order id -> the other order of its list (both ways)
        self._links: dict[int, Order] = {}
        # makers with a link that a match filled (partly): their lists dissolve after it
        self._hits: list[Order] = []
        # limits (Configure, SetOrderLimit): open orders per user and market, 0 = none
        self.max_open_orders = 0
        self.order_limits: dict[int, int] = {}  # user -> its own limit
        self.coid_retention = CLIENT_ORDER_ID_RETENTION_DEFAULT
        # client order ids of orders placed within the retention window, open or not:
        # (user, client id) -> (order id, ts). Kept exactly while ts > coid_horizon, the
        # highest "ts - retention" any order with a client id brought; older ones are
        # pruned (a heap by ts), so the set is a function of the command stream alone.
        self._recent_coids: dict[tuple[int, str], tuple[int, int]] = {}
        self._coid_heap: list[tuple[int, int, int, str]] = []  # (ts, order id, user, coid)
        self.coid_horizon = COID_HORIZON_NONE
        # PlaceOrder and CancelOrder, the frequent ones, are dispatched by apply() itself
        self._handlers: dict[type, Callable[[Command, int], list[Event]]] = {
            CancelAll: self._cancel_all,  # type: ignore[dict-item]
            PlaceOrderList: self._place_list,  # type: ignore[dict-item]
            AmendOrder: self._amend,  # type: ignore[dict-item]
            Deposit: self._deposit,  # type: ignore[dict-item]
            Withdraw: self._withdraw,  # type: ignore[dict-item]
            AddMarket: self._add_market,  # type: ignore[dict-item]
            SetMarketStatus: self._set_status,  # type: ignore[dict-item]
            Configure: self._configure,  # type: ignore[dict-item]
            SetOrderLimit: self._set_order_limit,  # type: ignore[dict-item]
        }

    # ---------------------------------------------------------------- entry point

    def apply(self, command: Command) -> list[Event]:
        """Apply one command; return its events (all carrying the command's seq)."""
        seq = self.next_seq
        kind = type(command)
        if kind is PlaceOrder:
            self.next_seq = seq + 1
            return self._place(command, seq)  # type: ignore[arg-type]
        if kind is CancelOrder:
            self.next_seq = seq + 1
            return self._cancel(command, seq)  # type: ignore[arg-type]
        handler = self._handlers.get(kind)
        if handler is None:
            raise TypeError(f"not a command: {command!r}")
        self.next_seq = seq + 1
        return handler(command, seq)

    # ---------------------------------------------------------------- read side

    def balance(self, user_id: int, asset: str) -> tuple[int, int]:
        acct = self._accounts.get(user_id)
        b = acct.get(asset) if acct is not None else None
        return (0, 0) if b is None else (b.available, b.locked)

    def balances_of(self, user_id: int) -> dict[str, tuple[int, int]]:
        acct = self._accounts.get(user_id, {})
        return {a: (b.available, b.locked) for a, b in acct.items()}

    def open_orders_of(self, user_id: int, symbol: str | None = None) -> list[Order]:
        """The user's open orders, oldest first (by order id)."""
        orders = self._user_orders.get(user_id, {}).values()
        if symbol is None:
            return sorted(orders, key=_order_id)
        return sorted((o for o in orders if o.symbol == symbol), key=_order_id)

    def get_order(self, order_id: int) -> Order | None:
        return self._orders.get(order_id)

    def depth_snapshot(
        self, symbol: str, limit: int
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
        """(bids best first, asks best first, depth_seq); ([], [], 0) for an unknown market."""
        book = self._books.get(symbol)
        if book is None:
            return [], [], 0
        bids, asks = book.depth(limit)
        return bids, asks, book.depth_seq

    def depth_seq(self, symbol: str) -> int:
        book = self._books.get(symbol)
        return 0 if book is None else book.depth_seq

    def iter_balances(self) -> Iterator[tuple[int, str, int, int]]:
        for uid, acct in self._accounts.items():
            for asset, b in acct.items():
                yield uid, asset, b.available, b.locked

    def iter_open_orders(self) -> Iterator[Order]:
        """Every open order, book by book: the resting ones (bids then asks, in price-time
        order), then the pending stops (in trigger order)."""
        for book in self._books.values():
            yield from book.iter_orders()
            yield from book.stops

    def linked(self, order_id: int) -> Order | None:
        """The other order of ``order_id``'s OCO list while the two are linked, else None."""
        return self._links.get(order_id)

    def last_price(self, symbol: str) -> int:
        """The market's last trade price in ticks (0: none yet); what stops trigger on."""
        book = self._books.get(symbol)
        return 0 if book is None else book.last_price

    def resting_orders(self) -> dict[str, int]:
        """How many orders rest in each market's book (pending stops, off the book, not
        counted). Safe to call from another thread while the engine runs (metrics): it
        reads a copy of the books' index, and each count is one C-level sum, so nothing
        changes size under it."""
        return {
            symbol: sum(book.open_by_user.values()) - book.stops.count
            for symbol, book in list(self._books.items())
        }

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for acct in self._accounts.values():
            for asset, b in acct.items():
                out[asset] = out.get(asset, 0) + b.available + b.locked
        return out

    # ---------------------------------------------------------------- recovery

    def restore_market(self, rules: MarketRules, depth_seq: int = 0, last_price: int = 0) -> None:
        """Install (or replace) a market without an event or a seq; a new book starts at
        ``depth_seq`` with ``last_price`` as its last trade's price."""
        self.markets[rules.symbol] = rules
        book = self._books.get(rules.symbol)
        if book is None:
            book = self._books[rules.symbol] = Book(rules)
            book.depth_seq = depth_seq
            book.last_price = last_price
        else:
            book.set_rules(rules)

    def restore_balance(self, user_id: int, asset: str, available: int, locked: int) -> None:
        """Set a balance as-is, without events. ``net_deposits`` follows the totals."""
        b = self._bal(user_id, asset)
        delta = available + locked - b.available - b.locked
        b.available = available
        b.locked = locked
        self.net_deposits[asset] = self.net_deposits.get(asset, 0) + delta

    def restore_order(self, order: Order) -> None:
        """Put an open order back as-is, no events, no balance change: a resting one at the
        back of its level (restore them in ``priority`` order), a pending stop among the
        stops (in order id order)."""
        rules = self.markets[order.symbol]
        order.base_bal = self._bal(order.user_id, rules.base)
        order.quote_bal = self._bal(order.user_id, rules.quote)
        order.remaining = order.quantity - order.filled_quantity
        order.is_buy = order.side == _BUY
        book = self._books[order.symbol]
        if order.status == _PENDING:
            book.stops.add(order)
        else:
            book.add(order)
        self._index(order)

    def restore_order_list(self, order_id: int, other_id: int) -> None:
        """Link two restored open orders of one OCO list again (both are still open only
        while they are linked: the first fill or trigger cancels the other)."""
        a, b = self._orders[order_id], self._orders[other_id]
        self._links[order_id] = b
        self._links[other_id] = a

    def restore_client_order_id(self, user_id: int, client_order_id: str, order_id: int,
                                ts: int) -> None:  # fmt: skip
        """Remember an order placed at ``ts`` with a client id, as its placing did (recovery
        loads those newer than the snapshot's coid_horizon, in order id order)."""
        if ts > self.coid_horizon:
            self._recent_coids[(user_id, client_order_id)] = (order_id, ts)
            heappush(self._coid_heap, (ts, order_id, user_id, client_order_id))

    def client_order_id_taken(self, user_id: int, client_order_id: str, ts: int) -> int | None:
        """The order that keeps ``client_order_id`` taken for a new order at ``ts`` (an open
        one, or one placed within the retention window), or None. Moves the horizon to
        ``ts - retention`` and forgets what falls behind it."""
        horizon = ts - self.coid_retention
        if horizon > self.coid_horizon:
            self.coid_horizon = horizon
            heap = self._coid_heap
            recent = self._recent_coids
            while heap and heap[0][0] <= horizon:
                _, order_id, uid, coid = heappop(heap)
                key = (uid, coid)
                if recent.get(key, (0,))[0] == order_id:
                    del recent[key]
        key = (user_id, client_order_id)
        open_id = self._coids.get(key)
        if open_id is not None:
            return open_id
        found = self._recent_coids.get(key)
        return None if found is None else found[0]

    # ---------------------------------------------------------------- invariants

    def check_invariants(self) -> None:
        """Raise AssertionError describing the first broken invariant."""
        need: dict[tuple[int, str], int] = {}
        seen: dict[int, Order] = {}
        for sym, book in self._books.items():
            rules = self.markets.get(sym)
            assert rules is not None, f"book {sym} has no market rules"
            assert book.rules is rules, f"book {sym} has stale rules"
            book.check()
            for o in (*book.iter_orders(), *book.stops):
                assert o.order_id not in seen, f"order {o.order_id} is open twice"
                seen[o.order_id] = o
                key = (o.user_id, rules.quote if o.is_buy else rules.base)
                other = self._links.get(o.order_id)
                if other is None:
                    amt = self._need(o, book)
                elif o.order_id < other.order_id:  # one lock covers both orders of a list
                    amt = max(self._need(o, book), self._need(other, book))
                else:
                    amt = 0
                need[key] = need.get(key, 0) + amt
                assert o.base_bal is self._accounts[o.user_id][rules.base], f"{o}: base ref"
                assert o.quote_bal is self._accounts[o.user_id][rules.quote], f"{o}: quote ref"
        assert seen.keys() == self._orders.keys(), (
            f"order index {sorted(self._orders)} != open orders {sorted(seen)}"
        )
        for oid, other in self._links.items():
            o = self._orders.get(oid)
            assert o is not None and other.order_id in self._orders, f"list of {oid} not open"
            assert self._links.get(other.order_id) is o, f"list link {oid} is one-way"
            limit, stop = (o, other) if o.status != _PENDING else (other, o)
            assert stop.status == _PENDING and limit.type == _LIMIT, f"list {limit}, {stop}"
            assert limit.status == _NEW and limit.filled_quantity == 0, f"list {limit} traded"
            assert limit.post_only, f"list {limit}: its limit order is not post-only"
            assert limit.order_list_id == stop.order_list_id == limit.order_id, f"list {o}"
            assert (limit.user_id, limit.symbol, limit.side, limit.quantity) == (
                stop.user_id,
                stop.symbol,
                stop.side,
                stop.quantity,
            ), f"list orders differ: {limit}, {stop}"
        by_user: dict[int, set[int]] = {}
        for o in seen.values():
            by_user.setdefault(o.user_id, set()).add(o.order_id)
        got = {u: set(d) for u, d in self._user_orders.items() if d}
        assert got == by_user, f"per-user order index {got} != resting orders {by_user}"
        for sym, book in self._books.items():
            counted = {u: n for u, n in book.open_by_user.items() if n}
            want_counts: dict[int, int] = {}
            for o in (*book.iter_orders(), *book.stops):
                want_counts[o.user_id] = want_counts.get(o.user_id, 0) + 1
            assert counted == want_counts, f"{sym}: open counts {counted} != {want_counts}"
        resting = {sym: sum(1 for _ in book.iter_orders()) for sym, book in self._books.items()}
        assert self.resting_orders() == resting, f"resting {self.resting_orders()} != {resting}"
        assert all(n >= 1 for n in self.order_limits.values()), self.order_limits
        coids = {
            (o.user_id, o.client_order_id): o.order_id
            for o in seen.values()
            if o.client_order_id is not None
        }
        assert coids == self._coids, f"client order id index {self._coids} != {coids}"
        horizon = self.coid_horizon
        in_heap = {(u, coid, oid) for _, oid, u, coid in self._coid_heap}
        for (u, coid), (oid, ts) in self._recent_coids.items():
            assert ts > horizon, f"client order id {coid!r} of {u} kept past the horizon"
            assert (u, coid, oid) in in_heap, f"client order id {coid!r} of {u} not in heap"
        for uid, acct in self._accounts.items():
            for asset, b in acct.items():
                assert b.user_id == uid and b.asset == asset, f"{b} filed under {uid} {asset}"
                assert b.available >= 0, f"negative available: {b}"
                assert b.locked >= 0, f"negative locked: {b}"
                want = need.pop((uid, asset), 0)
                assert b.locked == want, f"{b}: locked {b.locked} != open orders need {want}"
        assert not need, f"open orders lock funds of missing accounts: {need}"
        totals = self.totals()
        for asset in totals.keys() | self.net_deposits.keys():
            t = totals.get(asset, 0)
            d = self.net_deposits.get(asset, 0)
            assert t == d, f"{asset}: sum of balances {t} != deposits - withdrawals {d}"

    # ---------------------------------------------------------------- internals

    def _bal(self, user_id: int, asset: str) -> Balance:
        acct = self._accounts.get(user_id)
        if acct is None:
            acct = self._accounts[user_id] = {}
        b = acct.get(asset)
        if b is None:
            b = acct[asset] = Balance(user_id, asset)
        return b

    def _index(self, o: Order) -> None:
        self._orders[o.order_id] = o
        uo = self._user_orders.get(o.user_id)
        if uo is None:
            uo = self._user_orders[o.user_id] = {}
        uo[o.order_id] = o
        obu = self._books[o.symbol].open_by_user
        obu[o.user_id] = obu.get(o.user_id, 0) + 1
        if o.client_order_id is not None:
            self._coids[(o.user_id, o.client_order_id)] = o.order_id

    def _unindex(self, o: Order, book: Book) -> None:
        oid = o.order_id
        uid = o.user_id
        del self._orders[oid]
        del self._user_orders[uid][oid]
        book.open_by_user[uid] -= 1
        coid = o.client_order_id
        if coid is not None:
            del self._coids[(uid, coid)]

    # ---------------------------------------------------------------- place

    def _place(self, c: PlaceOrder, seq: int) -> list[Event]:
        sym = c.symbol
        uid = c.user_id
        coid = c.client_order_id
        # (subscripts in a try cost less than .get() and a None test: a try is free in 3.11)
        try:
            book = self._books[sym]
        except KeyError:
            return [OrderRejected(seq, uid, sym, coid, _R.UNKNOWN_MARKET)]
        if not book.trading:
            reason = _R.MARKET_HALTED if book.rules.status == _HALTED else _R.MARKET_CANCEL_ONLY
            return [OrderRejected(seq, uid, sym, coid, reason)]
        q = c.quantity
        if q <= 0:
            return [OrderRejected(seq, uid, sym, coid, _R.INVALID_QUANTITY)]
        otype = c.type
        # identity first: the members are singletons; the rest for a plain string or a stop
        if otype is not _LIMIT and otype is not _MARKET:
            otype = OrderType(otype)
            if otype is _STOP_LIMIT or otype is _STOP_MARKET:
                return self._place_stop(c, seq, book, otype)
        is_market = otype is _MARKET
        if is_market:
            price = 0
        else:
            price = c.price
            if price <= 0:
                return [OrderRejected(seq, uid, sym, coid, _R.INVALID_PRICE)]
            if price > book.max_price:
                return [OrderRejected(seq, uid, sym, coid, _R.MAX_PRICE)]
        if q < book.min_quantity:
            return [OrderRejected(seq, uid, sym, coid, _R.MIN_QUANTITY)]
        if q > book.max_quantity:
            return [OrderRejected(seq, uid, sym, coid, _R.MAX_QUANTITY)]
        qpt = book.quote_per_tick_lot
        min_notional = book.min_notional
        if min_notional and not is_market and price * q * qpt < min_notional:
            return [OrderRejected(seq, uid, sym, coid, _R.MIN_NOTIONAL)]
        if coid is not None:
            first = self.client_order_id_taken(uid, coid, c.ts)
            if first is not None:
                return [OrderRejected(seq, uid, sym, coid, _R.DUPLICATE_CLIENT_ORDER_ID, first)]
        tif = c.time_in_force
        limits = self.order_limits
        limit = limits.get(uid, self.max_open_orders) if limits else self.max_open_orders
        # only an order that can rest counts against the limit (a GTC limit order)
        if (
            limit
            and not is_market
            and (tif is _GTC or tif == _GTC)
            and book.open_by_user.get(uid, 0) >= limit
        ):
            return [OrderRejected(seq, uid, sym, coid, _R.TOO_MANY_OPEN_ORDERS)]
        side = c.side
        is_buy = side is _BUY or (side is not _SELL and side == _BUY)
        # would it take? (crossing the opposite best)
        if is_buy:
            okeys = book.ask_keys
            crosses = (is_market or -okeys[-1] <= price) if okeys else False
        else:
            okeys = book.bid_keys
            crosses = (is_market or okeys[-1] >= price) if okeys else False
        post_only = c.post_only
        if crosses and post_only:
            return [OrderRejected(seq, uid, sym, coid, _R.POST_ONLY_WOULD_TAKE)]
        # funds: the user's (base, quote) balances in this market, cached on the book
        bb: Balance | None
        qb: Balance | None
        try:
            bb, qb = book.bals[uid]
        except KeyError:
            acct = self._accounts.get(uid)
            if acct is None:
                bb = qb = None
            else:
                bb = acct.get(book.base)
                qb = acct.get(book.quote)
                if bb is not None and qb is not None:
                    book.bals[uid] = (bb, qb)
        if is_buy:
            avail = 0 if qb is None else qb.available
            if is_market:
                lock = 0
                if okeys and avail < -okeys[-1] * qpt:
                    return [OrderRejected(seq, uid, sym, coid, _R.INSUFFICIENT_BALANCE)]
            else:
                lock = q * price * qpt
                if avail < lock:
                    return [OrderRejected(seq, uid, sym, coid, _R.INSUFFICIENT_BALANCE)]
        else:
            avail = 0 if bb is None else bb.available
            lock = q * book.base_per_lot
            if avail < lock:
                return [OrderRejected(seq, uid, sym, coid, _R.INSUFFICIENT_BALANCE)]
        if tif is _GTC:
            rests = not is_market
        elif tif is _IOC:
            rests = False
        else:
            if tif == _FOK and not self._fok_fills(book, is_buy, is_market, price, q, uid, avail):
                return [OrderRejected(seq, uid, sym, coid, _R.FOK_NOT_FILLED)]
            rests = not is_market and tif == _GTC

        # ---- accepted
        if bb is None or qb is None:
            bb = self._bal(uid, book.base)
            qb = self._bal(uid, book.quote)
            book.bals[uid] = (bb, qb)
        oid = self.next_order_id
        self.next_order_id = oid + 1
        ts = c.ts
        if coid is not None and ts > self.coid_horizon:
            self._recent_coids[(uid, coid)] = (oid, ts)
            heappush(self._coid_heap, (ts, oid, uid, coid))
        # events are built with Cls.__new__(Cls) and one store per field, not the
        # dataclass __init__ (see events.py: that stays interpreted even when compiled)
        acc = _new_order_accepted(OrderAccepted)
        acc.seq = seq
        acc.order_id = oid
        acc.user_id = uid
        acc.symbol = sym
        acc.side = side
        acc.type = otype
        acc.time_in_force = tif
        acc.post_only = post_only
        acc.price = price
        acc.quantity = q
        acc.filled_quantity = 0
        acc.filled_quote = 0
        acc.status = _NEW
        acc.client_order_id = coid
        acc.created_ts = ts
        acc.updated_ts = ts
        acc.stop_price = 0
        acc.order_list_id = None
        lb = qb if is_buy else bb  # the balance this order locks (if any)
        if lock:
            lb.available -= lock
            lb.locked += lock

        if not crosses:
            if rests:
                # the hot path: a limit order that rests whole
                o = Order(oid, uid, sym, side, otype, tif, post_only, price, q, 0, 0, _NEW, coid,
                          ts, ts)  # fmt: skip
                o.base_bal = bb
                o.quote_bal = qb
                lvl = (book.bids if is_buy else book.asks).get(price)
                if lvl is None:
                    lvl = book.new_level(is_buy, price)
                tail = lvl.tail
                o.prev = tail
                o.next = None
                if tail is None:
                    lvl.head = o
                else:
                    tail.next = o
                lvl.tail = o
                lvl.total = total = lvl.total + q
                self._orders[oid] = o
                try:
                    self._user_orders[uid][oid] = o
                except KeyError:
                    self._user_orders[uid] = {oid: o}
                try:
                    book.open_by_user[uid] += 1
                except KeyError:
                    book.open_by_user[uid] = 1
                if coid is not None:
                    self._coids[(uid, coid)] = oid
                # built inline, not by _balance_changed / _depth_changed: this is the
                # commonest command of all, and the two calls cost ~1.5% of the benchmark
                bc = _new_balance_changed(BalanceChanged)
                bc.seq = seq
                bc.user_id = uid
                bc.asset = lb.asset
                bc.available = lb.available
                bc.locked = lb.locked
                dc = _new_depth_changed(DepthChanged)
                dc.seq = seq
                dc.symbol = sym
                dc.side = _BUY if is_buy else _SELL
                dc.price = price
                dc.quantity = total
                book.depth_seq = dc.depth_seq = book.depth_seq + 1
                return [acc, bc, dc]
            # IOC / FOK / market with nothing to take: expires at once
            events: list[Event] = [acc, _order_event(
                seq, oid, uid, sym, side, otype, tif, post_only, price, q, 0, 0, _EXPIRED,
                coid, ts, ts,
            )]  # fmt: skip
            if lock:
                lb.available += lock
                lb.locked -= lock
                events.append(_balance_changed(seq, lb))
            return events

        events = [acc]
        tb: dict[Balance, None] = {lb: None} if lock else {}  # balances touched, in order
        tl: list[Level] = []  # opposite levels touched, in order
        rem, fq, fquote, stopped = self._match(
            book, is_buy, is_market, uid, oid, price, q, qb, bb, tb, tl, events, seq, ts
        )
        own_lvl = None
        if rem == 0:
            status = _FILLED
        elif rests and not stopped:
            status = _PARTIAL if fq else _NEW
            o = Order(
                oid, uid, sym, side, otype, tif, post_only, price, q, fq, fquote, status, coid,
                ts, ts,
            )  # fmt: skip
            o.is_buy = is_buy
            o.base_bal = bb
            o.quote_bal = qb
            own_lvl = book.add(o)
            self._index(o)
        else:
            status = _EXPIRED
            if is_buy:
                if not is_market:
                    amt = rem * price * qpt
                    qb.locked -= amt
                    qb.available += amt
                    tb[qb] = None
            else:
                amt = rem * book.base_per_lot
                bb.locked -= amt
                bb.available += amt
                tb[bb] = None
        append = events.append
        if status is not _NEW:
            append(_order_event(
                seq, oid, uid, sym, side, otype, tif, post_only, price, q, fq, fquote, status,
                coid, ts, ts,
            ))  # fmt: skip
        if self._hits:
            self._dissolve_hits(book, tb, events, seq, ts)
        if fq and book.stops.count:
            # the trades moved the last price: stops may trigger, and their trades more
            # (a loop, not a comprehension: a comprehension reading is_buy would make it a
            # cell, one more object on every call of this function)
            td: dict[int, None] = {}
            for lvl in tl:
                td[-lvl.price if is_buy else lvl.price] = None
            if own_lvl is not None:
                td[price if is_buy else -price] = None
            self._cascade(book, tb, td, events, seq, ts)
            _balances_changed(seq, tb, append)
            self._emit_depth(book, td, events, seq)
            return events
        _balances_changed(seq, tb, append)
        if tl or own_lvl is not None:
            book.depth_seq = ds = book.depth_seq + 1
            _levels_changed(seq, sym, _SELL if is_buy else _BUY, tl, ds, append)
            if own_lvl is not None:
                append(
                    _depth_changed(seq, sym, _BUY if is_buy else _SELL, price, own_lvl.total, ds)
                )
        return events

    def _emit_depth(self, book: Book, td: dict[int, None], events: list[Event], seq: int) -> None:
        book.depth_seq = ds = book.depth_seq + 1
        sym = book.symbol
        bids = book.bids
        asks = book.asks
        for k in td:
            if k > 0:
                lvl = bids.get(k)
                side, price = _BUY, k
            else:
                lvl = asks.get(-k)
                side, price = _SELL, -k
            events.append(
                _depth_changed(seq, sym, side, price, 0 if lvl is None else lvl.total, ds)
            )

    def _fok_fills(
        self, book: Book, is_buy: bool, is_market: bool, price: int, q: int, uid: int, funds: int
    ) -> bool:
        """Could ``q`` lots fill right now? Walks like :meth:`_match` (one path, by signed
        keys): stops at the user's own order (self-trade prevention) and, for a market buy,
        at the end of the funds."""
        need = q
        qpt = book.quote_per_tick_lot
        if is_buy:
            levels = book.asks
            keys = book.ask_keys
            sign = -1
            lim = keys[0] if is_market and keys else -price
        else:
            levels = book.bids
            keys = book.bid_keys
            sign = 1
            lim = price
        pays = is_buy and is_market
        for i in range(len(keys) - 1, -1, -1):
            k = keys[i]
            if k < lim:
                return False
            p = sign * k
            unit = p * qpt
            for m in levels[p]:
                if m.user_id == uid:
                    return False
                f = min(need, m.remaining)
                if pays:
                    f = min(f, funds // unit)
                    if f == 0:
                        return False
                    funds -= f * unit
                need -= f
                if need == 0:
                    return True
        return False

    def _fee_bals(self, book: Book) -> tuple[Balance, Balance]:
        fee = book.fee_bals
        if fee is None:
            fa = self.fee_account
            fee = book.fee_bals = (self._bal(fa, book.base), self._bal(fa, book.quote))
        return fee

    def _match(
        self,
        book: Book,
        is_buy: bool,
        is_market: bool,
        uid: int,
        oid: int,
        price: int,
        rem: int,
        qb: Balance,
        bb: Balance,
        tb: dict[Balance, None],
        tl: list[Level],
        events: list[Event],
        seq: int,
        ts: int,
        budget: int = -1,
    ) -> tuple[int, int, int, bool]:
        """Fill incoming order ``oid`` (``rem`` lots, limit ``price``; a market order has
        no limit) against the opposite side of the book. One path for both sides.
        A market buy pays from the available quote as it goes, or, given a ``budget`` (a
        triggered stop-market buy), from its lock, at most ``budget``.

        The opposite side is walked by its signed keys (bids ``+price``, asks ``-price``,
        best last), so "this level is acceptable" is ``key >= limit key`` either way.
        Per fill, each party receives one of the two amounts (base ``ba``, quote ``qa``)
        and pays the other: a buying taker receives base and pays quote, its maker the
        reverse. Each fee is taken from what its payer receives.

        Returns (remaining, filled lots, filled quote, stopped): stopped is True if it
        stopped early (self-trade prevention or, for a market buy, out of funds), False if
        the book ran out of acceptable levels or the order filled. Appends the trades and
        the makers' updates to ``events``, the touched balances to ``tb`` and the touched
        opposite levels to ``tl``; the balances hold their final values, the caller emits
        them. Makers of a linked OCO list that trade go to ``self._hits``; the last trade's
        price becomes the book's ``last_price``."""
        qpt = book.quote_per_tick_lot
        bpl = book.base_per_lot
        tbps = book.taker_fee_bps
        mbps = book.maker_fee_bps
        sym = book.symbol
        fee_b, fee_q = book.fee_bals or self._fee_bals(book)
        if is_buy:
            levels = book.asks
            keys = book.ask_keys
            sign = -1
            lim = keys[0] if is_market else -price  # a market buy takes every ask
            tgive, tget = qb, bb  # the taker pays quote, receives base
            tfee_b, mfee_b = fee_b, fee_q  # where each side's fee goes
            tfa, mfa = book.base, book.quote  # each side's fee asset
            tside = _BUY
        else:
            levels = book.bids
            keys = book.bid_keys
            sign = 1
            lim = price  # 0 for a market sell: every bid
            tgive, tget = bb, qb
            tfee_b, mfee_b = fee_q, fee_b
            tfa, mfa = book.quote, book.base
            tside = _SELL
        pays = is_buy and is_market  # a market buy pays from available as it goes
        orders = self._orders
        user_orders = self._user_orders
        coids = self._coids
        open_by_user = book.open_by_user
        append = events.append
        fq = 0
        fquote = 0
        tfees = 0
        tid = self.next_trade_id
        stopped = False
        while keys:
            k = keys[-1]
            if k < lim:
                break
            p = sign * k
            lvl = levels[p]
            unit = p * qpt
            fq0 = fq
            m = lvl.head
            while m is not None:
                muid = m.user_id
                if muid == uid:
                    stopped = True
                    break
                mrem = m.remaining
                f = rem if rem < mrem else mrem
                if pays:
                    a = (qb.available if budget < 0 else budget) // unit
                    if a < f:
                        if a == 0:
                            stopped = True
                            break
                        f = a
                    # (read just above: the taker's other deltas wait for the end)
                    if budget < 0:
                        qb.available -= f * unit
                    else:
                        budget -= f * unit
                        qb.locked -= f * unit
                if not fq:
                    tb[tgive] = None
                    tb[tget] = None
                qa = f * unit
                ba = f * bpl
                # the one side-specific step: who receives which amount (fees come out
                # of what each side receives); written out twice to keep it cheap
                if is_buy:  # the maker sold: its locked base goes, it receives quote
                    tfee = ba * tbps // 10_000
                    mfee = qa * mbps // 10_000
                    mbal = m.base_bal
                    mbal.locked -= ba
                    tb[mbal] = None
                    mbal = m.quote_bal
                    mbal.available += qa - mfee
                else:  # the maker bought: its locked quote goes, it receives base
                    tfee = qa * tbps // 10_000
                    mfee = ba * mbps // 10_000
                    mbal = m.quote_bal
                    mbal.locked -= qa
                    tb[mbal] = None
                    mbal = m.base_bal
                    mbal.available += ba - mfee
                tb[mbal] = None
                if tfee:
                    tfees += tfee
                    tb[tfee_b] = None
                if mfee:
                    # at once: the fee account may be a market buyer's quote balance
                    mfee_b.available += mfee
                    tb[mfee_b] = None
                rem -= f
                fq += f
                fquote += qa
                lvl.total -= f
                mfq = m.filled_quantity + f
                m.filled_quantity = mfq
                mfquote = m.filled_quote + qa
                m.filled_quote = mfquote
                m.updated_ts = ts
                moid = m.order_id
                t = _new_trade(Trade)
                t.seq = seq
                t.trade_id = tid
                t.symbol = sym
                t.price = p
                t.quantity = f
                t.quote_amount = qa
                t.taker_side = tside
                t.maker_order_id = moid
                t.taker_order_id = oid
                t.maker_user_id = muid
                t.taker_user_id = uid
                t.maker_fee = mfee
                t.maker_fee_asset = mfa
                t.taker_fee = tfee
                t.taker_fee_asset = tfa
                t.ts = ts
                append(t)
                tid += 1
                mcoid = m.client_order_id
                if f == mrem:
                    m.remaining = 0
                    m.status = mstatus = _FILLED
                    nxt = m.next
                    lvl.head = nxt
                    if nxt is None:
                        lvl.tail = None
                    else:
                        nxt.prev = None
                    m.next = None
                    del orders[moid]
                    del user_orders[muid][moid]
                    open_by_user[muid] -= 1
                    if mcoid is not None:
                        del coids[(muid, mcoid)]
                else:
                    m.remaining = mrem - f
                    m.status = mstatus = _PARTIAL
                    nxt = m
                u = _new_order_updated(OrderUpdated)
                u.seq = seq
                u.order_id = moid
                u.user_id = muid
                u.symbol = sym
                u.side = m.side
                u.type = m.type
                u.time_in_force = m.time_in_force
                u.post_only = m.post_only
                u.price = p
                u.quantity = m.quantity
                u.filled_quantity = mfq
                u.filled_quote = mfquote
                u.status = mstatus
                u.client_order_id = mcoid
                u.created_ts = m.created_ts
                u.updated_ts = ts
                append(u)
                # (constants for an ordinary maker: reading the class's defaults through
                # the instance costs more than the check)
                if m.__class__ is Order:
                    u.stop_price = 0
                    u.order_list_id = None
                else:  # a triggered stop, an OCO list's limit order
                    u.stop_price = m.stop_price
                    u.order_list_id = m.order_list_id
                    if moid in self._links:
                        self._hits.append(m)
                if rem == 0:
                    break
                # the next maker; the same one again if a market buy ran short of money
                # (the next round finds it cannot afford a lot and stops)
                m = nxt
            if fq != fq0:
                tl.append(lvl)
            if lvl.head is None:
                del levels[p]
                keys.pop()
            if stopped or rem == 0:
                break
        self.next_trade_id = tid
        if fq:
            book.last_price = t.price  # the last trade's
            # the taker's and its fee's side of all fills at once: nothing read them meanwhile
            if is_buy:
                if not is_market:
                    lock = fq * price * qpt
                    qb.locked -= lock
                    qb.available += lock - fquote  # price improvement
                bb.available += fq * bpl - tfees
            else:
                bb.locked -= fq * bpl
                qb.available += fquote - tfees
            tfee_b.available += tfees
        return rem, fq, fquote, stopped

    # ---------------------------------------------------------------- stops, lists, amends

    def _available(self, user_id: int, asset: str) -> int:
        """The user's available funds in ``asset``, without creating the account."""
        acct = self._accounts.get(user_id)
        b = acct.get(asset) if acct is not None else None
        return 0 if b is None else b.available

    def _trader_bals(self, book: Book, user_id: int) -> tuple[Balance, Balance]:
        """The user's (base, quote) balances in ``book``'s market, created if missing."""
        bals = book.bals.get(user_id)
        if bals is None:
            bals = book.bals[user_id] = (
                self._bal(user_id, book.base),
                self._bal(user_id, book.quote),
            )
        return bals

    def _at_limit(self, book: Book, user_id: int, adding: int) -> bool:
        """Whether ``adding`` more open orders would take the user past its limit here."""
        limit = self.order_limits.get(user_id, self.max_open_orders)
        return bool(limit) and book.open_by_user.get(user_id, 0) + adding > limit

    def _keep_coid(self, user_id: int, coid: str | None, order_id: int, ts: int) -> None:
        if coid is not None and ts > self.coid_horizon:
            self._recent_coids[(user_id, coid)] = (order_id, ts)
            heappush(self._coid_heap, (ts, order_id, user_id, coid))

    def _place_stop(self, c: PlaceOrder, seq: int, book: Book, otype: OrderType) -> list[Event]:
        """A stop-limit or stop-market order (the market, its status and the quantity's sign
        checked by _place): validated like any order, then pending in the book's stops with
        its lock taken (a buy stop-limit its quantity at its limit price, a buy stop-market
        its budget, a sell its quantity) until a trade's price triggers it (_cascade). It
        counts against the open-order limit while pending, whatever its time in force."""
        sym = c.symbol
        uid = c.user_id
        coid = c.client_order_id
        q = c.quantity
        is_market = otype is _STOP_MARKET
        price = 0 if is_market else c.price
        stop = c.stop_price
        reason = None
        if not is_market and price <= 0:
            reason = _R.INVALID_PRICE
        elif price > book.max_price:
            reason = _R.MAX_PRICE
        elif stop <= 0:
            reason = _R.INVALID_STOP_PRICE
        elif stop > book.max_price:
            reason = _R.MAX_PRICE
        elif q < book.min_quantity:
            reason = _R.MIN_QUANTITY
        elif q > book.max_quantity:
            reason = _R.MAX_QUANTITY
        elif (stop if is_market else price) * q * book.quote_per_tick_lot < book.min_notional:
            reason = _R.MIN_NOTIONAL
        if reason is not None:
            return [OrderRejected(seq, uid, sym, coid, reason)]
        if coid is not None:
            first = self.client_order_id_taken(uid, coid, c.ts)
            if first is not None:
                return [OrderRejected(seq, uid, sym, coid, _R.DUPLICATE_CLIENT_ORDER_ID, first)]
        is_buy = c.side == _BUY
        if self._at_limit(book, uid, 1):
            reason = _R.TOO_MANY_OPEN_ORDERS
        elif triggers(is_buy, stop, book.last_price):
            reason = _R.STOP_WOULD_TRIGGER
        else:
            if not is_buy:
                lock = q * book.base_per_lot
            elif is_market:
                lock = stop_market_budget(q, stop, book.quote_per_tick_lot)
            else:
                lock = q * price * book.quote_per_tick_lot
            if self._available(uid, book.quote if is_buy else book.base) < lock:
                reason = _R.INSUFFICIENT_BALANCE
        if reason is not None:
            return [OrderRejected(seq, uid, sym, coid, reason)]
        bb, qb = self._trader_bals(book, uid)
        oid = self.next_order_id
        self.next_order_id = oid + 1
        ts = c.ts
        self._keep_coid(uid, coid, oid, ts)
        o = ConditionalOrder(oid, uid, sym, c.side, otype, c.time_in_force, c.post_only, price,
                             q, 0, 0, _PENDING, coid, ts, ts, oid, stop)  # fmt: skip
        o.base_bal = bb
        o.quote_bal = qb
        lb = qb if is_buy else bb
        lb.available -= lock
        lb.locked += lock
        book.stops.add(o)
        self._index(o)
        return [_accepted(o, seq), _balance_changed(seq, lb)]

    def _place_list(self, c: PlaceOrderList, seq: int) -> list[Event]:
        """An OCO list: a post-only limit order (it must rest: Binance's LIMIT_MAKER) and a
        pending stop order, linked, one lock for both (the larger of their needs). A sell
        list's stop price is below its limit price, a buy list's above."""
        sym = c.symbol
        uid = c.user_id
        book = self._books.get(sym)
        if book is None:
            return [OrderRejected(seq, uid, sym, None, _R.UNKNOWN_MARKET)]
        q = c.quantity
        price = c.price
        stop = c.stop_price
        slp = c.stop_limit_price
        is_buy = c.side == _BUY
        qpt = book.quote_per_tick_lot
        reason = None
        if not book.trading:
            reason = _R.MARKET_HALTED if book.rules.status == _HALTED else _R.MARKET_CANCEL_ONLY
        elif q <= 0:
            reason = _R.INVALID_QUANTITY
        elif price <= 0 or (slp is not None and slp <= 0):
            reason = _R.INVALID_PRICE
        elif stop <= 0:
            reason = _R.INVALID_STOP_PRICE
        elif max(price, stop, slp or 0) > book.max_price:
            reason = _R.MAX_PRICE
        elif q < book.min_quantity:
            reason = _R.MIN_QUANTITY
        elif q > book.max_quantity:
            reason = _R.MAX_QUANTITY
        elif min(price, stop if slp is None else slp) * q * qpt < book.min_notional:
            reason = _R.MIN_NOTIONAL
        elif (stop <= price) if is_buy else (stop >= price):
            reason = _R.INVALID_STOP_PRICE
        elif triggers(is_buy, stop, book.last_price):
            reason = _R.STOP_WOULD_TRIGGER
        elif self._at_limit(book, uid, 2):
            reason = _R.TOO_MANY_OPEN_ORDERS
        elif (
            (bool(book.ask_keys) and -book.ask_keys[-1] <= price)
            if is_buy
            else (bool(book.bid_keys) and book.bid_keys[-1] >= price)
        ):
            reason = _R.POST_ONLY_WOULD_TAKE
        if reason is not None:
            return [OrderRejected(seq, uid, sym, None, reason)]
        if not is_buy:
            lock = q * book.base_per_lot
        elif slp is None:
            lock = max(q * price * qpt, stop_market_budget(q, stop, qpt))
        else:
            lock = q * max(price, slp) * qpt
        if self._available(uid, book.quote if is_buy else book.base) < lock:
            return [OrderRejected(seq, uid, sym, None, _R.INSUFFICIENT_BALANCE)]
        bb, qb = self._trader_bals(book, uid)
        oid = self.next_order_id
        sid = oid + 1
        self.next_order_id = oid + 2
        ts = c.ts
        side = c.side
        limit = ConditionalOrder(oid, uid, sym, side, _LIMIT, _GTC, True, price, q, 0, 0, _NEW,
                                 None, ts, ts, oid, 0, oid)  # fmt: skip
        stop_type = _STOP_MARKET if slp is None else _STOP_LIMIT
        stop_o = ConditionalOrder(sid, uid, sym, side, stop_type, _GTC, False, slp or 0, q, 0, 0,
                                  _PENDING, None, ts, ts, sid, stop, oid)  # fmt: skip
        for o in (limit, stop_o):
            o.base_bal = bb
            o.quote_bal = qb
        lb = qb if is_buy else bb
        lb.available -= lock
        lb.locked += lock
        lvl = book.add(limit)
        self._index(limit)
        book.stops.add(stop_o)
        self._index(stop_o)
        self._links[oid] = stop_o
        self._links[sid] = limit
        book.depth_seq = ds = book.depth_seq + 1
        return [
            _accepted(limit, seq),
            _accepted(stop_o, seq),
            _balance_changed(seq, lb),
            _depth_changed(seq, sym, _BUY if is_buy else _SELL, price, lvl.total, ds),
        ]

    def _amend(self, c: AmendOrder, seq: int) -> list[Event]:
        """Change an open order's quantity (the new total, above what has filled) and/or
        limit price, validated like a new order and refused whole (nothing changes) if the
        larger lock does not fit in the available funds. A smaller quantity at the same
        price keeps the order's place in its queue; a new price or a larger quantity takes
        it off the book and enters it again as a taker (it may trade, then rests at the
        back of its level with a fresh priority). A pending stop only changes (its trigger
        stays). An order of a linked OCO list cannot be amended (order_in_list)."""
        uid = c.user_id
        o = self._orders.get(c.order_id)
        if o is None or o.user_id != uid:
            return [CommandRejected(seq, uid, _UNKNOWN_ORDER)]
        book = self._books[o.symbol]
        is_market = o.type is _STOP_MARKET
        q = o.quantity if c.quantity is None else c.quantity
        price = o.price if c.price is None else c.price
        qpt = book.quote_per_tick_lot
        pending = o.status is _PENDING
        requeue = not pending and (price != o.price or q > o.quantity)
        is_buy = o.is_buy
        reason = None
        if not book.trading:
            reason = _R.MARKET_HALTED if book.rules.status == _HALTED else _R.MARKET_CANCEL_ONLY
        elif o.order_id in self._links:
            reason = _R.ORDER_IN_LIST
        elif c.price is not None and (is_market or price <= 0):
            reason = _R.INVALID_PRICE
        elif price > book.max_price:
            reason = _R.MAX_PRICE
        elif q <= o.filled_quantity:
            reason = _R.INVALID_QUANTITY
        elif q < book.min_quantity:
            reason = _R.MIN_QUANTITY
        elif q > book.max_quantity:
            reason = _R.MAX_QUANTITY
        elif (o.stop_price if is_market else price) * q * qpt < book.min_notional:
            reason = _R.MIN_NOTIONAL
        elif (
            requeue
            and o.post_only
            and (
                (bool(book.ask_keys) and -book.ask_keys[-1] <= price)
                if is_buy
                else (bool(book.bid_keys) and book.bid_keys[-1] >= price)
            )
        ):
            reason = _R.POST_ONLY_WOULD_TAKE
        if reason is not None:
            return [CommandRejected(seq, uid, reason)]
        rem = q - o.filled_quantity
        if not is_buy:
            new_need = rem * book.base_per_lot
        elif is_market:
            new_need = stop_market_budget(rem, o.stop_price, qpt)
        else:
            new_need = rem * price * qpt
        lb = o.quote_bal if is_buy else o.base_bal
        old_need = self._need(o, book)
        if new_need - old_need > lb.available:
            return [CommandRejected(seq, uid, _R.INSUFFICIENT_BALANCE)]
        ts = c.ts
        events: list[Event] = []
        tb: dict[Balance, None] = {}
        td: dict[int, None] = {}
        self._unlock(lb, old_need - new_need, tb)  # a negative amount locks more
        o.updated_ts = ts
        if requeue:
            book.remove(o)
            td[o.price if is_buy else -o.price] = None
            o.quantity = q
            o.remaining = rem
            o.price = price
            self._take(book, o, -1, tb, td, events, seq, ts)
            if book.stops.count:
                self._cascade(book, tb, td, events, seq, ts)
        else:
            if not pending and rem != o.remaining:  # smaller, in place
                (book.bids if is_buy else book.asks)[price].total -= o.remaining - rem
                td[price if is_buy else -price] = None
            o.quantity = q
            o.remaining = rem
            o.price = price
            events.append(_order_state(o, seq))
        _balances_changed(seq, tb, events.append)
        if td:
            self._emit_depth(book, td, events, seq)
        return events

    def _take(
        self,
        book: Book,
        o: Order,
        budget: int,
        tb: dict[Balance, None],
        td: dict[int, None],
        events: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """Run open order ``o`` (off the book, its lock held: a triggered stop, an amended
        order) as a taker: it matches what it crosses (a post-only one that would take, a
        fill-or-kill one that cannot fill, expire instead), then rests at the back of its
        level with a fresh priority (a GTC limit, not stopped by self-trade prevention) or
        ends filled or expired; its final update is appended, touched balances go to
        ``tb`` and levels to ``td``. ``budget``: a stop-market buy's lock, what it may
        spend (-1: not one); whatever it did not spend is unlocked."""
        is_buy = o.is_buy
        is_market = o.type is _STOP_MARKET or o.type is _MARKET
        price = o.price
        uid = o.user_id
        qb = o.quote_bal
        bb = o.base_bal
        if is_buy:
            keys = book.ask_keys
            crosses = bool(keys) and (is_market or -keys[-1] <= price)
        else:
            keys = book.bid_keys
            crosses = bool(keys) and (is_market or keys[-1] >= price)
        rem = o.remaining
        fquote = 0
        stopped = crosses and o.post_only
        if not stopped and o.time_in_force == _FOK:
            funds = budget if budget >= 0 else qb.available
            stopped = not self._fok_fills(book, is_buy, is_market, price, rem, uid, funds)
        if crosses and not stopped:
            tl: list[Level] = []
            rem, fq, fquote, stopped = self._match(
                book, is_buy, is_market, uid, o.order_id, price, rem, qb, bb, tb, tl, events,
                seq, ts, budget,
            )  # fmt: skip
            for lvl in tl:
                td[-lvl.price if is_buy else lvl.price] = None
            o.filled_quantity += fq
            o.filled_quote += fquote
            o.remaining = rem
        o.updated_ts = ts
        if budget >= 0:
            self._unlock(qb, budget - fquote, tb)
            o.status = _FILLED if rem == 0 else _EXPIRED
            self._unindex(o, book)
        elif rem == 0:
            o.status = _FILLED
            self._unindex(o, book)
        elif not is_market and o.time_in_force == _GTC and not stopped:
            o.status = _PARTIAL if o.filled_quantity else _NEW
            o.priority = self.next_order_id  # a fresh number: behind every order there
            self.next_order_id += 1
            book.add(o)
            td[price if is_buy else -price] = None
        else:
            o.status = _EXPIRED
            tb[self._release(o, book)] = None
            self._unindex(o, book)
        events.append(_order_state(o, seq))
        if self._hits:
            self._dissolve_hits(book, tb, events, seq, ts)

    def _cascade(
        self,
        book: Book,
        tb: dict[Balance, None],
        td: dict[int, None],
        events: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """Trigger the stops the book's last price reached and run them one after another,
        in trigger order (stops.py); each one's trades may trigger more, which queue behind
        the ones already triggered. A loop over a queue, not recursion: a cascade through
        every stop of the book is one command's work, and each stop triggers once."""
        stops = book.stops
        queue: deque[Order] = deque()
        while True:
            for s in stops.pop_triggered(book.last_price):
                self._trigger(book, s, tb, td, events, seq, ts)
                queue.append(s)
            if not queue:
                return
            s = queue.popleft()
            budget = self._need(s, book) if s.is_buy and s.type is _STOP_MARKET else -1
            self._take(book, s, budget, tb, td, events, seq, ts)

    def _trigger(
        self,
        book: Book,
        s: Order,
        tb: dict[Balance, None],
        td: dict[int, None],
        events: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """Stop ``s`` (out of the stop book) triggered: it is a new order now, and if it is
        linked, its list's limit order is cancelled and the shared lock beyond the stop's
        own need goes back."""
        s.status = _NEW
        s.updated_ts = ts
        events.append(_triggered(s, seq, book.last_price))
        other = self._links.pop(s.order_id, None) if self._links else None
        if other is not None:
            del self._links[other.order_id]
            need = self._need(s, book)
            self._unlock(
                s.quote_bal if s.is_buy else s.base_bal,
                max(need, self._need(other, book)) - need,
                tb,
            )
            book.remove(other)
            td[other.price if other.is_buy else -other.price] = None
            self._unindex(other, book)
            other.status = _CANCELLED
            other.updated_ts = ts
            events.append(_order_state(other, seq))

    def _dissolve_hits(
        self, book: Book, tb: dict[Balance, None], events: list[Event], seq: int, ts: int
    ) -> None:
        """The lists whose limit order just traded as a maker (``self._hits``): each one's
        stop order is cancelled, and of the shared lock what went beyond the limit order's
        own need (at its full quantity: the pair was unfilled until now) goes back."""
        for m in self._hits:
            s = self._links.pop(m.order_id, None)
            if s is None:
                continue
            del self._links[s.order_id]
            if m.is_buy:
                full = m.quantity * m.price * book.quote_per_tick_lot
                b = m.quote_bal
            else:
                full = m.quantity * book.base_per_lot
                b = m.base_bal
            self._unlock(b, max(full, self._need(s, book)) - full, tb)
            book.stops.remove(s)
            self._unindex(s, book)
            s.status = _CANCELLED
            s.updated_ts = ts
            events.append(_order_state(s, seq))
        self._hits.clear()

    # ---------------------------------------------------------------- cancel

    def _need(self, o: Order, book: Book) -> int:
        """What open order ``o`` locks on its own: a buy its remaining quantity at its
        price (a pending stop-market buy: its budget, stops.stop_market_budget), a sell
        its remaining quantity. (A linked OCO pair locks the larger of its two needs.)"""
        if not o.is_buy:
            return o.remaining * book.base_per_lot
        if o.type is _STOP_MARKET:
            return stop_market_budget(o.remaining, o.stop_price, book.quote_per_tick_lot)
        return o.remaining * o.price * book.quote_per_tick_lot

    def _release(self, o: Order, book: Book) -> Balance:
        """Unlock what open order ``o`` holds on its own (its need: not a linked one);
        return the balance that changed."""
        b = o.quote_bal if o.is_buy else o.base_bal
        amt = self._need(o, book)
        b.locked -= amt
        b.available += amt
        return b

    def _unlock(self, b: Balance, amount: int, tb: dict[Balance, None]) -> None:
        if amount:
            b.locked -= amount
            b.available += amount
            tb[b] = None

    def _close_open(
        self,
        o: Order,
        book: Book,
        ts: int,
        tb: dict[Balance, None],
        td: dict[int, None],
        append: Callable[[Event], None],
        seq: int,
    ) -> None:
        """Cancel open order ``o`` and, if it is linked, the other order of its list: off
        the book (levels into ``td``) or the stop book, unindexed, unlocked (balances into
        ``tb``), their updates appended in order id order."""
        other = self._links.pop(o.order_id, None)
        if other is None:
            closing = [o]
            tb[self._release(o, book)] = None
        else:
            del self._links[other.order_id]
            closing = sorted((o, other), key=_order_id)
            amt = max(self._need(o, book), self._need(other, book))
            self._unlock(o.quote_bal if o.is_buy else o.base_bal, amt, tb)
        for x in closing:
            if x.status is _PENDING:
                book.stops.remove(x)
            else:
                book.remove(x)
                td[x.price if x.is_buy else -x.price] = None
            self._unindex(x, book)
            x.status = _CANCELLED
            x.updated_ts = ts
            append(_order_state(x, seq))

    def _cancel(self, c: CancelOrder, seq: int) -> list[Event]:
        uid = c.user_id
        o = self._orders.get(c.order_id)
        if o is None or o.user_id != uid:
            rej = _new_command_rejected(CommandRejected)
            rej.seq = seq
            rej.user_id = uid
            rej.reason = _UNKNOWN_ORDER
            return [rej]
        book = self._books[o.symbol]
        if not book.trading and book.rules.status == _HALTED:
            return [CommandRejected(seq, uid, _R.MARKET_HALTED)]
        if o.__class__ is not Order:  # a stop, an order of a list: the general path
            events: list[Event] = []
            tb: dict[Balance, None] = {}
            td: dict[int, None] = {}
            self._close_open(o, book, c.ts, tb, td, events.append, seq)
            _balances_changed(seq, tb, events.append)
            if td:
                self._emit_depth(book, td, events, seq)
            return events
        total = book.remove(o)
        self._unindex(o, book)
        # what it locks, written out: the commonest command after placing (see _need)
        if o.is_buy:
            b = o.quote_bal
            amt = o.remaining * o.price * book.quote_per_tick_lot
        else:
            b = o.base_bal
            amt = o.remaining * book.base_per_lot
        b.locked -= amt
        b.available += amt
        o.status = _CANCELLED
        o.updated_ts = c.ts
        # built inline like the resting path's two: a cancel is the next commonest command
        bc = _new_balance_changed(BalanceChanged)
        bc.seq = seq
        bc.user_id = uid
        bc.asset = b.asset
        bc.available = b.available
        bc.locked = b.locked
        dc = _new_depth_changed(DepthChanged)
        dc.seq = seq
        dc.symbol = book.symbol
        dc.side = _BUY if o.is_buy else _SELL
        dc.price = o.price
        dc.quantity = total
        book.depth_seq = dc.depth_seq = book.depth_seq + 1
        return [_updated(o, seq), bc, dc]

    def _cancel_all(self, c: CancelAll, seq: int) -> list[Event]:
        uid = c.user_id
        symbol = c.symbol
        ts = c.ts
        events: list[Event] = []
        tb: dict[Balance, None] = {}
        touched: dict[Book, dict[int, None]] = {}
        for o in sorted(self._user_orders.get(uid, {}).values(), key=_order_id):
            if symbol is not None and o.symbol != symbol:
                continue
            if o.status is _CANCELLED:
                continue  # the other order of a list cancelled just before
            book = self._books[o.symbol]
            if book.rules.status == _HALTED:
                continue
            td = touched.get(book)
            if td is None:
                td = touched[book] = {}
            self._close_open(o, book, ts, tb, td, events.append, seq)
        _balances_changed(seq, tb, events.append)
        for book, td in touched.items():
            if td:
                self._emit_depth(book, td, events, seq)
        return events

    # ---------------------------------------------------------------- funds

    def _deposit(self, c: Deposit, seq: int) -> list[Event]:
        if c.amount <= 0:
            return [CommandRejected(seq, c.user_id, _R.INVALID_AMOUNT)]
        b = self._bal(c.user_id, c.asset)
        b.available += c.amount
        self.net_deposits[c.asset] = self.net_deposits.get(c.asset, 0) + c.amount
        return [Deposited(seq, c.user_id, c.asset, c.amount), _balance_changed(seq, b)]

    def _withdraw(self, c: Withdraw, seq: int) -> list[Event]:
        if c.amount <= 0:
            return [CommandRejected(seq, c.user_id, _R.INVALID_AMOUNT)]
        acct = self._accounts.get(c.user_id)
        b = acct.get(c.asset) if acct is not None else None
        if b is None or b.available < c.amount:
            return [CommandRejected(seq, c.user_id, _R.INSUFFICIENT_BALANCE)]
        b.available -= c.amount
        self.net_deposits[c.asset] = self.net_deposits.get(c.asset, 0) - c.amount
        return [Withdrawn(seq, c.user_id, c.asset, c.amount), _balance_changed(seq, b)]

    # ---------------------------------------------------------------- markets

    def _add_market(self, c: AddMarket, seq: int) -> list[Event]:
        if c.rules.symbol in self.markets:
            return [CommandRejected(seq, 0, _R.MARKET_EXISTS)]
        self.restore_market(c.rules)
        return [MarketChanged(seq, c.rules)]

    # ---------------------------------------------------------------- limits

    def _configure(self, c: Configure, seq: int) -> list[Event]:
        if c.max_open_orders < 0 or c.client_order_id_retention < 0:
            return [CommandRejected(seq, 0, _R.INVALID_LIMIT)]
        self.max_open_orders = c.max_open_orders
        self.coid_retention = c.client_order_id_retention
        return [LimitsChanged(seq, None, c.max_open_orders)]

    def _set_order_limit(self, c: SetOrderLimit, seq: int) -> list[Event]:
        limit = c.max_open_orders
        if limit is None:
            self.order_limits.pop(c.user_id, None)
        elif limit < 1:
            return [CommandRejected(seq, c.user_id, _R.INVALID_LIMIT)]
        else:
            self.order_limits[c.user_id] = limit
        return [LimitsChanged(seq, c.user_id, limit)]

    def _set_status(self, c: SetMarketStatus, seq: int) -> list[Event]:
        rules = self.markets.get(c.symbol)
        if rules is None:
            return [CommandRejected(seq, 0, _R.UNKNOWN_MARKET)]
        rules = dataclasses.replace(rules, status=MarketStatus(c.status))
        self.restore_market(rules)
        return [MarketChanged(seq, rules)]


def _order_id(o: Order) -> int:
    return o.order_id


def _updated(o: Order, seq: int) -> OrderUpdated:
    """The ``OrderUpdated`` of ordinary order ``o``'s current state (the cancel path
    builds one per cancel): :func:`_order_state` written out, with the fields an
    ordinary order has as constants."""
    e = _new_order_updated(OrderUpdated)
    e.seq = seq
    e.order_id = o.order_id
    e.user_id = o.user_id
    e.symbol = o.symbol
    e.side = o.side
    e.type = o.type
    e.time_in_force = o.time_in_force
    e.post_only = o.post_only
    e.price = o.price
    e.quantity = o.quantity
    e.filled_quantity = o.filled_quantity
    e.filled_quote = o.filled_quote
    e.status = o.status
    e.client_order_id = o.client_order_id
    e.created_ts = o.created_ts
    e.updated_ts = o.updated_ts
    e.stop_price = 0
    e.order_list_id = None
    return e


def _accepted(o: Order, seq: int) -> OrderAccepted:
    """The ``OrderAccepted`` of a new order ``o`` (the slow paths: stops and lists)."""
    return OrderAccepted(
        seq, o.order_id, o.user_id, o.symbol, o.side, o.type, o.time_in_force, o.post_only,
        o.price, o.quantity, o.filled_quantity, o.filled_quote, o.status, o.client_order_id,
        o.created_ts, o.updated_ts, o.stop_price, o.order_list_id,
    )  # fmt: skip


def _triggered(o: Order, seq: int, trigger_price: int) -> OrderTriggered:
    return OrderTriggered(
        seq, o.order_id, o.user_id, o.symbol, o.side, o.type, o.time_in_force, o.post_only,
        o.price, o.quantity, o.filled_quantity, o.filled_quote, o.status, o.client_order_id,
        o.created_ts, o.updated_ts, o.stop_price, o.order_list_id, trigger_price,
    )  # fmt: skip


def _order_state(o: Order, seq: int) -> OrderUpdated:
    """The ``OrderUpdated`` of ``o``'s current state (the slow paths)."""
    return OrderUpdated(
        seq, o.order_id, o.user_id, o.symbol, o.side, o.type, o.time_in_force, o.post_only,
        o.price, o.quantity, o.filled_quantity, o.filled_quote, o.status, o.client_order_id,
        o.created_ts, o.updated_ts, o.stop_price, o.order_list_id,
    )  # fmt: skip


def _balance_changed(seq: int, b: Balance) -> BalanceChanged:
    """The ``BalanceChanged`` of ``b``'s current values (built like :func:`_order_event`)."""
    e = _new_balance_changed(BalanceChanged)
    e.seq = seq
    e.user_id = b.user_id
    e.asset = b.asset
    e.available = b.available
    e.locked = b.locked
    return e


def _depth_changed(
    seq: int, symbol: str, side: Side, price: int, quantity: int, depth_seq: int
) -> DepthChanged:
    """``DepthChanged(...)``, built like :func:`_order_event`."""
    e = _new_depth_changed(DepthChanged)
    e.seq = seq
    e.symbol = symbol
    e.side = side
    e.price = price
    e.quantity = quantity
    e.depth_seq = depth_seq
    return e


def _balances_changed(
    seq: int, balances: Iterable[Balance], append: Callable[[Event], None]
) -> None:
    """:func:`_balance_changed` for each of ``balances``, appended: one call per command
    rather than per balance (the matching path touches several)."""
    for b in balances:
        e = _new_balance_changed(BalanceChanged)
        e.seq = seq
        e.user_id = b.user_id
        e.asset = b.asset
        e.available = b.available
        e.locked = b.locked
        append(e)


def _levels_changed(
    seq: int,
    symbol: str,
    side: Side,
    levels: Iterable[Level],
    depth_seq: int,
    append: Callable[[Event], None],
) -> None:
    """:func:`_depth_changed` for each of ``levels`` (their price and current total),
    appended: one call per command rather than per level."""
    for lvl in levels:
        e = _new_depth_changed(DepthChanged)
        e.seq = seq
        e.symbol = symbol
        e.side = side
        e.price = lvl.price
        e.quantity = lvl.total
        e.depth_seq = depth_seq
        append(e)


def _order_event(
    seq: int,
    order_id: int,
    user_id: int,
    symbol: str,
    side: Side,
    type: OrderType,  # noqa: A002 - the event field name
    time_in_force: TimeInForce,
    post_only: bool,
    price: int,
    quantity: int,
    filled_quantity: int,
    filled_quote: int,
    status: OrderStatus,
    client_order_id: str | None,
    created_ts: int,
    updated_ts: int,
) -> OrderUpdated:
    """``OrderUpdated(...)`` without the dataclass ``__init__`` call: a plain function call
    plus slot stores costs about half as much (the hot path builds many)."""
    e = _new_order_updated(OrderUpdated)
    e.seq = seq
    e.order_id = order_id
    e.user_id = user_id
    e.symbol = symbol
    e.side = side
    e.type = type
    e.time_in_force = time_in_force
    e.post_only = post_only
    e.price = price
    e.quantity = quantity
    e.filled_quantity = filled_quantity
    e.filled_quote = filled_quote
    e.status = status
    e.client_order_id = client_order_id
    e.created_ts = created_ts
    e.updated_ts = updated_ts
    e.stop_price = 0
    e.order_list_id = None
    return e
