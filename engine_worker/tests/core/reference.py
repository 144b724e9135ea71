"""A deliberately simple reference matcher for the differential test.

Same rules as ``engine_worker.core.engine.Engine`` written the obvious way: resting
orders in one plain list, the opposite side re-sorted by (price, queue position) before
every fill, pending stops in another list searched whole after every taker, balances in a
dict, each order holding an explicit ``lock`` it pays from and gives back (an OCO list's
one lock held by its limit order), and FOK done as "try it on a copy of the state; keep
the copy only if the order filled completely". No events: it records outcomes and trades.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from engine_worker.core.commands import (
    AddMarket,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    Configure,
    Deposit,
    PlaceOrder,
    PlaceOrderList,
    SetMarketStatus,
    SetOrderLimit,
    Withdraw,
)
from engine_worker.core.rules import MarketRules
from engine_worker.core.types import MarketStatus, OrderType, Side, TimeInForce

MARGIN_BPS = 500  # a stop-market buy's budget beyond quantity * stop price (stops.py)


@dataclass
class RefOrder:
    order_id: int
    user_id: int
    symbol: str
    side: Side
    price: int
    quantity: int
    client_order_id: str | None
    filled: int = 0
    filled_quote: int = 0
    type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    stop_price: int = 0
    list_id: int | None = None
    linked: int | None = None  # the other order of its OCO list while linked
    queue: int = 0  # position in the queue of its price (smaller: earlier)
    lock: int = 0  # what it holds locked (a linked list's whole lock on its limit order)
    status: str = "new"

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def buy(self) -> bool:
        return self.side == Side.BUY

    @property
    def market(self) -> bool:
        return self.type in (OrderType.MARKET, OrderType.STOP_MARKET)


@dataclass(frozen=True)
class RefTrade:
    symbol: str
    price: int
    quantity: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    maker_fee: int
    taker_fee: int


@dataclass
class _State:
    markets: dict[str, MarketRules] = field(default_factory=dict)
    balances: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # [avail, locked]
    book: list[RefOrder] = field(default_factory=list)  # every resting order, arrival order
    stops: list[RefOrder] = field(default_factory=list)  # every pending stop
    last: dict[str, int] = field(default_factory=dict)  # symbol -> last trade price
    next_order_id: int = 1
    trades: list[RefTrade] = field(default_factory=list)
    max_open_orders: int = 0  # per user and market; 0: no limit
    order_limits: dict[int, int] = field(default_factory=dict)  # user -> its own limit
    coid_retention: int = 24 * 3600 * 1000
    coid_horizon: int = -1  # the highest "ts - retention" an order with a client id brought
    recent: dict[tuple[int, str], int] = field(default_factory=dict)  # -> ts of its order


def budget(quantity: int, stop_price: int, qpt: int) -> int:
    notional = quantity * stop_price * qpt
    whole, part = divmod(notional * (10_000 + MARGIN_BPS), 10_000)
    return whole + (1 if part else 0)


def triggered(o: RefOrder, last: int) -> bool:
    return last > 0 and (last >= o.stop_price if o.buy else last <= o.stop_price)


class ReferenceEngine:
    """``apply(cmd)`` returns an outcome string: "ok", "accepted:<status>" or a reject code."""

    def __init__(self, fee_account: int) -> None:
        self.fee_account = fee_account
        self.s = _State()

    # helpers ---------------------------------------------------------------------

    def bal(self, user: int, asset: str) -> list[int]:
        return self.s.balances.setdefault((user, asset), [0, 0])

    def balances(self) -> dict[tuple[int, str], tuple[int, int]]:
        return {k: (v[0], v[1]) for k, v in self.s.balances.items() if v != [0, 0]}

    def open_orders(self) -> list[tuple]:
        return sorted(
            (o.order_id, o.user_id, o.symbol, str(o.side), str(o.type), o.price, o.stop_price,
             o.quantity, o.filled, o.status, o.list_id, o.linked)
            for o in self.s.book + self.s.stops
        )  # fmt: skip

    @property
    def trades(self) -> list[RefTrade]:
        return self.s.trades

    def _opposite(self, symbol: str, side: Side) -> list[RefOrder]:
        """The orders an incoming ``side`` order would meet, best first, oldest first."""
        other = [o for o in self.s.book if o.symbol == symbol and o.side != side]
        if side == Side.BUY:
            return sorted(other, key=lambda o: (o.price, o.queue))
        return sorted(other, key=lambda o: (-o.price, o.queue))

    def _lock_asset(self, o: RefOrder) -> str:
        r = self.s.markets[o.symbol]
        return r.quote if o.buy else r.base

    def _need(self, o: RefOrder, quantity: int | None = None, price: int | None = None) -> int:
        """What ``o`` would lock on its own for ``quantity`` lots left at ``price``."""
        r = self.s.markets[o.symbol]
        q = o.remaining if quantity is None else quantity
        p = o.price if price is None else price
        if not o.buy:
            return q * r.base_per_lot
        if o.type == OrderType.STOP_MARKET:
            return budget(q, o.stop_price, r.quote_per_tick_lot)
        return q * p * r.quote_per_tick_lot

    def _move(self, o: RefOrder, amount: int) -> None:
        """Lock ``amount`` more for ``o`` (negative: give it back)."""
        b = self.bal(o.user_id, self._lock_asset(o))
        b[0] -= amount
        b[1] += amount
        o.lock += amount

    def _fresh(self) -> int:
        n = self.s.next_order_id
        self.s.next_order_id += 1
        return n

    def _open(self, uid: int, symbol: str) -> int:
        return sum(1 for o in self.s.book + self.s.stops if o.user_id == uid and o.symbol == symbol)

    def _limit_of(self, uid: int) -> int:
        return self.s.order_limits.get(uid, self.s.max_open_orders)

    def _crosses(self, o_side: Side, symbol: str, price: int, market: bool) -> bool:
        opp = self._opposite(symbol, o_side)
        if not opp:
            return False
        if market:
            return True
        return opp[0].price <= price if o_side == Side.BUY else opp[0].price >= price

    def _order(self, order_id: int) -> RefOrder | None:
        for o in self.s.book + self.s.stops:
            if o.order_id == order_id:
                return o
        return None

    # commands --------------------------------------------------------------------

    def apply(self, c: Command) -> str:
        s = self.s
        if isinstance(c, Deposit):
            if c.amount <= 0:
                return "invalid_amount"
            self.bal(c.user_id, c.asset)[0] += c.amount
            return "ok"
        if isinstance(c, Withdraw):
            if c.amount <= 0:
                return "invalid_amount"
            b = self.bal(c.user_id, c.asset)
            if b[0] < c.amount:
                return "insufficient_balance"
            b[0] -= c.amount
            return "ok"
        if isinstance(c, AddMarket):
            if c.rules.symbol in s.markets:
                return "market_exists"
            s.markets[c.rules.symbol] = c.rules
            return "ok"
        if isinstance(c, SetMarketStatus):
            if c.symbol not in s.markets:
                return "unknown_market"
            s.markets[c.symbol] = dataclasses.replace(s.markets[c.symbol], status=c.status)
            return "ok"
        if isinstance(c, Configure):
            if c.max_open_orders < 0 or c.client_order_id_retention < 0:
                return "invalid_limit"
            s.max_open_orders = c.max_open_orders
            s.coid_retention = c.client_order_id_retention
            return "ok"
        if isinstance(c, SetOrderLimit):
            if c.max_open_orders is None:
                s.order_limits.pop(c.user_id, None)
            elif c.max_open_orders < 1:
                return "invalid_limit"
            else:
                s.order_limits[c.user_id] = c.max_open_orders
            return "ok"
        if isinstance(c, CancelOrder):
            o = self._order(c.order_id)
            if o is None or o.user_id != c.user_id:
                return "unknown_order"
            if s.markets[o.symbol].status == MarketStatus.HALTED:
                return "market_halted"
            self._cancel(o)
            return "ok"
        if isinstance(c, CancelAll):
            for o in sorted(s.book + s.stops, key=lambda o: o.order_id):
                if o.user_id != c.user_id or (c.symbol is not None and o.symbol != c.symbol):
                    continue
                if o.status == "cancelled":
                    continue
                if s.markets[o.symbol].status == MarketStatus.HALTED:
                    continue
                self._cancel(o)
            return "ok"
        if isinstance(c, AmendOrder):
            return self._amend(c)
        if isinstance(c, PlaceOrderList):
            return self._place_list(c)
        assert isinstance(c, PlaceOrder)
        return self._place(c)

    def _take_off(self, o: RefOrder, status: str) -> None:
        if o in self.s.book:
            self.s.book.remove(o)
        if o in self.s.stops:
            self.s.stops.remove(o)
        o.status = status

    def _cancel(self, o: RefOrder) -> None:
        """Cancel an open order, and the other order of its list with it."""
        both = [o]
        if o.linked is not None:
            other = self._order(o.linked)
            assert other is not None
            both.append(other)
        for x in both:
            self._move(x, -x.lock)
            x.linked = None
            self._take_off(x, "cancelled")

    def _reject_basics(self, r: MarketRules | None) -> str | None:
        if r is None:
            return "unknown_market"
        if r.status == MarketStatus.HALTED:
            return "market_halted"
        if r.status == MarketStatus.CANCEL_ONLY:
            return "market_cancel_only"
        return None

    def _coid_taken(self, c: PlaceOrder) -> bool:
        s = self.s
        if c.client_order_id is None:
            return False
        # taken while open, and for orders placed within the retention window
        s.coid_horizon = max(s.coid_horizon, c.ts - s.coid_retention)
        s.recent = {k: ts for k, ts in s.recent.items() if ts > s.coid_horizon}
        return (c.user_id, c.client_order_id) in s.recent or any(
            o.user_id == c.user_id and o.client_order_id == c.client_order_id
            for o in s.book + s.stops
        )

    def _place(self, c: PlaceOrder) -> str:
        s = self.s
        r = s.markets.get(c.symbol)
        bad = self._reject_basics(r)
        if bad:
            return bad
        assert r is not None
        q = c.quantity
        if q <= 0:
            return "invalid_quantity"
        stop_type = c.type in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET)  # (others: no
        # stop price is read)
        market = c.type in (OrderType.MARKET, OrderType.STOP_MARKET)
        price = 0 if market else c.price
        if not market and price <= 0:
            return "invalid_price"
        if price > r.max_price:
            return "max_price"
        if stop_type:
            if c.stop_price <= 0:
                return "invalid_stop_price"
            if c.stop_price > r.max_price:
                return "max_price"
        if q < r.min_quantity:
            return "min_quantity"
        if q > r.max_quantity:
            return "max_quantity"
        qpt = r.quote_per_tick_lot
        notional_price = c.stop_price if c.type == OrderType.STOP_MARKET else price
        if (stop_type or not market) and notional_price * q * qpt < r.min_notional:
            return "min_notional"
        if self._coid_taken(c):
            return "duplicate_client_order_id"
        limit = self._limit_of(c.user_id)
        rests = stop_type or (not market and c.time_in_force == TimeInForce.GTC)
        if limit and rests and self._open(c.user_id, c.symbol) >= limit:
            return "too_many_open_orders"
        o = RefOrder(s.next_order_id, c.user_id, c.symbol, c.side, price, q, c.client_order_id,
                     type=c.type, tif=c.time_in_force, post_only=c.post_only,
                     stop_price=c.stop_price if stop_type else 0)  # fmt: skip
        o.queue = o.order_id
        buy = c.side == Side.BUY
        avail = self.bal(c.user_id, r.quote if buy else r.base)[0]
        if stop_type:
            if triggered(o, s.last.get(c.symbol, 0)):
                return "stop_would_trigger"
            if avail < self._need(o):
                return "insufficient_balance"
            s.next_order_id += 1
            self._keep_coid(c)
            o.status = "pending"
            self._move(o, self._need(o))
            s.stops.append(o)
            return "accepted:pending"
        opp = self._opposite(c.symbol, c.side)
        if c.post_only and self._crosses(c.side, c.symbol, price, market):
            return "post_only_would_take"
        if buy and market:
            if opp and avail < opp[0].price * qpt:
                return "insufficient_balance"
        elif avail < self._need(o):
            return "insufficient_balance"
        saved = copy.deepcopy(s)
        s.next_order_id += 1
        o.status = "placing"
        if not (buy and market):
            self._move(o, self._need(o))
        self._run(o, pay="available" if buy and market else "lock")
        if c.time_in_force == TimeInForce.FOK and o.status != "filled":
            self.s = saved
            return "fok_not_filled"
        self._keep_coid(c)
        self._cascade(c.symbol)
        return {"filled": "accepted:filled", "expired": "accepted:expired"}.get(
            o.status, "accepted:rests"
        )

    def _keep_coid(self, c: PlaceOrder) -> None:
        if c.client_order_id is not None and c.ts > self.s.coid_horizon:
            self.s.recent[(c.user_id, c.client_order_id)] = c.ts

    def _run(self, o: RefOrder, pay: str) -> None:
        """Match ``o`` (not on the book) as a taker, then rest, fill or expire it.
        ``pay``: "lock" (it holds its lock), "available" (a market buy pays as it goes),
        "budget" (a triggered stop-market buy pays from its lock, at most all of it)."""
        r = self.s.markets[o.symbol]
        stopped = False
        if o.post_only and self._crosses(o.side, o.symbol, o.price, o.market):
            stopped = True
        elif o.tif == TimeInForce.FOK and o.status != "placing":
            # a triggered FOK: fills whole or expires (it cannot be refused any more); a
            # placed one was tried on a copy by _place already
            saved = self.s
            self.s, probe = copy.deepcopy((saved, o))
            self._match(probe, pay, r)
            self.s = saved
            stopped = probe.remaining != 0
        if not stopped:
            stopped = self._match(o, pay, r)
        if pay == "budget":
            self._move(o, -o.lock)
            o.status = "filled" if o.remaining == 0 else "expired"
        elif o.remaining == 0:
            assert o.lock == 0, o
            o.status = "filled"
        elif o.tif == TimeInForce.GTC and not o.market and not stopped:
            o.status = "partially_filled" if o.filled else "new"
            o.queue = self._fresh() if o.queue == -1 else o.queue
            self.s.book.append(o)
        else:
            self._move(o, -o.lock)
            o.status = "expired"

    def _match(self, o: RefOrder, pay: str, r: MarketRules) -> bool:
        """Fill ``o`` against the opposite side; True if it stopped early (self-trade
        prevention, or a market buy out of funds)."""
        qpt = r.quote_per_tick_lot
        while o.remaining > 0:
            opp = [m for m in self._opposite(o.symbol, o.side) if self._acceptable(o, m)]
            if not opp:
                return False
            m = opp[0]
            if m.user_id == o.user_id:
                return True  # self-trade prevention
            f = min(o.remaining, m.remaining)
            if pay in ("available", "budget"):
                funds = self.bal(o.user_id, r.quote)[0] if pay == "available" else o.lock
                f = min(f, funds // (m.price * qpt))
                if f == 0:
                    return True
            self._fill(r, taker=o, maker=m, f=f, pay=pay)
        return False

    def _acceptable(self, o: RefOrder, m: RefOrder) -> bool:
        if o.market:
            return True
        return m.price <= o.price if o.buy else m.price >= o.price

    def _fill(self, r: MarketRules, taker: RefOrder, maker: RefOrder, f: int, pay: str) -> None:
        p = maker.price
        quote_amt = p * f * r.quote_per_tick_lot
        base_amt = f * r.base_per_lot
        buyer, seller = (taker, maker) if taker.buy else (maker, taker)
        buyer_bps = r.taker_fee_bps if buyer is taker else r.maker_fee_bps
        seller_bps = r.taker_fee_bps if seller is taker else r.maker_fee_bps
        buyer_fee = base_amt * buyer_bps // 10_000
        seller_fee = quote_amt * seller_bps // 10_000
        # the buyer pays the trade price: from its lock at its own limit price per lot (the
        # difference comes back), from its budget, or (a market buy) from available
        bq = self.bal(buyer.user_id, r.quote)
        if buyer is taker and pay == "available":
            bq[0] -= quote_amt
        elif buyer is taker and pay == "budget":
            bq[1] -= quote_amt
            buyer.lock -= quote_amt
        else:
            locked_for_these = buyer.price * f * r.quote_per_tick_lot
            bq[1] -= locked_for_these
            bq[0] += locked_for_these - quote_amt
            buyer.lock -= locked_for_these
        self.bal(buyer.user_id, r.base)[0] += base_amt - buyer_fee
        self.bal(seller.user_id, r.base)[1] -= base_amt
        seller.lock -= base_amt
        self.bal(seller.user_id, r.quote)[0] += quote_amt - seller_fee
        self.bal(self.fee_account, r.base)[0] += buyer_fee
        self.bal(self.fee_account, r.quote)[0] += seller_fee
        taker.filled += f
        maker.filled += f
        taker.filled_quote += quote_amt
        maker.filled_quote += quote_amt
        self.s.last[r.symbol] = p
        if maker.remaining == 0:
            self.s.book.remove(maker)
            maker.status = "filled"
        else:
            maker.status = "partially_filled"
        if maker.linked is not None:
            # a list's limit order traded: its stop goes, the lock beyond its own need back
            stop = self._order(maker.linked)
            assert stop is not None
            maker.linked = stop.linked = None
            self._move(maker, -(maker.lock - self._need(maker)))
            self._take_off(stop, "cancelled")
        self.s.trades.append(
            RefTrade(
                r.symbol,
                p,
                f,
                maker.order_id,
                taker.order_id,
                maker.user_id,
                taker.user_id,
                seller_fee if maker is seller else buyer_fee,
                seller_fee if taker is seller else buyer_fee,
            )  # fmt: skip
        )

    def _cascade(self, symbol: str) -> None:
        """Trigger every stop the last price reached and run each, until none is left:
        a check takes all that trigger (sells highest stop first, then buys lowest first,
        by order id within a price), queued behind those not yet run."""
        queue: list[RefOrder] = []
        while True:
            last = self.s.last.get(symbol, 0)
            hit = [o for o in self.s.stops if o.symbol == symbol and triggered(o, last)]
            hit.sort(key=lambda o: (o.buy, -o.stop_price if not o.buy else o.stop_price,
                                    o.order_id))  # fmt: skip
            for o in hit:
                self.s.stops.remove(o)
                o.status = "new"
                if o.linked is not None:
                    limit = self._order(o.linked)
                    assert limit is not None
                    # the list's lock (held by its limit order) moves to the stop
                    self._move(limit, -limit.lock)
                    self._move(o, self._need(o))
                    limit.linked = o.linked = None
                    self._take_off(limit, "cancelled")
                queue.append(o)
            if not queue:
                return
            o = queue.pop(0)
            o.queue = -1  # a fresh position when it rests
            pay = "budget" if o.buy and o.type == OrderType.STOP_MARKET else "lock"
            self._run(o, pay)

    def _place_list(self, c: PlaceOrderList) -> str:
        s = self.s
        r = s.markets.get(c.symbol)
        bad = self._reject_basics(r)
        if bad:
            return bad
        assert r is not None
        q, price, stop, slp = c.quantity, c.price, c.stop_price, c.stop_limit_price
        buy = c.side == Side.BUY
        if q <= 0:
            return "invalid_quantity"
        if price <= 0 or (slp is not None and slp <= 0):
            return "invalid_price"
        if stop <= 0:
            return "invalid_stop_price"
        if max(price, stop, slp or 0) > r.max_price:
            return "max_price"
        if q < r.min_quantity:
            return "min_quantity"
        if q > r.max_quantity:
            return "max_quantity"
        qpt = r.quote_per_tick_lot
        if price * q * qpt < r.min_notional or (stop if slp is None else slp) * q * qpt < (
            r.min_notional
        ):
            return "min_notional"
        if (buy and stop <= price) or (not buy and stop >= price):
            return "invalid_stop_price"
        last = s.last.get(c.symbol, 0)
        if last > 0 and (last >= stop if buy else last <= stop):
            return "stop_would_trigger"
        limit_n = self._limit_of(c.user_id)
        if limit_n and self._open(c.user_id, c.symbol) + 2 > limit_n:
            return "too_many_open_orders"
        if self._crosses(c.side, c.symbol, price, False):
            return "post_only_would_take"
        oid = s.next_order_id
        lim = RefOrder(oid, c.user_id, c.symbol, c.side, price, q, None, post_only=True,
                       list_id=oid, linked=oid + 1, queue=oid)  # fmt: skip
        stop_type = OrderType.STOP_MARKET if slp is None else OrderType.STOP_LIMIT
        st = RefOrder(oid + 1, c.user_id, c.symbol, c.side, slp or 0, q, None, type=stop_type,
                      stop_price=stop, list_id=oid, linked=oid, queue=oid + 1,
                      status="pending")  # fmt: skip
        lock = max(self._need(lim), self._need(st))
        if self.bal(c.user_id, r.quote if buy else r.base)[0] < lock:
            return "insufficient_balance"
        s.next_order_id += 2
        self._move(lim, lock)
        s.book.append(lim)
        s.stops.append(st)
        return "accepted:rests"

    def _amend(self, c: AmendOrder) -> str:
        o = self._order(c.order_id)
        if o is None or o.user_id != c.user_id:
            return "unknown_order"
        r = self.s.markets[o.symbol]
        if r.status == MarketStatus.HALTED:
            return "market_halted"
        if r.status == MarketStatus.CANCEL_ONLY:
            return "market_cancel_only"
        if o.linked is not None:
            return "order_in_list"
        q = o.quantity if c.quantity is None else c.quantity
        price = o.price if c.price is None else c.price
        if c.price is not None and (o.type == OrderType.STOP_MARKET or price <= 0):
            return "invalid_price"
        if price > r.max_price:
            return "max_price"
        if q <= o.filled:
            return "invalid_quantity"
        if q < r.min_quantity:
            return "min_quantity"
        if q > r.max_quantity:
            return "max_quantity"
        notional_price = o.stop_price if o.type == OrderType.STOP_MARKET else price
        if notional_price * q * r.quote_per_tick_lot < r.min_notional:
            return "min_notional"
        pending = o.status == "pending"
        requeue = not pending and (price != o.price or q > o.quantity)
        if requeue and o.post_only and self._crosses(o.side, o.symbol, price, False):
            return "post_only_would_take"
        delta = self._need(o, q - o.filled, price) - o.lock
        if delta > self.bal(o.user_id, self._lock_asset(o))[0]:
            return "insufficient_balance"
        self._move(o, delta)
        if requeue:
            self.s.book.remove(o)
            o.quantity, o.price = q, price
            o.queue = -1
            self._run(o, "lock")
            self._cascade(o.symbol)
        else:
            o.quantity, o.price = q, price
        return "ok"
