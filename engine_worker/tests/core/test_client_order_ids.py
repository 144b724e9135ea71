"""A client_order_id stays taken for the retention window after its order was placed,
whether that order is open, filled, cancelled or expired (a client's resend after a
timeout must not trade twice)."""

from __future__ import annotations

from engine_worker.core.commands import Configure, PlaceOrder
from engine_worker.core.engine import COID_HORIZON_NONE, Engine
from engine_worker.core.events import OrderAccepted, OrderUpdated
from engine_worker.core.types import OrderStatus, OrderType, RejectReason, TimeInForce

from .test_engine import BUY, FOK, IOC, SELL, SYM, Harness, of, rejected

DUP = RejectReason.DUPLICATE_CLIENT_ORDER_ID
WINDOW = 1_000  # ms


def windowed() -> Harness:
    h = Harness()
    h.apply(Configure("g", h.tick(), 0, WINDOW))
    h.fund(1, base=100_000, quote=10_000_000)
    h.fund(2, base=100_000, quote=10_000_000)
    return h


def status_of(events: list, order_id: int) -> OrderStatus:
    return [e for e in events if isinstance(e, OrderUpdated) and e.order_id == order_id][-1].status


def test_a_filled_ioc_keeps_its_client_order_id_and_the_resend_changes_nothing() -> None:
    h = windowed()
    h.place(2, SELL, 100, 5)
    first = h.place(1, BUY, 100, 2, tif=IOC, coid="retry-1")
    order_id = of(first, OrderAccepted)[0].order_id
    assert status_of(first, order_id) == OrderStatus.FILLED
    before = (h.bal(1, "BTC"), h.bal(1, "USDT"), h.bal(2, "BTC"), h.bal(2, "USDT"))
    again = h.place(1, BUY, 100, 2, tif=IOC, coid="retry-1")
    assert rejected(again) == DUP
    assert again[0].order_id == order_id
    assert (h.bal(1, "BTC"), h.bal(1, "USDT"), h.bal(2, "BTC"), h.bal(2, "USDT")) == before
    assert h.eng.depth_snapshot(SYM, 5)[1] == [(100, 3)]  # the maker's rest untouched


def test_expired_and_cancelled_orders_keep_their_client_order_ids() -> None:
    h = windowed()
    h.place(1, BUY, 90, 1, tif=IOC, coid="e")  # nothing to take: expires
    assert rejected(h.place(1, BUY, 90, 1, coid="e")) == DUP
    h.place(1, BUY, 91, 1, coid="c")
    h.cancel(1, h.eng.open_orders_of(1)[0].order_id)
    assert rejected(h.place(1, BUY, 91, 1, coid="c")) == DUP


def test_a_refused_order_does_not_take_its_client_order_id() -> None:
    h = windowed()
    assert rejected(h.place(1, BUY, 100, 1, tif=FOK, coid="f")) == RejectReason.FOK_NOT_FILLED
    assert of(h.place(1, BUY, 100, 1, coid="f"), OrderAccepted)


def test_after_the_window_the_client_order_id_is_free_again() -> None:
    h = windowed()
    h.place(1, BUY, 90, 1, tif=IOC, coid="w")
    placed = h.ts
    h.ts = placed + WINDOW - 2  # the next place is at placed + WINDOW - 1: still inside
    assert rejected(h.place(1, BUY, 90, 1, tif=IOC, coid="w")) == DUP
    h.ts = placed + WINDOW - 1  # the next place is WINDOW after the first: outside
    assert of(h.place(1, BUY, 90, 1, tif=IOC, coid="w"), OrderAccepted)
    assert rejected(h.place(1, BUY, 90, 1, tif=IOC, coid="w")) == DUP  # and taken anew


def test_an_open_order_keeps_its_client_order_id_past_the_window() -> None:
    h = windowed()
    h.place(1, BUY, 90, 1, coid="o")
    h.ts += 10 * WINDOW
    assert rejected(h.place(1, BUY, 90, 1, coid="o")) == DUP


def test_the_window_forgets_old_ids_so_memory_stays_bounded() -> None:
    h = windowed()
    for i in range(50):
        h.place(1, BUY, 90, 1, tif=IOC, coid=f"k{i}")
    assert len(h.eng._recent_coids) == 50
    h.ts += WINDOW
    h.place(1, BUY, 90, 1, tif=IOC, coid="late")
    assert set(h.eng._recent_coids) == {(1, "late")}
    assert len(h.eng._coid_heap) == 1


def test_restored_client_order_ids_refuse_like_the_original() -> None:
    h = windowed()
    h.place(1, BUY, 90, 1, tif=IOC, coid="a")
    h.ts += WINDOW // 2
    h.place(1, BUY, 90, 1, tif=IOC, coid="b")
    h.ts += WINDOW // 2 + 1  # "a" now outside the window, "b" inside
    src = h.eng
    dst = Engine(fee_account=src.fee_account, next_seq=src.next_seq,
                 next_order_id=src.next_order_id)  # fmt: skip
    for rules in src.markets.values():
        dst.restore_market(rules)
    for uid, asset, avail, locked in src.iter_balances():
        dst.restore_balance(uid, asset, avail, locked)
    dst.coid_retention = src.coid_retention
    assert dst.coid_horizon == COID_HORIZON_NONE
    dst.coid_horizon = src.coid_horizon
    for (uid, coid), (order_id, ts) in sorted(src._recent_coids.items()):
        dst.restore_client_order_id(uid, coid, order_id, ts)
    dst.check_invariants()
    for eng in (src, dst):
        ts = h.tick()

        def place(coid: str, eng: Engine = eng, ts: int = ts) -> list:
            return eng.apply(
                PlaceOrder("p", ts, 1, SYM, BUY, OrderType.LIMIT, TimeInForce.IOC, 90, 1,
                           False, coid)
            )  # fmt: skip

        assert rejected(place("b")) == DUP
        assert of(place("a"), OrderAccepted)
