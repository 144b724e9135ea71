"""Stop orders, OCO lists and amends, one rule per test (the market of test_engine.py:
1 lot = 100 base units, 1 tick x 1 lot = 10 quote units, maker 1%, taker 2%)."""

from __future__ import annotations

import dataclasses

import pytest

from engine_worker.core.book import Order, new_order
from engine_worker.core.commands import (
    AmendOrder,
    CancelAll,
    Configure,
    Deposit,
    PlaceOrder,
    PlaceOrderList,
    SetMarketStatus,
)
from engine_worker.core.engine import CLIENT_ORDER_ID_RETENTION_DEFAULT, Engine
from engine_worker.core.events import (
    BalanceChanged,
    DepthChanged,
    Event,
    OrderAccepted,
    OrderTriggered,
    OrderUpdated,
    Trade,
)
from engine_worker.core.stops import STOP_MARKET_MARGIN_BPS, stop_market_budget
from engine_worker.core.types import (
    MarketStatus,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)

from .test_engine import BUY, FEE, GTC, IOC, RULES, SELL, SYM, Harness, of, rejected

STOP_LIMIT, STOP_MARKET = OrderType.STOP_LIMIT, OrderType.STOP_MARKET
FOK = TimeInForce.FOK
R = RejectReason
S = OrderStatus


@pytest.fixture
def h() -> Harness:
    return Harness()


def stop(
    h: Harness,
    user: int,
    side: Side,
    stop_price: int,
    qty: int,
    price: int = 0,
    *,
    tif: TimeInForce = GTC,
    post_only: bool = False,
    coid: str | None = None,
) -> list[Event]:
    """A stop-limit at ``price``, or a stop-market if ``price`` is 0."""
    otype = STOP_LIMIT if price else STOP_MARKET
    return h.apply(
        PlaceOrder(
            "s", h.tick(), user, SYM, side, otype, tif, price, qty, post_only, coid, stop_price
        )  # fmt: skip
    )


def oco(
    h: Harness, user: int, side: Side, qty: int, price: int, stop_price: int,
    stop_limit_price: int | None = None,
) -> list[Event]:  # fmt: skip
    return h.apply(
        PlaceOrderList("o", h.tick(), user, SYM, side, qty, price, stop_price, stop_limit_price)
    )


def amend(h: Harness, user: int, order_id: int, qty: int | None = None,
          price: int | None = None) -> list[Event]:  # fmt: skip
    return h.apply(AmendOrder("m", h.tick(), user, order_id, qty, price))


def trade_at(h: Harness, price: int, qty: int = 1, *, on_bid: bool = False) -> list[Event]:
    """A trade at ``price`` (the stops it triggers may trade on): user 8 rests an ask there
    and user 9 takes it, or (``on_bid``) 9 rests a bid and 8 sells into it."""
    h.fund(8, base=qty * 100)
    h.fund(9, quote=qty * price * 10)
    if on_bid:
        h.place(9, BUY, price, qty)
        ev = h.place(8, SELL, price, qty)
    else:
        h.place(8, SELL, price, qty)
        ev = h.place(9, BUY, price, qty)
    assert of(ev, Trade)[0].price == price
    return ev


def status(h: Harness, order_id: int) -> S | None:
    o = h.eng.get_order(order_id)
    return None if o is None else o.status


def accepted_id(events: list[Event]) -> int:
    return of(events, OrderAccepted)[0].order_id


# ----------------------------------------------------------------- placing a stop


def test_a_stop_waits_pending_off_the_book_with_its_lock_taken(h: Harness) -> None:
    h.fund(1, base=1_000)
    trade_at(h, 100)
    ev = stop(h, 1, SELL, 95, 3, 94)
    seq, ts = ev[0].seq, h.ts
    oid = ev[0].order_id
    assert ev == [
        OrderAccepted(seq, oid, 1, SYM, SELL, STOP_LIMIT, GTC, False, 94, 3, 0, 0, S.PENDING,
                      None, ts, ts, stop_price=95),
        BalanceChanged(seq, 1, "BTC", 700, 300),
    ]  # fmt: skip
    assert h.eng.depth_snapshot(SYM, 5)[:2] == ([], [])  # not on the book
    assert [o.order_id for o in h.eng.open_orders_of(1)] == [oid]


def test_a_stop_market_buy_locks_its_budget(h: Harness) -> None:
    budget = stop_market_budget(3, 110, 10)
    assert budget == 3 * 110 * 10 * (10_000 + STOP_MARKET_MARGIN_BPS) // 10_000 == 3_465
    assert stop_market_budget(1, 1, 1) == 2  # 1.05 rounds up
    h.fund(1, quote=budget)
    trade_at(h, 100)
    ev = stop(h, 1, BUY, 110, 3)
    assert of(ev, OrderAccepted)[0].status == S.PENDING
    assert h.bal(1, "USDT") == (0, budget)
    h.cancel(1, ev[0].order_id)
    assert h.bal(1, "USDT") == (budget, 0)


def test_a_stop_market_buy_the_balance_cannot_budget_is_refused(h: Harness) -> None:
    h.fund(1, quote=3_464)
    assert rejected(stop(h, 1, BUY, 110, 3)) == R.INSUFFICIENT_BALANCE


@pytest.mark.parametrize(
    ("side", "stop_price", "allowed"),
    [(SELL, 100, False), (SELL, 101, False), (SELL, 99, True),
     (BUY, 100, False), (BUY, 99, False), (BUY, 101, True)],
)  # fmt: skip
def test_a_stop_that_would_trigger_at_once_is_refused(
    h: Harness, side: Side, stop_price: int, allowed: bool
) -> None:
    h.fund(1, base=10_000, quote=100_000)
    trade_at(h, 100)
    ev = stop(h, 1, side, stop_price, 1, 100)
    if allowed:
        assert of(ev, OrderAccepted)[0].status == S.PENDING
    else:
        assert rejected(ev) == R.STOP_WOULD_TRIGGER


def test_before_the_first_trade_any_stop_price_is_accepted(h: Harness) -> None:
    h.fund(1, base=10_000, quote=100_000)
    assert of(stop(h, 1, SELL, 500, 1, 500), OrderAccepted)
    assert of(stop(h, 1, BUY, 5, 1, 5), OrderAccepted)


@pytest.mark.parametrize(
    ("otype", "price", "stop_price", "qty", "reason"),
    [
        (STOP_LIMIT, 100, 0, 1, R.INVALID_STOP_PRICE),
        (STOP_LIMIT, 100, -3, 1, R.INVALID_STOP_PRICE),
        (STOP_MARKET, 0, 0, 1, R.INVALID_STOP_PRICE),
        (STOP_LIMIT, 0, 100, 1, R.INVALID_PRICE),
        (STOP_LIMIT, 100, 100, 0, R.INVALID_QUANTITY),
        (STOP_LIMIT, 100, 100, 1001, R.MAX_QUANTITY),
        (STOP_LIMIT, 4, 100, 1, R.MIN_NOTIONAL),  # the limit price: 40 < 50
        (STOP_MARKET, 0, 4, 1, R.MIN_NOTIONAL),  # a stop-market's stop price
    ],
)
def test_stop_validation(
    h: Harness, otype: OrderType, price: int, stop_price: int, qty: int, reason: R
) -> None:
    h.fund(1, base=10**6, quote=10**9)
    cmd = PlaceOrder("p", h.tick(), 1, SYM, BUY, otype, GTC, price, qty, False, None, stop_price)
    assert rejected(h.apply(cmd)) == reason


def test_stop_prices_past_the_maximum_are_refused() -> None:
    h = Harness(dataclasses.replace(RULES, max_price=500))
    h.fund(1, quote=10**9)
    assert rejected(stop(h, 1, BUY, 501, 1, 100)) == R.MAX_PRICE
    assert rejected(stop(h, 1, BUY, 400, 1, 501)) == R.MAX_PRICE
    assert of(stop(h, 1, BUY, 500, 1, 500), OrderAccepted)


def test_pending_stops_count_against_the_open_order_limit(h: Harness) -> None:
    h.apply(Configure("g", h.tick(), 2, CLIENT_ORDER_ID_RETENTION_DEFAULT))
    h.fund(1, base=10_000)
    stop(h, 1, SELL, 90, 1, 90, tif=IOC)  # whatever its time in force
    h.place(1, SELL, 120, 1)
    assert rejected(stop(h, 1, SELL, 80, 1, 80)) == R.TOO_MANY_OPEN_ORDERS


def test_a_stop_keeps_its_client_order_id_taken(h: Harness) -> None:
    h.fund(1, base=10_000)
    stop(h, 1, SELL, 90, 1, 90, coid="sl")
    assert rejected(h.place(1, SELL, 120, 1, coid="sl")) == R.DUPLICATE_CLIENT_ORDER_ID


# ----------------------------------------------------------------- triggers


def test_a_sell_stop_triggers_at_its_price_and_sells_as_a_limit_order(h: Harness) -> None:
    h.fund(1, base=1_000)
    h.fund(2, quote=100_000)
    trade_at(h, 100)
    placed = stop(h, 1, SELL, 95, 3, 94)[0]  # stop-loss: sell 3 at 94 once 95 trades
    sl = placed.order_id
    h.place(2, BUY, 94, 5)  # the bid the stop will sell into
    trade_at(h, 96)  # above the stop: nothing
    assert status(h, sl) == S.PENDING
    h.fund(7, base=100)
    h.place(7, SELL, 95, 1)  # rests: no trade, no trigger
    assert status(h, sl) == S.PENDING
    h.fund(6, quote=950)
    ev = h.place(6, BUY, 95, 1)  # trades at 95: the stop's price
    seq, ts = ev[0].seq, h.ts
    assert of(ev, OrderTriggered) == [
        OrderTriggered(seq, sl, 1, SYM, SELL, STOP_LIMIT, GTC, False, 94, 3, 0, 0, S.NEW, None,
                       placed.created_ts, ts, stop_price=95, trigger_price=95),
    ]  # fmt: skip
    assert [(t.price, t.quantity, t.taker_order_id) for t in of(ev, Trade)] == [
        (95, 1, ev[0].order_id),
        (94, 3, sl),
    ]
    final = of(ev, OrderUpdated)[-1]
    assert (final.order_id, final.status, final.filled_quantity) == (sl, S.FILLED, 3)
    assert status(h, sl) is None
    # user 1 sold 3 lots at 94 (2% taker fee in quote): 300 base gone, 2,820 - 56 quote in
    assert h.bal(1, "BTC") == (700, 0)
    assert h.bal(1, "USDT") == (2_820 - 56, 0)


def test_a_buy_stop_triggers_when_the_price_rises_to_it(h: Harness) -> None:
    h.fund(1, quote=100_000)
    trade_at(h, 100)
    bs = stop(h, 1, BUY, 105, 2, 107)[0].order_id
    assert h.bal(1, "USDT") == (100_000 - 2 * 107 * 10, 2 * 107 * 10)
    trade_at(h, 104)
    assert status(h, bs) == S.PENDING
    h.fund(3, base=10_000)
    h.place(3, SELL, 106, 5)
    trade_at(h, 105)  # reaches the stop: it buys 2 at 106 (price improvement on 107)
    assert status(h, bs) is None
    assert h.bal(1, "USDT") == (100_000 - 2 * 106 * 10, 0)
    assert h.bal(1, "BTC") == (200 - 4, 0)  # 2% taker fee in base


def test_a_triggered_stop_limit_rests_behind_orders_placed_before_its_trigger(
    h: Harness,
) -> None:
    h.fund(1, base=1_000)
    h.fund(2, base=1_000)
    trade_at(h, 100)
    sl = stop(h, 1, SELL, 98, 2, 99)[0].order_id  # placed first: sell at 99 once 98 trades
    later = h.place(2, SELL, 99, 2)[0].order_id  # placed after the stop, rests at 99
    trade_at(h, 98, on_bid=True)  # triggers: the stop rests at 99 behind "later"
    o = h.eng.get_order(sl)
    assert o is not None and o.status == S.NEW and o.priority > later
    assert o.priority < h.eng.next_order_id
    h.fund(5, quote=100_000)
    ev = h.place(5, BUY, 99, 3)
    assert [(t.maker_order_id, t.quantity) for t in of(ev, Trade)] == [(later, 2), (sl, 1)]


def test_a_stop_market_sell_triggers_into_a_market_sell(h: Harness) -> None:
    h.fund(1, base=1_000)
    h.fund(2, quote=100_000)
    trade_at(h, 100)
    sm = stop(h, 1, SELL, 95, 4)[0].order_id
    h.place(2, BUY, 93, 1)
    h.place(2, BUY, 90, 1)
    trade_at(h, 95)
    assert status(h, sm) is None  # sold 2 lots at 93 and 90; a market order's rest expires
    assert h.bal(1, "BTC") == (800, 0)


def test_a_triggered_stop_market_buy_spends_at_most_its_budget(h: Harness) -> None:
    budget = stop_market_budget(4, 100, 10)  # 4,200
    h.fund(1, quote=100_000)
    trade_at(h, 99)
    sm = stop(h, 1, BUY, 100, 4)[0].order_id
    h.fund(3, base=10_000)
    h.place(3, SELL, 101, 1)  # 1,010
    h.place(3, SELL, 104, 2)  # 1,040 each
    h.place(3, SELL, 120, 5)  # 1,200: the fourth lot would take it past the budget
    h.fund(8, base=100)
    h.fund(9, quote=1_000)
    h.place(8, SELL, 100, 1)
    ev = h.place(9, BUY, 100, 1)
    taken = [(t.price, t.quantity) for t in of(ev, Trade) if t.taker_order_id == sm]
    assert taken == [(101, 1), (104, 2)]  # 3,090; one more at 120 would make 4,290 > 4,200
    final = [e for e in of(ev, OrderUpdated) if e.order_id == sm][-1]
    assert (final.status, final.filled_quantity, final.filled_quote) == (S.EXPIRED, 3, 3_090)
    assert h.bal(1, "USDT") == (100_000 - 3_090, 0)  # the unspent budget back
    assert budget == 4_200


def test_one_trade_triggers_several_stops_in_price_then_placement_order(h: Harness) -> None:
    for u in (1, 2, 3):
        h.fund(u, base=1_000)
    trade_at(h, 100)
    a = stop(h, 1, SELL, 96, 1, 90)[0].order_id
    b = stop(h, 2, SELL, 98, 1, 90)[0].order_id
    c = stop(h, 3, SELL, 98, 1, 90)[0].order_id
    d = stop(h, 1, SELL, 97, 1, 90)[0].order_id
    e = stop(h, 2, SELL, 89, 1, 90)[0].order_id  # below every trade: stays
    h.fund(4, quote=100_000)
    h.place(4, BUY, 90, 10)  # bid they all sell into
    h.fund(8, base=100)
    h.fund(9, quote=100_000)
    h.place(8, SELL, 96, 1)
    ev = h.place(9, BUY, 96, 1)
    assert [t.order_id for t in of(ev, OrderTriggered)] == [b, c, d, a]
    assert [t.taker_order_id for t in of(ev, Trade)][1:] == [b, c, d, a]
    assert status(h, e) == S.PENDING


def test_at_the_first_trade_sell_stops_trigger_before_buy_stops(h: Harness) -> None:
    h.fund(1, base=1_000, quote=100_000)
    h.fund(2, base=1_000, quote=100_000)
    buy_stop = stop(h, 1, BUY, 95, 1, 120)[0].order_id
    sell_stop = stop(h, 2, SELL, 105, 1, 80)[0].order_id
    h.fund(3, quote=1_000)
    h.place(3, BUY, 100, 1)  # no ask yet: rests
    h.fund(4, base=100)
    ev = h.place(4, SELL, 100, 1)  # the market's first trade, at 100
    assert [t.order_id for t in of(ev, OrderTriggered)] == [sell_stop, buy_stop]


def test_a_cascade_runs_in_one_command(h: Harness) -> None:
    """Each triggered stop's trade moves the price down to the next stop: one trade
    triggers them all, one after another, in one command."""
    n = 2_000  # deep enough that recursion would overflow Python's stack
    h.fund(1, base=100 * n)
    h.fund(2, quote=10**9)
    trade_at(h, 10_000)
    stops = []
    for i in range(n):  # (straight to the engine: the harness checks invariants each time)
        p = 9_999 - i
        ev = h.eng.apply(PlaceOrder("s", h.tick(), 1, SYM, SELL, STOP_LIMIT, GTC, p - 1, 1,
                                    False, None, p))  # fmt: skip
        stops.append(ev[0].order_id)
        h.eng.apply(PlaceOrder("p", h.tick(), 2, SYM, BUY, OrderType.LIMIT, GTC, p - 1, 1))
    h.eng.check_invariants()
    h.fund(8, base=100)
    h.fund(9, quote=10**6)
    h.place(8, SELL, 9_999, 1)
    ev = h.place(9, BUY, 9_999, 1)  # trades at 9,999: the first stop
    assert [t.order_id for t in of(ev, OrderTriggered)] == stops
    assert [t.price for t in of(ev, Trade)] == [9_999 - i for i in range(n + 1)]
    assert all(status(h, s) is None for s in stops)
    assert h.eng.last_price(SYM) == 9_999 - n
    # one BalanceChanged per account and one DepthChanged per level, final values
    assert len({(b.user_id, b.asset) for b in of(ev, BalanceChanged)}) == len(
        of(ev, BalanceChanged)
    )
    assert {d.depth_seq for d in of(ev, DepthChanged)} == {h.eng.depth_seq(SYM)}


def test_a_cascade_through_a_triggered_stop_market_buy(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, quote=100_000)
    h.fund(3, base=10_000)
    trade_at(h, 100)
    first = stop(h, 1, BUY, 101, 2)[0].order_id  # market buy of 2 once 101 trades
    second = stop(h, 2, BUY, 103, 1, 110)[0].order_id  # limit buy at 110 once 103 trades
    h.place(3, SELL, 102, 1)
    h.place(3, SELL, 103, 1)
    h.place(3, SELL, 105, 1)
    h.fund(8, base=100)
    h.fund(9, quote=10_000)
    h.place(8, SELL, 101, 1)
    ev = h.place(9, BUY, 101, 1)
    assert [t.order_id for t in of(ev, OrderTriggered)] == [first, second]
    assert [(t.taker_order_id, t.price) for t in of(ev, Trade)] == [
        (of(ev, OrderAccepted)[0].order_id, 101),
        (first, 102),
        (first, 103),
        (second, 105),
    ]


def test_a_triggered_post_only_stop_that_would_take_expires(h: Harness) -> None:
    h.fund(1, base=1_000)
    h.fund(2, quote=100_000)
    trade_at(h, 100)
    sl = stop(h, 1, SELL, 95, 1, 94, post_only=True)[0].order_id
    h.place(2, BUY, 94, 1)
    trade_at(h, 95)
    assert status(h, sl) is None
    assert h.bal(1, "BTC") == (1_000, 0)


def test_a_triggered_fok_stop_that_cannot_fill_expires(h: Harness) -> None:
    h.fund(1, base=1_000)
    h.fund(2, quote=100_000)
    trade_at(h, 100)
    sl = stop(h, 1, SELL, 95, 3, 94, tif=FOK)[0].order_id
    h.place(2, BUY, 94, 2)
    trade_at(h, 95)
    assert status(h, sl) is None
    assert h.bal(1, "BTC") == (1_000, 0)
    assert h.eng.depth_snapshot(SYM, 5)[0] == [(94, 2)]  # untouched


def test_stops_do_not_trigger_on_a_halted_market_and_cancel_all_cancels_them(
    h: Harness,
) -> None:
    h.fund(1, base=1_000, quote=100_000)
    trade_at(h, 100)
    a = stop(h, 1, SELL, 90, 2, 90)[0].order_id
    b = stop(h, 1, BUY, 110, 1)[0].order_id
    c = h.place(1, SELL, 130, 1)[0].order_id
    h.apply(SetMarketStatus("s", h.tick(), SYM, MarketStatus.HALTED))
    assert h.apply(CancelAll("x", h.tick(), 1, SYM)) == []
    h.apply(SetMarketStatus("s", h.tick(), SYM, MarketStatus.TRADING))
    ev = h.apply(CancelAll("x", h.tick(), 1, SYM))
    assert [(u.order_id, u.status) for u in of(ev, OrderUpdated)] == [
        (a, S.CANCELLED), (b, S.CANCELLED), (c, S.CANCELLED),
    ]  # fmt: skip
    assert [(d.side, d.price, d.quantity) for d in of(ev, DepthChanged)] == [(SELL, 130, 0)]
    assert h.bal(1, "BTC") == (1_000, 0) and h.bal(1, "USDT") == (100_000, 0)
    assert h.eng.open_orders_of(1) == []


def test_cancel_all_of_stops_only_leaves_depth_alone(h: Harness) -> None:
    h.fund(1, base=1_000)
    stop(h, 1, SELL, 90, 2, 90)
    before = h.eng.depth_seq(SYM)
    ev = h.apply(CancelAll("x", h.tick(), 1, None))
    assert [type(e) for e in ev] == [OrderUpdated, BalanceChanged]
    assert h.eng.depth_seq(SYM) == before


# ----------------------------------------------------------------- OCO


def test_an_oco_sell_locks_its_quantity_once_and_rests_its_limit_order(h: Harness) -> None:
    h.fund(1, base=500)
    trade_at(h, 100)
    ev = oco(h, 1, SELL, 5, 110, 95, 94)  # take profit at 110, stop-loss at 95
    seq, ts = ev[0].seq, h.ts
    lid = ev[0].order_id
    assert ev == [
        OrderAccepted(seq, lid, 1, SYM, SELL, OrderType.LIMIT, GTC, True, 110, 5, 0, 0, S.NEW,
                      None, ts, ts, order_list_id=lid),
        OrderAccepted(seq, lid + 1, 1, SYM, SELL, STOP_LIMIT, GTC, False, 94, 5, 0, 0,
                      S.PENDING, None, ts, ts, stop_price=95, order_list_id=lid),
        BalanceChanged(seq, 1, "BTC", 0, 500),
        DepthChanged(seq, SYM, SELL, 110, 5, h.eng.depth_seq(SYM)),
    ]  # fmt: skip
    assert h.eng.linked(lid).order_id == lid + 1  # type: ignore[union-attr]


def test_an_oco_buy_locks_the_larger_of_its_orders_needs(h: Harness) -> None:
    h.fund(1, quote=100_000)
    trade_at(h, 100)
    oco(h, 1, BUY, 5, 90, 105, 108)  # 5*90*10 = 4,500; 5*108*10 = 5,400
    assert h.bal(1, "USDT") == (100_000 - 5_400, 5_400)
    oco(h, 1, BUY, 1, 95, 110)  # stop-market: budget 1*110*10 + 5% = 1,155 > 950
    assert h.bal(1, "USDT") == (100_000 - 5_400 - 1_155, 5_400 + 1_155)


def test_an_oco_refuses_what_it_cannot_hold(h: Harness) -> None:
    h.fund(1, base=500, quote=100_000)
    h.fund(2, base=1_000)
    trade_at(h, 100)
    h.place(2, SELL, 104, 1)
    assert rejected(oco(h, 1, SELL, 5, 110, 112)) == R.INVALID_STOP_PRICE  # stop above
    assert rejected(oco(h, 1, BUY, 5, 90, 85)) == R.INVALID_STOP_PRICE  # stop below
    assert rejected(oco(h, 1, SELL, 5, 110, 100)) == R.STOP_WOULD_TRIGGER
    assert rejected(oco(h, 1, BUY, 1, 104, 106)) == R.POST_ONLY_WOULD_TAKE  # the limit takes
    assert rejected(oco(h, 1, SELL, 6, 110, 95)) == R.INSUFFICIENT_BALANCE
    assert rejected(oco(h, 1, SELL, 5, 110, 0)) == R.INVALID_STOP_PRICE
    assert rejected(oco(h, 1, SELL, 5, 110, 95, 0)) == R.INVALID_PRICE
    assert rejected(oco(h, 1, SELL, 0, 110, 95)) == R.INVALID_QUANTITY
    h.apply(Configure("g", h.tick(), 1, CLIENT_ORDER_ID_RETENTION_DEFAULT))
    assert rejected(oco(h, 1, SELL, 5, 110, 95)) == R.TOO_MANY_OPEN_ORDERS  # two orders
    assert h.bal(1, "BTC") == (500, 0)


def test_an_oco_limit_fill_cancels_its_stop_and_unlocks_the_excess(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, base=10_000)
    trade_at(h, 100)
    lid = oco(h, 1, BUY, 5, 90, 105, 108)[0].order_id
    ev = h.place(2, SELL, 90, 2)  # fills 2 of the limit order: a partial fill
    updates = {u.order_id: u.status for u in of(ev, OrderUpdated)}
    assert updates[lid] == S.PARTIALLY_FILLED and updates[lid + 1] == S.CANCELLED
    # paid 2*90*10 = 1,800; still locked 3*90*10 = 2,700 for the rest of the limit order
    assert h.bal(1, "USDT") == (100_000 - 1_800 - 2_700, 2_700)
    assert h.eng.linked(lid) is None
    h.apply(AmendOrder("m", h.tick(), 1, lid, 4, None))  # an ordinary order now
    assert h.bal(1, "USDT")[1] == 1_800


def test_an_oco_full_fill_of_the_limit_order(h: Harness) -> None:
    h.fund(1, base=500)
    h.fund(2, quote=100_000)
    trade_at(h, 100)
    lid = oco(h, 1, SELL, 5, 110, 95)[0].order_id  # stop-market leg
    h.place(2, BUY, 110, 5)
    assert status(h, lid) is None and status(h, lid + 1) is None
    assert h.bal(1, "BTC") == (0, 0)


def test_an_oco_stop_trigger_cancels_the_limit_order(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(3, base=10_000)
    trade_at(h, 100)
    lid = oco(h, 1, BUY, 5, 90, 105, 108)[0].order_id  # locks 5,400
    h.place(3, SELL, 107, 10)
    trade_at(h, 105)  # triggers the stop: it buys 5 at 107
    assert status(h, lid) is None and status(h, lid + 1) is None
    assert h.eng.depth_snapshot(SYM, 5)[0] == []  # the limit order left the book
    assert h.bal(1, "USDT") == (100_000 - 5 * 107 * 10, 0)


def test_an_oco_stop_trigger_events(h: Harness) -> None:
    h.fund(1, base=500)
    trade_at(h, 100)
    lid = oco(h, 1, SELL, 5, 110, 95, 94)[0].order_id
    h.fund(8, base=100)
    h.fund(9, quote=10_000)
    h.place(9, BUY, 95, 1)
    ev = h.place(8, SELL, 95, 1)  # trades at 95: triggers the stop; no bid left for it
    assert [(type(e).__name__, e.order_id, e.status) for e in ev
            if isinstance(e, OrderTriggered | OrderUpdated) and e.user_id == 1] == [
        ("OrderTriggered", lid + 1, S.NEW),
        ("OrderUpdated", lid, S.CANCELLED),
        ("OrderUpdated", lid + 1, S.NEW),
    ]  # fmt: skip
    o = h.eng.get_order(lid + 1)
    assert o is not None and h.eng.depth_snapshot(SYM, 5)[1] == [(94, 5)]
    assert h.bal(1, "BTC") == (0, 500)


def test_cancelling_either_order_of_an_oco_cancels_both(h: Harness) -> None:
    h.fund(1, quote=100_000)
    trade_at(h, 100)
    lid = oco(h, 1, BUY, 5, 90, 105, 108)[0].order_id
    ev = h.cancel(1, lid + 1)
    assert [(u.order_id, u.status) for u in of(ev, OrderUpdated)] == [
        (lid, S.CANCELLED), (lid + 1, S.CANCELLED),
    ]  # fmt: skip
    assert of(ev, BalanceChanged) == [BalanceChanged(ev[0].seq, 1, "USDT", 100_000, 0)]
    assert [(d.price, d.quantity) for d in of(ev, DepthChanged)] == [(90, 0)]
    lid = oco(h, 1, BUY, 5, 90, 105, 108)[0].order_id
    ev = h.apply(CancelAll("x", h.tick(), 1, None))
    assert [u.order_id for u in of(ev, OrderUpdated)] == [lid, lid + 1]
    assert h.bal(1, "USDT") == (100_000, 0)


def test_orders_of_a_linked_oco_cannot_be_amended(h: Harness) -> None:
    h.fund(1, base=500)
    lid = oco(h, 1, SELL, 5, 110, 95)[0].order_id
    assert rejected(amend(h, 1, lid, 3)) == R.ORDER_IN_LIST
    assert rejected(amend(h, 1, lid + 1, 3)) == R.ORDER_IN_LIST


# ----------------------------------------------------------------- amend


def queue_at(h: Harness, side: Side, price: int) -> list[int]:
    book = h.eng._books[SYM]
    lvl = (book.bids if side == BUY else book.asks).get(price)
    return [] if lvl is None else [o.order_id for o in lvl]


def test_reducing_the_quantity_keeps_the_place_in_the_queue(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, quote=100_000)
    a = h.place(1, BUY, 100, 5)[0].order_id
    b = h.place(2, BUY, 100, 5)[0].order_id
    ev = amend(h, 1, a, 2)
    seq = ev[0].seq
    assert ev == [
        OrderUpdated(seq, a, 1, SYM, BUY, OrderType.LIMIT, GTC, False, 100, 2, 0, 0, S.NEW,
                     None, h.ts - 2, h.ts),
        BalanceChanged(seq, 1, "USDT", 98_000, 2_000),
        DepthChanged(seq, SYM, BUY, 100, 7, h.eng.depth_seq(SYM)),
    ]  # fmt: skip
    assert queue_at(h, BUY, 100) == [a, b]


def test_increasing_the_quantity_requeues_and_locks_more(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, quote=100_000)
    a = h.place(1, BUY, 100, 5)[0].order_id
    b = h.place(2, BUY, 100, 5)[0].order_id
    ev = amend(h, 1, a, 8)
    (u,) = of(ev, OrderUpdated)
    assert (u.quantity, u.status) == (8, S.NEW)
    o = h.eng.get_order(a)
    assert o is not None and o.priority > b
    assert queue_at(h, BUY, 100) == [b, a]
    assert h.bal(1, "USDT") == (92_000, 8_000)
    assert [(d.price, d.quantity) for d in of(ev, DepthChanged)] == [(100, 13)]


def test_an_increase_the_balance_cannot_cover_is_refused_and_changes_nothing(
    h: Harness,
) -> None:
    h.fund(1, quote=5_000)
    a = h.place(1, BUY, 100, 5)[0].order_id
    assert rejected(amend(h, 1, a, 6)) == R.INSUFFICIENT_BALANCE
    assert rejected(amend(h, 1, a, None, 101)) == R.INSUFFICIENT_BALANCE
    o = h.eng.get_order(a)
    assert o is not None and (o.quantity, o.price) == (5, 100)
    assert h.bal(1, "USDT") == (0, 5_000)


def test_a_new_price_requeues_and_the_lock_follows(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, quote=100_000)
    a = h.place(1, BUY, 100, 5)[0].order_id
    b = h.place(2, BUY, 99, 1)[0].order_id
    ev = amend(h, 1, a, None, 99)
    assert queue_at(h, BUY, 99) == [b, a] and queue_at(h, BUY, 100) == []
    assert h.bal(1, "USDT") == (100_000 - 4_950, 4_950)
    assert [(d.price, d.quantity) for d in of(ev, DepthChanged)] == [(100, 0), (99, 6)]


def test_an_amended_price_that_crosses_takes_then_rests(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, base=10_000)
    a = h.place(1, BUY, 95, 5)[0].order_id
    h.place(2, SELL, 100, 2)
    ev = amend(h, 1, a, None, 101)
    assert [(t.price, t.quantity, t.taker_order_id) for t in of(ev, Trade)] == [(100, 2, a)]
    o = h.eng.get_order(a)
    assert o is not None and (o.status, o.filled_quantity, o.price) == (S.PARTIALLY_FILLED, 2, 101)
    assert h.bal(1, "USDT") == (100_000 - 2_000 - 3 * 101 * 10, 3 * 101 * 10)


def test_amend_reductions_of_a_partly_filled_order(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, base=10_000)
    a = h.place(1, BUY, 100, 5)[0].order_id
    h.place(2, SELL, 100, 2)
    assert rejected(amend(h, 1, a, 2)) == R.INVALID_QUANTITY  # not above what filled
    assert rejected(amend(h, 1, a, 0)) == R.INVALID_QUANTITY
    ev = amend(h, 1, a, 3)
    assert of(ev, OrderUpdated)[0].status == S.PARTIALLY_FILLED
    assert h.bal(1, "USDT") == (100_000 - 2_000 - 1_000, 1_000)


def test_a_post_only_order_amended_to_cross_is_refused(h: Harness) -> None:
    h.fund(1, quote=100_000)
    h.fund(2, base=10_000)
    a = h.place(1, BUY, 95, 5, post_only=True)[0].order_id
    h.place(2, SELL, 100, 2)
    assert rejected(amend(h, 1, a, None, 100)) == R.POST_ONLY_WOULD_TAKE
    assert of(amend(h, 1, a, None, 99), OrderUpdated)


def test_amending_a_pending_stop_changes_it_and_its_lock(h: Harness) -> None:
    h.fund(1, quote=100_000)
    trade_at(h, 100)
    sl = stop(h, 1, BUY, 105, 2, 107)[0].order_id
    amend(h, 1, sl, 3, 108)
    o = h.eng.get_order(sl)
    assert o is not None and (o.status, o.quantity, o.price, o.stop_price) == (
        S.PENDING, 3, 108, 105,
    )  # fmt: skip
    assert h.bal(1, "USDT") == (100_000 - 3_240, 3_240)
    sm = stop(h, 1, BUY, 105, 2)[0].order_id
    assert rejected(amend(h, 1, sm, None, 100)) == R.INVALID_PRICE  # no limit price
    amend(h, 1, sm, 1)
    assert h.bal(1, "USDT")[1] == 3_240 + stop_market_budget(1, 105, 10)


def test_amend_refusals(h: Harness) -> None:
    h.fund(1, quote=100_000)
    a = h.place(1, BUY, 100, 5)[0].order_id
    assert rejected(amend(h, 2, a, 3)) == R.UNKNOWN_ORDER  # someone else's
    assert rejected(amend(h, 1, 9_999, 3)) == R.UNKNOWN_ORDER
    assert rejected(amend(h, 1, a, None, 0)) == R.INVALID_PRICE
    assert rejected(amend(h, 1, a, 1001)) == R.MAX_QUANTITY
    assert rejected(amend(h, 1, a, 1, 4)) == R.MIN_NOTIONAL
    h.apply(SetMarketStatus("s", h.tick(), SYM, MarketStatus.CANCEL_ONLY))
    assert rejected(amend(h, 1, a, 3)) == R.MARKET_CANCEL_ONLY


# ----------------------------------------------------------------- restore


def test_restore_keeps_pending_stops_lists_queues_and_the_last_price(h: Harness) -> None:
    h.fund(1, base=10_000, quote=100_000)
    h.fund(2, base=10_000, quote=100_000)
    trade_at(h, 100)
    stop(h, 1, SELL, 95, 2, 94)
    oco(h, 2, SELL, 3, 110, 96)
    first = h.place(1, SELL, 97, 1)[0].order_id
    h.place(2, SELL, 97, 1)
    amend(h, 1, first, 2)  # requeued behind user 2's order
    assert queue_at(h, SELL, 97) == [first + 1, first]

    def copy_of(src: Engine) -> Engine:
        dst = Engine(fee_account=FEE, next_seq=src.next_seq, next_order_id=src.next_order_id,
                     next_trade_id=src.next_trade_id)  # fmt: skip
        dst.restore_market(src.markets[SYM], src.depth_seq(SYM), src.last_price(SYM))
        for uid, asset, avail, locked in src.iter_balances():
            dst.restore_balance(uid, asset, avail, locked)
        rows = sorted(src.iter_open_orders(), key=lambda o: (o.status != S.PENDING, o.priority))
        for o in rows:
            dst.restore_order(
                new_order(o.order_id, o.user_id, o.symbol, o.side, o.type, o.time_in_force,
                          o.post_only, o.price, o.quantity, o.filled_quantity, o.filled_quote,
                          o.status, o.client_order_id, o.created_ts, o.updated_ts, o.priority,
                          o.stop_price, o.order_list_id)
            )  # fmt: skip
        for o in rows:
            other = src.linked(o.order_id)
            if other is not None and o.order_id < other.order_id:
                dst.restore_order_list(o.order_id, other.order_id)
        dst.check_invariants()
        return dst

    dst = copy_of(h.eng)
    # the same next commands give the same events in both
    ts = h.ts
    follow = [
        Deposit("d", ts, 3, "USDT", 100_000),
        Deposit("d", ts, 3, "BTC", 10_000),
        Deposit("d", ts, 4, "USDT", 100_000),
        PlaceOrder("p", ts + 1, 3, SYM, BUY, OrderType.MARKET, IOC, 0, 2),  # the 97s, in order
        PlaceOrder("p", ts + 2, 4, SYM, BUY, OrderType.LIMIT, GTC, 95, 5),
        PlaceOrder("p", ts + 3, 3, SYM, SELL, OrderType.LIMIT, GTC, 95, 5),  # triggers both
    ]
    got = [dst.apply(c) for c in follow]
    want = [h.eng.apply(c) for c in follow]
    assert got == want
    assert [t.order_id for t in of(want[-1], OrderTriggered)] == [first - 1, first - 3]
    assert list(dst.iter_balances()) == list(h.eng.iter_balances())
    dst.check_invariants()


def test_an_ordinary_order_reads_no_stop_price(h: Harness) -> None:
    h.fund(1, quote=10_000)
    cmd = PlaceOrder("p", h.tick(), 1, SYM, BUY, OrderType.LIMIT, GTC, 100, 1, False, None, 90)
    (acc,) = of(h.apply(cmd), OrderAccepted)
    assert (acc.stop_price, acc.status) == (0, S.NEW)
    o = h.eng.get_order(acc.order_id)
    assert o is not None and type(o) is Order and o.stop_price == 0
