"""The shard's limits: open orders per user and market (Configure, SetOrderLimit)."""

from __future__ import annotations

from engine_worker.core.commands import CancelAll, Configure, SetOrderLimit
from engine_worker.core.engine import CLIENT_ORDER_ID_RETENTION_DEFAULT, Engine
from engine_worker.core.events import LimitsChanged, OrderAccepted
from engine_worker.core.rules import MarketRules
from engine_worker.core.types import RejectReason

from .test_engine import BUY, FOK, IOC, MARKET, RULES, SELL, SYM, Harness, of, rejected

TOO_MANY = RejectReason.TOO_MANY_OPEN_ORDERS
OTHER = "ETH-USDT"


def limited(max_open_orders: int) -> Harness:
    h = Harness()
    h.apply(AddMarketOf(OTHER, h))
    ev = h.apply(Configure("g", h.tick(), max_open_orders, CLIENT_ORDER_ID_RETENTION_DEFAULT))
    assert ev == [LimitsChanged(ev[0].seq, None, max_open_orders)]
    h.fund(1, base=100_000, quote=10_000_000)
    h.fund(2, base=100_000, quote=10_000_000)
    return h


def AddMarketOf(symbol: str, h: Harness):
    from engine_worker.core.commands import AddMarket

    return AddMarket("r", h.tick(), MarketRules(**{**_fields(RULES), "symbol": symbol}))


def _fields(rules: MarketRules) -> dict:
    return {f: getattr(rules, f) for f in rules.__slots__}


def test_no_limit_until_configured() -> None:
    h = Harness()
    h.fund(1, quote=10_000_000)
    for i in range(50):
        assert of(h.place(1, BUY, 100 + i, 1), OrderAccepted)
    assert h.eng.max_open_orders == 0


def test_the_limit_counts_one_users_resting_orders_in_one_market() -> None:
    h = limited(3)
    for price in (100, 101, 102):
        assert of(h.place(1, BUY, price, 1), OrderAccepted)
    assert rejected(h.place(1, BUY, 103, 1)) == TOO_MANY
    assert rejected(h.place(1, SELL, 200, 1)) == TOO_MANY  # either side
    assert of(h.place(1, BUY, 100, 1, symbol=OTHER), OrderAccepted)  # another market
    assert of(h.place(2, BUY, 100, 1), OrderAccepted)  # another user
    # orders that cannot rest are not refused: IOC, FOK, market
    assert of(h.place(1, BUY, 90, 1, tif=IOC), OrderAccepted)
    assert of(h.place(2, SELL, 200, 1), OrderAccepted)
    assert of(h.place(1, BUY, 200, 1, tif=FOK), OrderAccepted)  # takes user 2's ask
    assert of(h.place(2, SELL, 200, 1), OrderAccepted)
    assert of(h.place(1, BUY, 0, 1, type=MARKET), OrderAccepted)
    assert len(h.eng.open_orders_of(1, SYM)) == 3


def test_a_fill_or_a_cancel_frees_room() -> None:
    h = limited(2)
    h.place(1, SELL, 200, 1)
    h.place(1, SELL, 201, 1)
    assert rejected(h.place(1, SELL, 202, 1)) == TOO_MANY
    h.place(2, BUY, 200, 1)  # fills the first: one left
    assert of(h.place(1, SELL, 202, 1), OrderAccepted)
    assert rejected(h.place(1, SELL, 203, 1)) == TOO_MANY
    h.cancel(1, h.eng.open_orders_of(1)[0].order_id)
    assert of(h.place(1, SELL, 203, 1), OrderAccepted)
    h.apply(CancelAll("x", h.tick(), 1, SYM))
    assert len(h.eng.open_orders_of(1)) == 0
    assert of(h.place(1, SELL, 204, 1), OrderAccepted)


def test_a_users_own_limit_replaces_the_default() -> None:
    h = limited(1)
    h.place(1, BUY, 100, 1)
    assert rejected(h.place(1, BUY, 101, 1)) == TOO_MANY
    assert h.apply(SetOrderLimit("l", h.tick(), 1, 3)) == [LimitsChanged(h.eng.next_seq - 1, 1, 3)]
    assert of(h.place(1, BUY, 101, 1), OrderAccepted)
    assert of(h.place(1, BUY, 102, 1), OrderAccepted)
    assert rejected(h.place(1, BUY, 103, 1)) == TOO_MANY
    assert of(h.place(2, BUY, 100, 1), OrderAccepted)  # user 2: the default, 1
    assert rejected(h.place(2, BUY, 99, 1)) == TOO_MANY
    h.apply(SetOrderLimit("l", h.tick(), 1, None))  # back to the default
    assert h.eng.order_limits == {}
    assert rejected(h.place(1, BUY, 104, 1)) == TOO_MANY
    # lowering a limit under what rests cancels nothing: new orders wait for room
    assert len(h.eng.open_orders_of(1)) == 3


def test_bad_limits_are_refused_and_change_nothing() -> None:
    h = limited(5)
    assert rejected(h.apply(Configure("g", h.tick(), -1, 0))) == RejectReason.INVALID_LIMIT
    assert rejected(h.apply(Configure("g", h.tick(), 1, -1))) == RejectReason.INVALID_LIMIT
    assert rejected(h.apply(SetOrderLimit("l", h.tick(), 1, 0))) == RejectReason.INVALID_LIMIT
    assert (h.eng.max_open_orders, h.eng.order_limits) == (5, {})


def test_limits_are_part_of_the_replayed_state() -> None:
    """The same commands give the same refusals: the limits are in the command stream."""
    runs = []
    for _ in range(2):
        h = limited(2)
        h.apply(SetOrderLimit("l", h.tick(), 2, 4))
        out = [
            type(h.place(user, BUY, 100 + i, 1)[0]).__name__ for i in range(5) for user in (1, 2)
        ]
        runs.append(out)
    assert runs[0] == runs[1]
    assert runs[0].count("OrderRejected") == 3 + 1


def test_restored_orders_count_against_the_limit() -> None:
    h = limited(2)
    h.place(1, BUY, 100, 1)
    h.place(1, BUY, 101, 1)
    dst = Engine(fee_account=h.eng.fee_account, next_seq=h.eng.next_seq)
    for rules in h.eng.markets.values():
        dst.restore_market(rules)
    for uid, asset, avail, locked in h.eng.iter_balances():
        dst.restore_balance(uid, asset, avail, locked)
    for o in h.eng.iter_open_orders():
        o.prev = o.next = None
        dst.restore_order(o)
    dst.max_open_orders = 2
    dst.check_invariants()
    assert dst._books[SYM].open_by_user == {1: 2}
