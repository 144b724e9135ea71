"""One test per engine rule. Pure: no Django, no database, no Redis.

Market used throughout: 1 lot = 100 base units, 1 tick x 1 lot = 10 quote units,
maker fee 1% (100 bps), taker fee 2% (200 bps), min notional 50 quote units.
"""

from __future__ import annotations

import dataclasses

import pytest

from engine_worker.core.book import Order
from engine_worker.core.commands import (
    AddMarket,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    PlaceOrder,
    SetMarketStatus,
    Withdraw,
)
from engine_worker.core.engine import FEE_ACCOUNT_DEFAULT, Engine
from engine_worker.core.events import (
    BalanceChanged,
    CommandRejected,
    Deposited,
    DepthChanged,
    Event,
    MarketChanged,
    OrderAccepted,
    OrderRejected,
    OrderUpdated,
    Trade,
    Withdrawn,
)
from engine_worker.core.rules import MarketRules
from engine_worker.core.types import (
    MarketStatus,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)

SYM = "BTC-USDT"
RULES = MarketRules(
    symbol=SYM,
    base="BTC",
    quote="USDT",
    base_per_lot=100,
    quote_per_tick_lot=10,
    min_quantity=1,
    max_quantity=1000,
    min_notional=50,
    maker_fee_bps=100,
    taker_fee_bps=200,
)
FEE = 999
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


class Harness:
    """An engine with one market; every apply checks seq numbering and invariants."""

    def __init__(self, rules: MarketRules = RULES) -> None:
        self.eng = Engine(fee_account=FEE)
        self.ts = 1_000
        self.apply(AddMarket("r", self.ts, rules))

    def apply(self, cmd: Command) -> list[Event]:
        seq = self.eng.next_seq
        events = self.eng.apply(cmd)
        assert self.eng.next_seq == seq + 1
        assert all(e.seq == seq for e in events), events
        self.eng.check_invariants()
        return events

    def tick(self) -> int:
        self.ts += 1
        return self.ts

    def fund(self, user: int, base: int = 0, quote: int = 0) -> None:
        if base:
            self.apply(Deposit("d", self.tick(), user, "BTC", base))
        if quote:
            self.apply(Deposit("d", self.tick(), user, "USDT", quote))

    def place(
        self,
        user: int,
        side: Side,
        price: int,
        qty: int,
        *,
        type: OrderType = LIMIT,  # noqa: A002
        tif: TimeInForce = GTC,
        post_only: bool = False,
        coid: str | None = None,
        symbol: str = SYM,
    ) -> list[Event]:
        cmd = PlaceOrder(
            "p", self.tick(), user, symbol, side, type, tif, price, qty, post_only, coid
        )
        return self.apply(cmd)

    def cancel(self, user: int, order_id: int) -> list[Event]:
        return self.apply(CancelOrder("c", self.tick(), user, order_id))

    def bal(self, user: int, asset: str) -> tuple[int, int]:
        return self.eng.balance(user, asset)


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if type(e) is kind]


def rejected(events: list[Event]) -> RejectReason:
    assert len(events) == 1, events
    e = events[0]
    assert isinstance(e, OrderRejected | CommandRejected), e
    return e.reason


@pytest.fixture
def h() -> Harness:
    return Harness()


# ----------------------------------------------------------------- exact sequences


def test_simple_cross_emits_exact_event_sequence(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 5)  # order 1, locks 500 BTC
    ev = h.place(2, BUY, 100, 5)  # order 2, locks 5000 USDT, fills at once
    seq = ev[0].seq
    ts = h.ts
    assert ev == [
        OrderAccepted(seq, 2, 2, SYM, BUY, LIMIT, GTC, False, 100, 5, 0, 0,
                      OrderStatus.NEW, None, ts, ts),
        Trade(seq, 1, SYM, 100, 5, 5000, BUY, 1, 2, 1, 2, 50, "USDT", 10, "BTC", ts),
        OrderUpdated(seq, 1, 1, SYM, SELL, LIMIT, GTC, False, 100, 5, 5, 5000,
                     OrderStatus.FILLED, None, ts - 1, ts),
        OrderUpdated(seq, 2, 2, SYM, BUY, LIMIT, GTC, False, 100, 5, 5, 5000,
                     OrderStatus.FILLED, None, ts, ts),
        BalanceChanged(seq, 2, "USDT", 95_000, 0),
        BalanceChanged(seq, 2, "BTC", 490, 0),
        BalanceChanged(seq, 1, "BTC", 9_500, 0),
        BalanceChanged(seq, 1, "USDT", 4_950, 0),
        BalanceChanged(seq, FEE, "BTC", 10, 0),
        BalanceChanged(seq, FEE, "USDT", 50, 0),
        DepthChanged(seq, SYM, SELL, 100, 0, 2),
    ]  # fmt: skip
    assert h.eng.next_trade_id == 2
    assert h.eng.depth_snapshot(SYM, 10) == ([], [], 2)


def test_resting_order_emits_accepted_balance_and_depth_only(h: Harness) -> None:
    h.fund(1, quote=10_000)
    ev = h.place(1, BUY, 100, 3)
    seq, ts = ev[0].seq, h.ts
    assert ev == [
        OrderAccepted(seq, 1, 1, SYM, BUY, LIMIT, GTC, False, 100, 3, 0, 0,
                      OrderStatus.NEW, None, ts, ts),
        BalanceChanged(seq, 1, "USDT", 7_000, 3_000),
        DepthChanged(seq, SYM, BUY, 100, 3, 1),
    ]  # fmt: skip
    o = h.eng.get_order(1)
    assert o is not None and o.remaining == 3 and o.status == OrderStatus.NEW


def test_every_command_consumes_one_seq_even_when_rejected() -> None:
    eng = Engine(fee_account=FEE, next_seq=41, next_order_id=7, next_trade_id=3)
    assert eng.apply(Withdraw("w", 1, 1, "BTC", 5))[0] == CommandRejected(
        41, 1, RejectReason.INSUFFICIENT_BALANCE
    )
    assert eng.apply(AddMarket("a", 1, RULES))[0].seq == 42
    ev = eng.apply(PlaceOrder("p", 1, 1, SYM, BUY, LIMIT, GTC, 100, 1))
    assert ev == [OrderRejected(43, 1, SYM, None, RejectReason.INSUFFICIENT_BALANCE)]
    assert eng.next_seq == 44 and eng.next_order_id == 7 and eng.next_trade_id == 3


def test_fee_account_default_is_used() -> None:
    assert Engine().fee_account == FEE_ACCOUNT_DEFAULT


# ----------------------------------------------------------------- matching


def test_price_time_priority(h: Harness) -> None:
    for u in (1, 2, 3):
        h.fund(u, base=10_000)
    h.fund(4, quote=100_000)
    h.place(1, SELL, 101, 2)  # 1
    h.place(2, SELL, 100, 2)  # 2
    h.place(3, SELL, 100, 2)  # 3
    ev = h.place(4, BUY, 101, 5)
    assert [(t.maker_order_id, t.price, t.quantity) for t in of(ev, Trade)] == [
        (2, 100, 2),
        (3, 100, 2),
        (1, 101, 1),
    ]
    assert h.eng.depth_snapshot(SYM, 5)[1] == [(101, 1)]


def test_gtc_remainder_rests_partially_filled(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 2)
    ev = h.place(2, BUY, 100, 5)
    taker = of(ev, OrderUpdated)[-1]
    assert taker.order_id == 2 and taker.status == OrderStatus.PARTIALLY_FILLED
    assert taker.filled_quantity == 2
    o = h.eng.get_order(2)
    assert o is not None and o.remaining == 3
    assert h.bal(2, "USDT") == (95_000, 3_000)
    assert h.eng.depth_snapshot(SYM, 5)[:2] == ([(100, 3)], [])
    assert [(d.side, d.price, d.quantity) for d in of(ev, DepthChanged)] == [
        (SELL, 100, 0),
        (BUY, 100, 3),
    ]


def test_ioc_remainder_expires_after_partial_fill(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 2)
    ev = h.place(2, BUY, 100, 5, tif=IOC)
    taker = of(ev, OrderUpdated)[-1]
    assert (taker.status, taker.filled_quantity) == (OrderStatus.EXPIRED, 2)
    assert h.eng.get_order(2) is None
    assert h.bal(2, "USDT") == (98_000, 0)
    assert h.eng.depth_snapshot(SYM, 5)[:2] == ([], [])


def test_ioc_that_cannot_cross_expires_unfilled_and_unlocks(h: Harness) -> None:
    h.fund(2, base=1_000)
    ev = h.place(2, SELL, 100, 5, tif=IOC)
    assert [type(e) for e in ev] == [OrderAccepted, OrderUpdated, BalanceChanged]
    assert ev[1].status == OrderStatus.EXPIRED
    assert h.bal(2, "BTC") == (1_000, 0)


def test_fee_taken_from_what_each_side_receives(h: Harness) -> None:
    h.fund(1, quote=100_000)  # maker buyer
    h.fund(2, base=10_000)  # taker seller
    h.place(1, BUY, 100, 10)
    ev = h.place(2, SELL, 100, 10)
    (t,) = of(ev, Trade)
    # buyer (maker) receives 1000 BTC, pays 1% in BTC; seller (taker) receives 10000 USDT,
    # pays 2% in USDT
    assert (t.maker_fee, t.maker_fee_asset, t.taker_fee, t.taker_fee_asset) == (
        10,
        "BTC",
        200,
        "USDT",
    )
    assert h.bal(1, "BTC") == (990, 0)
    assert h.bal(1, "USDT") == (90_000, 0)
    assert h.bal(2, "BTC") == (9_000, 0)
    assert h.bal(2, "USDT") == (9_800, 0)
    assert h.bal(FEE, "BTC") == (10, 0)
    assert h.bal(FEE, "USDT") == (200, 0)


def test_fee_rounds_down() -> None:
    h = Harness(dataclasses.replace(RULES, base_per_lot=1, maker_fee_bps=30, taker_fee_bps=70))
    h.fund(1, base=100)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 7)
    (t,) = of(h.place(2, BUY, 100, 7), Trade)
    assert t.taker_fee == 7 * 70 // 10_000 == 0  # 7 base units: fee rounds to 0
    assert t.maker_fee == 7_000 * 30 // 10_000 == 21


def test_self_trade_expires_taker_remainder(h: Harness) -> None:
    h.fund(1, base=10_000, quote=100_000)
    h.fund(2, base=10_000)
    h.place(2, SELL, 100, 2)  # 1: other user, first in line
    h.place(1, SELL, 100, 3)  # 2: own order behind it
    h.place(2, SELL, 100, 4)  # 3: behind the own order: never reached
    ev = h.place(1, BUY, 100, 10)  # GTC, still expires after the STP stop
    assert [t.maker_order_id for t in of(ev, Trade)] == [1]
    taker = of(ev, OrderUpdated)[-1]
    assert (taker.order_id, taker.status, taker.filled_quantity) == (4, OrderStatus.EXPIRED, 2)
    assert h.eng.get_order(2) is not None and h.eng.get_order(3) is not None
    assert h.bal(1, "USDT") == (98_000, 0)


def test_taker_buy_below_limit_unlocks_price_improvement(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 90, 4)
    h.place(2, BUY, 100, 6)  # fills 4 at 90, rests 2 at 100
    # paid 4*90*10 = 3600, still locks 2*100*10 = 2000
    assert h.bal(2, "USDT") == (100_000 - 3_600 - 2_000, 2_000)


def test_maker_buy_pays_its_own_price(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, base=10_000)
    h.place(1, BUY, 100, 4)
    ev = h.place(2, SELL, 90, 4)
    assert [t.price for t in of(ev, Trade)] == [100]
    assert h.bal(1, "USDT") == (96_000, 0)


def test_market_buy_limited_by_funds(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=2_500)
    h.place(1, SELL, 100, 1)  # 1000
    h.place(1, SELL, 110, 5)  # 1100 each
    ev = h.place(2, BUY, 0, 10, type=MARKET)
    assert [(t.price, t.quantity) for t in of(ev, Trade)] == [(100, 1), (110, 1)]
    taker = of(ev, OrderUpdated)[-1]
    assert (taker.status, taker.filled_quantity, taker.filled_quote) == (
        OrderStatus.EXPIRED,
        2,
        2_100,
    )
    assert h.bal(2, "USDT") == (400, 0)


def test_market_buy_rejected_when_it_cannot_afford_one_lot(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=999)
    h.place(1, SELL, 100, 1)
    assert rejected(h.place(2, BUY, 0, 1, type=MARKET)) == RejectReason.INSUFFICIENT_BALANCE


def test_market_order_on_empty_book_expires_unfilled(h: Harness) -> None:
    ev = h.place(2, BUY, 0, 3, type=MARKET)
    assert [type(e) for e in ev] == [OrderAccepted, OrderUpdated]
    assert ev[1].status == OrderStatus.EXPIRED and ev[1].price == 0


def test_market_gtc_is_treated_as_ioc(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, base=10_000)
    h.place(1, BUY, 100, 2)
    ev = h.place(2, SELL, 5, 5, type=MARKET, tif=GTC)  # price ignored
    taker = of(ev, OrderUpdated)[-1]
    assert (taker.status, taker.filled_quantity, taker.price) == (OrderStatus.EXPIRED, 2, 0)
    assert h.bal(2, "BTC") == (9_800, 0)
    assert h.eng.open_orders_of(2) == []


def test_fok_rejected_when_book_too_thin(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 2)
    h.place(1, SELL, 102, 2)
    assert rejected(h.place(2, BUY, 101, 3, tif=FOK)) == RejectReason.FOK_NOT_FILLED
    assert h.bal(2, "USDT") == (100_000, 0)
    ev = h.place(2, BUY, 102, 3, tif=FOK)
    assert of(ev, OrderUpdated)[-1].status == OrderStatus.FILLED


def test_fok_counts_only_liquidity_before_own_order(h: Harness) -> None:
    h.fund(1, base=10_000, quote=100_000)
    h.fund(3, base=10_000)
    h.place(3, SELL, 100, 2)
    h.place(1, SELL, 100, 2)
    h.place(3, SELL, 100, 5)
    assert rejected(h.place(1, BUY, 100, 3, tif=FOK)) == RejectReason.FOK_NOT_FILLED


def test_market_buy_fok_limited_by_funds(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=2_500)
    h.place(1, SELL, 100, 5)
    assert rejected(h.place(2, BUY, 0, 3, type=MARKET, tif=FOK)) == RejectReason.FOK_NOT_FILLED
    ev = h.place(2, BUY, 0, 2, type=MARKET, tif=FOK)
    assert of(ev, OrderUpdated)[-1].status == OrderStatus.FILLED


def test_post_only_rejected_when_it_would_take(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 2)
    assert rejected(h.place(2, BUY, 100, 1, post_only=True)) == (RejectReason.POST_ONLY_WOULD_TAKE)
    ev = h.place(2, BUY, 99, 1, post_only=True)
    assert of(ev, OrderAccepted)[0].post_only is True
    assert h.eng.depth_snapshot(SYM, 5)[:2] == ([(99, 1)], [(100, 2)])


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("price", "qty", "reason"),
    [
        (100, 0, RejectReason.INVALID_QUANTITY),
        (100, -1, RejectReason.INVALID_QUANTITY),
        (0, 1, RejectReason.INVALID_PRICE),
        (-5, 1, RejectReason.INVALID_PRICE),
        (100, 1001, RejectReason.MAX_QUANTITY),
        (4, 1, RejectReason.MIN_NOTIONAL),  # 4*1*10 = 40 < 50
    ],
)
def test_order_validation(h: Harness, price: int, qty: int, reason: RejectReason) -> None:
    h.fund(1, quote=10**9)
    assert rejected(h.place(1, BUY, price, qty)) == reason


def test_min_notional_is_inclusive(h: Harness) -> None:
    h.fund(1, quote=1_000)
    assert of(h.place(1, BUY, 5, 1), OrderAccepted)  # 5*1*10 = 50 == min_notional


def test_min_quantity() -> None:
    h = Harness(dataclasses.replace(RULES, min_quantity=3))
    h.fund(1, quote=10**6)
    assert rejected(h.place(1, BUY, 100, 2)) == RejectReason.MIN_QUANTITY
    assert of(h.place(1, BUY, 100, 3), OrderAccepted)


def test_max_price_is_inclusive() -> None:
    h = Harness(dataclasses.replace(RULES, max_price=500))
    h.fund(1, quote=10**9)
    assert rejected(h.place(1, BUY, 501, 1)) == RejectReason.MAX_PRICE
    assert of(h.place(1, BUY, 500, 1), OrderAccepted)


def test_market_orders_skip_notional_check(h: Harness) -> None:
    h.fund(1, base=1)  # less than one lot: irrelevant for an empty-book market buy
    assert of(h.place(1, BUY, 0, 1, type=MARKET), OrderAccepted)


def test_unknown_market_rejected(h: Harness) -> None:
    assert rejected(h.place(1, BUY, 100, 1, symbol="NOPE")) == RejectReason.UNKNOWN_MARKET


def test_validation_order_market_status_before_quantity(h: Harness) -> None:
    h.apply(SetMarketStatus("s", h.tick(), SYM, MarketStatus.HALTED))
    assert rejected(h.place(1, BUY, 0, 0)) == RejectReason.MARKET_HALTED


def test_insufficient_balance_for_limit_buy_and_sell(h: Harness) -> None:
    h.fund(1, base=499, quote=999)
    assert rejected(h.place(1, BUY, 100, 1)) == RejectReason.INSUFFICIENT_BALANCE
    assert rejected(h.place(1, SELL, 100, 5)) == RejectReason.INSUFFICIENT_BALANCE
    assert of(h.place(1, SELL, 100, 4), OrderAccepted)
    assert h.bal(1, "BTC") == (99, 400)


def test_duplicate_client_order_id_rejected_open_or_closed_within_the_window(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, quote=100_000)
    h.place(1, BUY, 100, 1, coid="x")
    dup = h.place(1, BUY, 99, 1, coid="x")
    assert rejected(dup) == RejectReason.DUPLICATE_CLIENT_ORDER_ID
    assert dup[0].order_id == 1  # the first order's id
    assert of(h.place(2, BUY, 99, 1, coid="x"), OrderAccepted)  # other user: fine
    h.cancel(1, 1)
    assert rejected(h.place(1, BUY, 99, 1, coid="x")) == RejectReason.DUPLICATE_CLIENT_ORDER_ID


def test_filled_order_keeps_its_client_order_id_taken(h: Harness) -> None:
    h.fund(1, base=10_000)
    h.fund(2, quote=100_000)
    h.place(1, SELL, 100, 1, coid="s")
    h.place(2, BUY, 100, 1)
    assert rejected(h.place(1, SELL, 100, 1, coid="s")) == RejectReason.DUPLICATE_CLIENT_ORDER_ID


# ----------------------------------------------------------------- market status


def test_halted_market_rejects_orders_and_cancels(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.place(1, BUY, 100, 1)
    ev = h.apply(SetMarketStatus("s", h.tick(), SYM, MarketStatus.HALTED))
    assert ev == [MarketChanged(ev[0].seq, dataclasses.replace(RULES, status="halted"))]
    assert h.eng.markets[SYM].status == MarketStatus.HALTED
    assert rejected(h.place(1, BUY, 100, 1)) == RejectReason.MARKET_HALTED
    assert rejected(h.cancel(1, 1)) == RejectReason.MARKET_HALTED
    assert h.apply(CancelAll("c", h.tick(), 1, None)) == []
    assert h.eng.get_order(1) is not None  # orders stay on the book


def test_cancel_only_market_allows_cancel(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.place(1, BUY, 100, 1)
    h.apply(SetMarketStatus("s", h.tick(), SYM, MarketStatus.CANCEL_ONLY))
    assert rejected(h.place(1, BUY, 100, 1)) == RejectReason.MARKET_CANCEL_ONLY
    ev = h.cancel(1, 1)
    assert ev[0].status == OrderStatus.CANCELLED
    assert h.bal(1, "USDT") == (10_000, 0)


def test_add_existing_market_rejected(h: Harness) -> None:
    assert rejected(h.apply(AddMarket("a", h.tick(), RULES))) == RejectReason.MARKET_EXISTS


def test_set_status_of_unknown_market_rejected(h: Harness) -> None:
    ev = h.apply(SetMarketStatus("s", h.tick(), "NOPE", MarketStatus.HALTED))
    assert ev == [CommandRejected(ev[0].seq, 0, RejectReason.UNKNOWN_MARKET)]


# ----------------------------------------------------------------- cancels


def test_cancel_unlocks_and_emits_update_balance_depth(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.place(1, BUY, 100, 3)
    h.place(1, BUY, 100, 2)
    ev = h.cancel(1, 1)
    seq, ts = ev[0].seq, h.ts
    assert ev == [
        OrderUpdated(seq, 1, 1, SYM, BUY, LIMIT, GTC, False, 100, 3, 0, 0,
                     OrderStatus.CANCELLED, None, ts - 2, ts),
        BalanceChanged(seq, 1, "USDT", 8_000, 2_000),
        DepthChanged(seq, SYM, BUY, 100, 2, 3),
    ]  # fmt: skip


def test_cancel_of_unknown_order_rejected(h: Harness) -> None:
    assert rejected(h.cancel(1, 12345)) == RejectReason.UNKNOWN_ORDER


def test_cancel_of_other_users_order_is_unknown_order(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.place(1, BUY, 100, 1)
    assert rejected(h.cancel(2, 1)) == RejectReason.UNKNOWN_ORDER
    assert h.eng.get_order(1) is not None


def test_cancel_of_filled_order_is_unknown_order(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.fund(2, base=10_000)
    h.place(1, BUY, 100, 1)
    h.place(2, SELL, 100, 1)
    assert rejected(h.cancel(1, 1)) == RejectReason.UNKNOWN_ORDER


def test_cancel_all_cancels_every_open_order_of_the_user(h: Harness) -> None:
    other = dataclasses.replace(RULES, symbol="ETH-USDT", base="ETH")
    h.apply(AddMarket("a", h.tick(), other))
    h.fund(1, base=10_000, quote=100_000)
    h.apply(Deposit("d", h.tick(), 1, "ETH", 10_000))
    h.fund(2, quote=100_000)
    h.place(1, BUY, 100, 1)  # 1
    h.place(1, SELL, 110, 2)  # 2
    h.place(1, BUY, 100, 1, symbol="ETH-USDT")  # 3
    h.place(2, BUY, 100, 1)  # 4
    h.place(1, BUY, 100, 4)  # 5
    ev = h.apply(CancelAll("c", h.tick(), 1, SYM))
    assert [e.order_id for e in of(ev, OrderUpdated)] == [1, 2, 5]
    assert [(e.user_id, e.asset) for e in of(ev, BalanceChanged)] == [(1, "USDT"), (1, "BTC")]
    assert [(d.side, d.price, d.quantity, d.depth_seq) for d in of(ev, DepthChanged)] == [
        (BUY, 100, 1, 5),
        (SELL, 110, 0, 5),
    ]
    assert [o.order_id for o in h.eng.open_orders_of(1)] == [3]
    ev = h.apply(CancelAll("c", h.tick(), 1, None))
    assert [e.order_id for e in of(ev, OrderUpdated)] == [3]
    assert h.apply(CancelAll("c", h.tick(), 1, None)) == []  # nothing open: no events


# ----------------------------------------------------------------- funds


def test_deposit_and_withdraw(h: Harness) -> None:
    ev = h.apply(Deposit("d", h.tick(), 1, "ANY-ASSET", 500))
    assert ev == [
        Deposited(ev[0].seq, 1, "ANY-ASSET", 500),
        BalanceChanged(ev[0].seq, 1, "ANY-ASSET", 500, 0),
    ]
    ev = h.apply(Withdraw("w", h.tick(), 1, "ANY-ASSET", 200))
    assert ev == [
        Withdrawn(ev[0].seq, 1, "ANY-ASSET", 200),
        BalanceChanged(ev[0].seq, 1, "ANY-ASSET", 300, 0),
    ]
    assert h.eng.net_deposits == {"ANY-ASSET": 300}


@pytest.mark.parametrize("amount", [0, -1])
def test_deposit_and_withdraw_reject_non_positive_amount(h: Harness, amount: int) -> None:
    assert (
        rejected(h.apply(Deposit("d", h.tick(), 1, "BTC", amount))) == RejectReason.INVALID_AMOUNT
    )
    assert (
        rejected(h.apply(Withdraw("w", h.tick(), 1, "BTC", amount))) == RejectReason.INVALID_AMOUNT
    )


def test_withdraw_cannot_touch_locked_funds(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.place(1, BUY, 100, 5)
    assert rejected(h.apply(Withdraw("w", h.tick(), 1, "USDT", 5_001))) == (
        RejectReason.INSUFFICIENT_BALANCE
    )
    assert of(h.apply(Withdraw("w", h.tick(), 1, "USDT", 5_000)), Withdrawn)
    assert h.eng.balances_of(1)["USDT"] == (0, 5_000)


# ----------------------------------------------------------------- depth


def test_depth_seq_is_consecutive_per_market(h: Harness) -> None:
    other = dataclasses.replace(RULES, symbol="ETH-USDT", base="ETH")
    h.apply(AddMarket("a", h.tick(), other))
    h.fund(1, base=10_000, quote=100_000)
    h.fund(2, base=10_000, quote=100_000)
    seen: dict[str, list[int]] = {SYM: [], "ETH-USDT": []}
    steps = [
        lambda: h.place(1, BUY, 100, 2),
        lambda: h.place(1, BUY, 100, 2, symbol="ETH-USDT"),
        lambda: h.place(1, SELL, 120, 2),
        lambda: h.place(2, SELL, 99, 3),  # takes bid 100, rests 1 at 99
        lambda: h.cancel(1, 3),
        lambda: h.place(2, BUY, 0, 1, type=MARKET),  # empty ask side: no depth change
        lambda: h.cancel(2, 4),
    ]
    for step in steps:
        ev = step()
        for sym in {d.symbol for d in of(ev, DepthChanged)}:
            ds = {d.depth_seq for d in of(ev, DepthChanged) if d.symbol == sym}
            assert len(ds) == 1
            seen[sym].append(ds.pop())
    assert seen[SYM] == [1, 2, 3, 4, 5]
    assert seen["ETH-USDT"] == [1]
    assert h.eng.depth_snapshot(SYM, 10)[2] == 5


def test_depth_snapshot_best_first_and_limited(h: Harness) -> None:
    h.fund(1, base=10_000, quote=100_000)
    for p in (95, 97, 96):
        h.place(1, BUY, p, 1)
    for p in (105, 103, 104):
        h.place(1, SELL, p, 2)
    h.place(1, SELL, 103, 1)
    assert h.eng.depth_snapshot(SYM, 2) == ([(97, 1), (96, 1)], [(103, 3), (104, 2)], 7)


# ----------------------------------------------------------------- recovery


def test_restore_rebuilds_the_same_state(h: Harness) -> None:
    h.fund(1, base=10_000, quote=100_000)
    h.fund(2, base=10_000, quote=100_000)
    h.place(1, BUY, 100, 3)
    h.place(1, BUY, 101, 3)
    h.place(2, SELL, 101, 1)
    h.place(2, SELL, 103, 4, coid="k")
    src = h.eng
    dst = Engine(fee_account=FEE, next_seq=src.next_seq, next_order_id=src.next_order_id,
                 next_trade_id=src.next_trade_id)  # fmt: skip
    dst.restore_market(src.markets[SYM])
    for uid, asset, avail, locked in src.iter_balances():
        dst.restore_balance(uid, asset, avail, locked)
    for o in src.iter_open_orders():
        dst.restore_order(
            Order(o.order_id, o.user_id, o.symbol, o.side, o.type, o.time_in_force, o.post_only,
                  o.price, o.quantity, o.filled_quantity, o.filled_quote, o.status,
                  o.client_order_id, o.created_ts, o.updated_ts)
        )  # fmt: skip
    dst.check_invariants()
    assert dst.depth_snapshot(SYM, 10)[:2] == src.depth_snapshot(SYM, 10)[:2]
    assert list(dst.iter_balances()) == list(src.iter_balances())
    assert dst.totals() == src.totals()
    assert rejected(
        dst.apply(PlaceOrder("p", 1, 2, SYM, SELL, LIMIT, GTC, 104, 1, False, "k"))
    ) == (RejectReason.DUPLICATE_CLIENT_ORDER_ID)


def test_check_invariants_detects_a_broken_lock(h: Harness) -> None:
    h.fund(1, quote=10_000)
    h.place(1, BUY, 100, 3)
    h.eng._accounts[1]["USDT"].locked += 1
    with pytest.raises(AssertionError, match="locked"):
        h.eng.check_invariants()
