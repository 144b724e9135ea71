"""A deliberately simple reference matcher for the differential test.

Same rules as ``engine_worker.core.engine.Engine`` written the obvious way: resting
orders in one plain list, the opposite side re-sorted by (price, arrival) before every
fill, balances in a dict, and FOK done as "try it on a copy of the state; keep the copy
only if the order filled completely". No events: it records outcomes and trades.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from engine_worker.core.commands import (
    AddMarket,
    CancelAll,
    CancelOrder,
    Command,
    Configure,
    Deposit,
    PlaceOrder,
    SetMarketStatus,
    SetOrderLimit,
    Withdraw,
)
from engine_worker.core.rules import MarketRules
from engine_worker.core.types import MarketStatus, OrderType, Side, TimeInForce


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

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled


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
    next_order_id: int = 1
    trades: list[RefTrade] = field(default_factory=list)
    max_open_orders: int = 0  # per user and market; 0: no limit
    order_limits: dict[int, int] = field(default_factory=dict)  # user -> its own limit
    coid_retention: int = 24 * 3600 * 1000
    coid_horizon: int = -1  # the highest "ts - retention" an order with a client id brought
    recent: dict[tuple[int, str], int] = field(default_factory=dict)  # -> ts of its order


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

    def open_orders(self) -> list[tuple[int, int, str, str, int, int, int]]:
        return sorted(
            (o.order_id, o.user_id, o.symbol, str(o.side), o.price, o.quantity, o.filled)
            for o in self.s.book
        )

    @property
    def trades(self) -> list[RefTrade]:
        return self.s.trades

    def _opposite(self, symbol: str, side: Side) -> list[RefOrder]:
        """The orders an incoming ``side`` order would meet, best first, oldest first."""
        other = [o for o in self.s.book if o.symbol == symbol and o.side != side]
        if side == Side.BUY:
            return sorted(other, key=lambda o: (o.price, o.order_id))
        return sorted(other, key=lambda o: (-o.price, o.order_id))

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
            mine = [o for o in s.book if o.order_id == c.order_id and o.user_id == c.user_id]
            if not mine:
                return "unknown_order"
            if s.markets[mine[0].symbol].status == MarketStatus.HALTED:
                return "market_halted"
            self._remove(mine[0])
            return "ok"
        if isinstance(c, CancelAll):
            for o in sorted(s.book, key=lambda o: o.order_id):
                if o.user_id != c.user_id or (c.symbol is not None and o.symbol != c.symbol):
                    continue
                if s.markets[o.symbol].status == MarketStatus.HALTED:
                    continue
                self._remove(o)
            return "ok"
        assert isinstance(c, PlaceOrder)
        return self._place(c)

    def _remove(self, o: RefOrder) -> None:
        """Take a resting order off the book and unlock what it holds."""
        r = self.s.markets[o.symbol]
        self.s.book.remove(o)
        if o.side == Side.BUY:
            b = self.bal(o.user_id, r.quote)
            amt = o.remaining * o.price * r.quote_per_tick_lot
        else:
            b = self.bal(o.user_id, r.base)
            amt = o.remaining * r.base_per_lot
        b[1] -= amt
        b[0] += amt

    def _place(self, c: PlaceOrder) -> str:
        s = self.s
        r = s.markets.get(c.symbol)
        if r is None:
            return "unknown_market"
        if r.status == MarketStatus.HALTED:
            return "market_halted"
        if r.status == MarketStatus.CANCEL_ONLY:
            return "market_cancel_only"
        market = c.type == OrderType.MARKET
        price = 0 if market else c.price
        q = c.quantity
        if q <= 0:
            return "invalid_quantity"
        if not market and price <= 0:
            return "invalid_price"
        if q < r.min_quantity:
            return "min_quantity"
        if q > r.max_quantity:
            return "max_quantity"
        qpt = r.quote_per_tick_lot
        if not market and price * q * qpt < r.min_notional:
            return "min_notional"
        if c.client_order_id is not None:
            # taken while open, and for orders placed within the retention window
            s.coid_horizon = max(s.coid_horizon, c.ts - s.coid_retention)
            s.recent = {k: ts for k, ts in s.recent.items() if ts > s.coid_horizon}
            if (c.user_id, c.client_order_id) in s.recent or any(
                o.user_id == c.user_id and o.client_order_id == c.client_order_id for o in s.book
            ):
                return "duplicate_client_order_id"
        limit = s.order_limits.get(c.user_id, s.max_open_orders)
        resting = [o for o in s.book if o.user_id == c.user_id and o.symbol == c.symbol]
        if limit and not market and c.time_in_force == TimeInForce.GTC and len(resting) >= limit:
            return "too_many_open_orders"

        def acceptable(o: RefOrder) -> bool:
            if market:
                return True
            return o.price <= price if c.side == Side.BUY else o.price >= price

        opp = self._opposite(c.symbol, c.side)
        if c.post_only and opp and acceptable(opp[0]):
            return "post_only_would_take"
        buy = c.side == Side.BUY
        if buy:
            avail = self.bal(c.user_id, r.quote)[0]
            if market:
                if opp and avail < opp[0].price * qpt:
                    return "insufficient_balance"
            elif avail < q * price * qpt:
                return "insufficient_balance"
        elif self.bal(c.user_id, r.base)[0] < q * r.base_per_lot:
            return "insufficient_balance"

        saved = copy.deepcopy(s)
        o = RefOrder(s.next_order_id, c.user_id, c.symbol, c.side, price, q, c.client_order_id)
        s.next_order_id += 1
        # lock
        if buy and not market:
            b = self.bal(c.user_id, r.quote)
            b[0] -= q * price * qpt
            b[1] += q * price * qpt
        if not buy:
            b = self.bal(c.user_id, r.base)
            b[0] -= q * r.base_per_lot
            b[1] += q * r.base_per_lot
        stopped = False
        while o.remaining > 0:
            opp = [m for m in self._opposite(c.symbol, c.side) if acceptable(m)]
            if not opp:
                break
            m = opp[0]
            if m.user_id == c.user_id:
                stopped = True  # self-trade prevention
                break
            f = min(o.remaining, m.remaining)
            if buy and market:
                f = min(f, self.bal(c.user_id, r.quote)[0] // (m.price * qpt))
                if f == 0:
                    stopped = True
                    break
            self._fill(r, taker=o, maker=m, f=f, market_buy=buy and market)
        if c.time_in_force == TimeInForce.FOK and o.remaining > 0:
            self.s = saved
            return "fok_not_filled"
        if c.client_order_id is not None and c.ts > s.coid_horizon:
            s.recent[(c.user_id, c.client_order_id)] = c.ts
        if o.remaining == 0:
            return "accepted:filled"
        if c.time_in_force == TimeInForce.GTC and not market and not stopped:
            s.book.append(o)
            return "accepted:rests"
        # expire: unlock what is left
        if buy and not market:
            b = self.bal(c.user_id, r.quote)
            b[1] -= o.remaining * price * qpt
            b[0] += o.remaining * price * qpt
        if not buy:
            b = self.bal(c.user_id, r.base)
            b[1] -= o.remaining * r.base_per_lot
            b[0] += o.remaining * r.base_per_lot
        return "accepted:expired"

    def _fill(
        self, r: MarketRules, taker: RefOrder, maker: RefOrder, f: int, market_buy: bool
    ) -> None:
        p = maker.price
        quote_amt = p * f * r.quote_per_tick_lot
        base_amt = f * r.base_per_lot
        buyer, seller = (taker, maker) if taker.side == Side.BUY else (maker, taker)
        buyer_bps = r.taker_fee_bps if buyer is taker else r.maker_fee_bps
        seller_bps = r.taker_fee_bps if seller is taker else r.maker_fee_bps
        buyer_fee = base_amt * buyer_bps // 10_000
        seller_fee = quote_amt * seller_bps // 10_000
        # buyer pays the trade price; it locked its own limit price per lot (unless a
        # market buy, which pays from available)
        bq = self.bal(buyer.user_id, r.quote)
        if market_buy:
            bq[0] -= quote_amt
        else:
            locked_for_these = buyer.price * f * r.quote_per_tick_lot
            bq[1] -= locked_for_these
            bq[0] += locked_for_these - quote_amt
        self.bal(buyer.user_id, r.base)[0] += base_amt - buyer_fee
        self.bal(seller.user_id, r.base)[1] -= base_amt
        self.bal(seller.user_id, r.quote)[0] += quote_amt - seller_fee
        self.bal(self.fee_account, r.base)[0] += buyer_fee
        self.bal(self.fee_account, r.quote)[0] += seller_fee
        taker.filled += f
        maker.filled += f
        taker.filled_quote += quote_amt
        maker.filled_quote += quote_amt
        if maker.remaining == 0:
            self.s.book.remove(maker)
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
