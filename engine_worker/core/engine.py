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
totals, order of first touch, all with the book's next ``depth_seq``).

The place/match/cancel paths are written for speed (see bench/engine_core.py): locals
instead of attribute lookups, no helper calls per fill, balances reached through
references kept on each order and, per market, on the book (user -> (base, quote)),
rules copied onto the book as plain ints, enum members compared by identity (``==``
only as a fallback for plain strings), events built with ``object.__new__`` plus slot
stores instead of the dataclass ``__init__`` (in the helpers at the end of this module:
one call per command for a batch, e.g. ``_balances_changed``; only the two commonest
paths, a limit order resting whole and a cancel, build theirs inline: a call there costs
1-2% of the benchmark), the taker's and fee account's balance deltas applied once per
command rather than per fill where nothing reads them meanwhile. Both sides match
through one loop, ``_match``, over the opposite side's signed keys. The rest favours plainness.
"""

from __future__ import annotations

import dataclasses
from heapq import heappop, heappush
from typing import TYPE_CHECKING

from .balances import Balance
from .book import Book, Level, Order
from .commands import (
    AddMarket,
    CancelAll,
    CancelOrder,
    Configure,
    Deposit,
    PlaceOrder,
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
    OrderUpdated,
    Trade,
    Withdrawn,
)
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
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_EXPIRED = OrderStatus.EXPIRED
_TRADING = MarketStatus.TRADING
_HALTED = MarketStatus.HALTED
_R = RejectReason
_UNKNOWN_ORDER = RejectReason.UNKNOWN_ORDER
_new = object.__new__


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
        """Every resting order, book by book, bids then asks, in price-time order."""
        for book in self._books.values():
            yield from book.iter_orders()

    def resting_orders(self) -> dict[str, int]:
        """How many orders rest in each market's book. Safe to call from another thread
        while the engine runs (metrics): it reads a copy of the books' index, and each
        count is one C-level sum, so nothing changes size under it."""
        return {
            symbol: sum(book.open_by_user.values()) for symbol, book in list(self._books.items())
        }

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for acct in self._accounts.values():
            for asset, b in acct.items():
                out[asset] = out.get(asset, 0) + b.available + b.locked
        return out

    # ---------------------------------------------------------------- recovery

    def restore_market(self, rules: MarketRules, depth_seq: int = 0) -> None:
        """Install (or replace) a market without an event or a seq; a new book starts at
        ``depth_seq``."""
        self.markets[rules.symbol] = rules
        book = self._books.get(rules.symbol)
        if book is None:
            book = self._books[rules.symbol] = Book(rules)
            book.depth_seq = depth_seq
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
        """Put a resting order at the back of its level as-is: no events, no balance change."""
        rules = self.markets[order.symbol]
        order.base_bal = self._bal(order.user_id, rules.base)
        order.quote_bal = self._bal(order.user_id, rules.quote)
        order.remaining = order.quantity - order.filled_quantity
        order.is_buy = order.side == _BUY
        self._books[order.symbol].add(order)
        self._index(order)

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
            qpt = rules.quote_per_tick_lot
            bpl = rules.base_per_lot
            for o in book.iter_orders():
                assert o.order_id not in seen, f"order {o.order_id} rests twice"
                seen[o.order_id] = o
                if o.is_buy:
                    key = (o.user_id, rules.quote)
                    amt = o.remaining * o.price * qpt
                else:
                    key = (o.user_id, rules.base)
                    amt = o.remaining * bpl
                need[key] = need.get(key, 0) + amt
                assert o.base_bal is self._accounts[o.user_id][rules.base], f"{o}: base ref"
                assert o.quote_bal is self._accounts[o.user_id][rules.quote], f"{o}: quote ref"
        assert seen.keys() == self._orders.keys(), (
            f"order index {sorted(self._orders)} != resting orders {sorted(seen)}"
        )
        by_user: dict[int, set[int]] = {}
        for o in seen.values():
            by_user.setdefault(o.user_id, set()).add(o.order_id)
        got = {u: set(d) for u, d in self._user_orders.items() if d}
        assert got == by_user, f"per-user order index {got} != resting orders {by_user}"
        for sym, book in self._books.items():
            counted = {u: n for u, n in book.open_by_user.items() if n}
            want_counts: dict[int, int] = {}
            for o in book.iter_orders():
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
        book = self._books.get(sym)
        if book is None:
            return [OrderRejected(seq, uid, sym, coid, _R.UNKNOWN_MARKET)]
        if not book.trading:
            reason = _R.MARKET_HALTED if book.rules.status == _HALTED else _R.MARKET_CANCEL_ONLY
            return [OrderRejected(seq, uid, sym, coid, reason)]
        q = c.quantity
        if q <= 0:
            return [OrderRejected(seq, uid, sym, coid, _R.INVALID_QUANTITY)]
        otype = c.type
        # identity first: the members are singletons; == only for a plain string
        is_market = otype is _MARKET or (otype is not _LIMIT and otype == _MARKET)
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
        bals = book.bals.get(uid)
        if bals is None:
            acct = self._accounts.get(uid)
            if acct is None:
                bb = qb = None
            else:
                bb = acct.get(book.base)
                qb = acct.get(book.quote)
                if bb is not None and qb is not None:
                    book.bals[uid] = (bb, qb)
        else:
            bb, qb = bals
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
        # events are built with object.__new__ and slot stores: about twice as fast as
        # calling the dataclass __init__ (see events.py)
        acc = _new(OrderAccepted)
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
        lb = qb if is_buy else bb  # the balance this order locks (if any)
        if lock:
            lb.available -= lock
            lb.locked += lock

        if not crosses:
            if rests:
                # the hot path: a limit order that rests whole
                o = _new(Order)
                o.order_id = oid
                o.user_id = uid
                o.symbol = sym
                o.side = side
                o.type = otype
                o.time_in_force = tif
                o.post_only = post_only
                o.price = price
                o.quantity = q
                o.filled_quantity = 0
                o.filled_quote = 0
                o.status = _NEW
                o.client_order_id = coid
                o.created_ts = ts
                o.updated_ts = ts
                o.remaining = q
                o.is_buy = is_buy
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
                uo = self._user_orders.get(uid)
                if uo is None:
                    uo = self._user_orders[uid] = {}
                uo[oid] = o
                obu = book.open_by_user
                obu[uid] = obu.get(uid, 0) + 1
                if coid is not None:
                    self._coids[(uid, coid)] = oid
                # built inline, not by _balance_changed / _depth_changed: this is the
                # commonest command of all, and the two calls cost ~1.5% of the benchmark
                bc = _new(BalanceChanged)
                bc.seq = seq
                bc.user_id = uid
                bc.asset = lb.asset
                bc.available = lb.available
                bc.locked = lb.locked
                dc = _new(DepthChanged)
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
    ) -> tuple[int, int, int, bool]:
        """Fill incoming order ``oid`` (``rem`` lots, limit ``price``; a market order has
        no limit) against the opposite side of the book. One path for both sides.

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
        them."""
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
        new = _new
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
                    a = qb.available // unit
                    if a < f:
                        if a == 0:
                            stopped = True
                            break
                        f = a
                    # (read just above: the taker's other deltas wait for the end)
                    qb.available -= f * unit
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
                t = new(Trade)
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
                u = new(OrderUpdated)
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

    # ---------------------------------------------------------------- cancel

    def _release(self, o: Order, book: Book) -> Balance:
        """Unlock what resting order ``o`` holds; return the balance that changed."""
        if o.is_buy:
            b = o.quote_bal
            amt = o.remaining * o.price * book.quote_per_tick_lot
        else:
            b = o.base_bal
            amt = o.remaining * book.base_per_lot
        b.locked -= amt
        b.available += amt
        return b

    def _cancel(self, c: CancelOrder, seq: int) -> list[Event]:
        uid = c.user_id
        o = self._orders.get(c.order_id)
        if o is None or o.user_id != uid:
            rej = _new(CommandRejected)
            rej.seq = seq
            rej.user_id = uid
            rej.reason = _UNKNOWN_ORDER
            return [rej]
        book = self._books[o.symbol]
        if not book.trading and book.rules.status == _HALTED:
            return [CommandRejected(seq, uid, _R.MARKET_HALTED)]
        total = book.remove(o)
        self._unindex(o, book)
        b = self._release(o, book)
        o.status = _CANCELLED
        o.updated_ts = c.ts
        # built inline like the resting path's two: a cancel is the next commonest command
        bc = _new(BalanceChanged)
        bc.seq = seq
        bc.user_id = uid
        bc.asset = b.asset
        bc.available = b.available
        bc.locked = b.locked
        dc = _new(DepthChanged)
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
            book = self._books[o.symbol]
            if book.rules.status == _HALTED:
                continue
            book.remove(o)
            self._unindex(o, book)
            tb[self._release(o, book)] = None
            o.status = _CANCELLED
            o.updated_ts = ts
            events.append(_updated(o, seq))
            td = touched.get(book)
            if td is None:
                td = touched[book] = {}
            td[o.price if o.is_buy else -o.price] = None
        _balances_changed(seq, tb, events.append)
        for book, td in touched.items():
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
    """The ``OrderUpdated`` of ``o``'s current state (built like :func:`_order_event`)."""
    e = _new(OrderUpdated)
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
    return e


def _balance_changed(seq: int, b: Balance) -> BalanceChanged:
    """The ``BalanceChanged`` of ``b``'s current values (built like :func:`_order_event`)."""
    e = _new(BalanceChanged)
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
    e = _new(DepthChanged)
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
    new = _new
    for b in balances:
        e = new(BalanceChanged)
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
    new = _new
    for lvl in levels:
        e = new(DepthChanged)
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
    e = _new(OrderUpdated)
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
    return e
