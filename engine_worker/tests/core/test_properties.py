"""Property and differential tests over random command streams (hypothesis).

Few users, two markets sharing a quote asset, prices in a narrow band so orders cross
often, every order type (stops included) / time in force / post-only, OCO lists, amends,
cancels of real and bogus ids, cancel-all, deposits, withdrawals and market status changes.
Stop prices sit in the same band, so trades trigger stops and cascades often.

* properties: after every command ``check_invariants()`` holds (sorted, never crossed,
  level totals, locks == open orders' needs, no negative balance, per-asset totals ==
  deposits - withdrawals, fee account included), the events are consistent with the
  state they describe, and depth_seq is consecutive per market;
* differential: the simple matcher in ``reference.py`` run on the same stream gives the
  same outcome per command, the same trades, balances and open orders.
"""

from __future__ import annotations

import dataclasses
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from engine_worker.core.engine import Engine
from engine_worker.core.events import (
    BalanceChanged,
    CommandRejected,
    DepthChanged,
    Event,
    OrderAccepted,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
    Trade,
)
from engine_worker.core.rules import MarketRules
from engine_worker.core.types import (
    OPEN_STATUSES,
    MarketStatus,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

from .reference import ReferenceEngine, RefTrade

FEE = 50
USERS = [1, 2, 3]
MARKETS = [
    MarketRules("AQ", "A", "Q", base_per_lot=100, quote_per_tick_lot=3, min_quantity=1,
                max_quantity=12, min_notional=20, maker_fee_bps=100, taker_fee_bps=250),
    MarketRules("CQ", "C", "Q", base_per_lot=7, quote_per_tick_lot=1, min_quantity=2,
                max_quantity=40, min_notional=0, maker_fee_bps=0, taker_fee_bps=1000),
]  # fmt: skip
ASSETS = ["A", "C", "Q"]
SETUP: list[Command] = [AddMarket("m", 0, r) for r in MARKETS] + [
    Deposit("d", 0, u, a, amt) for u in USERS for a, amt in (("A", 2_000), ("C", 300), ("Q", 600))
]

users = st.sampled_from(USERS)
symbols = st.sampled_from(["AQ", "AQ", "CQ", "CQ", "ZZ"])

place = st.builds(
    PlaceOrder,
    request_id=st.just("p"),
    ts=st.integers(0, 10),
    user_id=users,
    symbol=symbols,
    side=st.sampled_from([Side.BUY, Side.SELL]),
    type=st.sampled_from(
        [OrderType.LIMIT] * 4 + [OrderType.MARKET, OrderType.STOP_LIMIT, OrderType.STOP_MARKET]
    ),
    time_in_force=st.sampled_from([TimeInForce.GTC] * 3 + [TimeInForce.IOC, TimeInForce.FOK]),
    price=st.one_of(st.integers(8, 14), st.integers(8, 14), st.integers(-1, 30)),
    quantity=st.one_of(st.integers(1, 8), st.integers(-1, 45)),
    post_only=st.sampled_from([False, False, False, True]),
    client_order_id=st.sampled_from([None, None, None, "a", "b"]),
    stop_price=st.one_of(st.just(0), st.integers(8, 14), st.integers(8, 14), st.integers(-1, 30)),
)
order_list = st.builds(
    PlaceOrderList,
    request_id=st.just("o"),
    ts=st.integers(0, 10),
    user_id=users,
    symbol=symbols,
    side=st.sampled_from([Side.BUY, Side.SELL]),
    quantity=st.one_of(st.integers(1, 8), st.integers(-1, 45)),
    price=st.one_of(st.integers(8, 14), st.integers(-1, 30)),
    stop_price=st.one_of(st.integers(8, 14), st.integers(-1, 30)),
    stop_limit_price=st.one_of(st.none(), st.integers(8, 14), st.integers(-1, 30)),
)
amend = st.builds(
    AmendOrder,
    request_id=st.just("m"),
    ts=st.integers(0, 10),
    user_id=users,
    order_id=st.integers(0, 40),
    quantity=st.one_of(st.none(), st.integers(-1, 12)),
    price=st.one_of(st.none(), st.integers(7, 15), st.integers(-1, 30)),
)
cancel = st.builds(CancelOrder, st.just("c"), st.integers(0, 10), users, st.integers(0, 40))
cancel_all = st.builds(CancelAll, st.just("x"), st.integers(0, 10), users,
                       st.sampled_from([None, "AQ", "CQ", "ZZ"]))  # fmt: skip
amount = st.one_of(st.integers(-5, 400), st.integers(1, 5_000))
deposit = st.builds(Deposit, st.just("d"), st.integers(0, 10), st.sampled_from([*USERS, FEE]),
                    st.sampled_from(ASSETS), amount)  # fmt: skip
withdraw = st.builds(Withdraw, st.just("w"), st.integers(0, 10), st.sampled_from([*USERS, FEE]),
                     st.sampled_from(ASSETS), amount)  # fmt: skip
status = st.builds(SetMarketStatus, st.just("s"), st.integers(0, 10), symbols,
                   st.sampled_from([MarketStatus.TRADING] * 2 + [MarketStatus.HALTED,
                                    MarketStatus.CANCEL_ONLY]))  # fmt: skip
add_again = st.builds(AddMarket, st.just("a"), st.integers(0, 10), st.sampled_from(MARKETS))
configure = st.builds(Configure, st.just("g"), st.integers(0, 10), st.integers(-1, 4),
                      st.integers(-1, 6))  # fmt: skip
order_limit = st.builds(SetOrderLimit, st.just("l"), st.integers(0, 10), users,
                        st.one_of(st.none(), st.integers(-1, 4)))  # fmt: skip

command = st.one_of(
    place, place, place, place, place, place, cancel, cancel, cancel_all,
    deposit, withdraw, status, add_again, configure, order_limit, order_list, amend, amend,
)  # fmt: skip
structured = st.lists(command, min_size=1, max_size=60)


def random_stream(seed: int, n: int) -> list[Command]:
    """A busy stream from a seed: hypothesis' own draws favour simple values (one user,
    one side) and rarely make trades, so most examples come from here."""
    rnd = random.Random(seed)
    out: list[Command] = []
    for ts in range(n):
        u = rnd.choice(USERS)
        r = rnd.random()
        if r < 0.62:
            kind = rnd.random()
            otype = (
                OrderType.MARKET
                if kind < 0.1
                else OrderType.STOP_LIMIT
                if kind < 0.22
                else OrderType.STOP_MARKET
                if kind < 0.28
                else OrderType.LIMIT
            )
            stop = otype in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET)
            out.append(
                PlaceOrder(
                    "p",
                    ts,
                    u,
                    rnd.choice(["AQ", "CQ", "AQ", "CQ", "ZZ"] if r < 0.02 else ["AQ", "CQ"]),
                    rnd.choice([Side.BUY, Side.SELL]),
                    otype,
                    rnd.choice([TimeInForce.GTC] * 3 + [TimeInForce.IOC, TimeInForce.FOK]),
                    rnd.randint(9, 13) if rnd.random() < 0.95 else rnd.randint(-1, 30),
                    rnd.randint(1, 8) if rnd.random() < 0.95 else rnd.randint(-1, 45),
                    rnd.random() < 0.1,
                    rnd.choice([None, None, None, None, "a", "b"]),
                    (rnd.randint(8, 14) if stop else 0)
                    if rnd.random() < 0.97
                    else rnd.randint(-1, 20),
                )
            )
        elif r < 0.66:
            side = rnd.choice([Side.BUY, Side.SELL])
            price = rnd.randint(8, 14)
            offset = rnd.randint(1, 4) if rnd.random() < 0.9 else rnd.randint(-2, 0)
            stop_at = price + offset if side == Side.BUY else price - offset
            out.append(
                PlaceOrderList(
                    "o",
                    ts,
                    u,
                    rnd.choice(["AQ", "CQ"]),
                    side,
                    rnd.randint(1, 8),
                    price,
                    stop_at,
                    rnd.choice([None, stop_at, stop_at + 1, stop_at - 1]),
                )
            )
        elif r < 0.72:
            out.append(
                AmendOrder(
                    "m",
                    ts,
                    u,
                    rnd.randint(int(ts * 0.2), int(ts * 0.5) + 2),  # about the open ids
                    rnd.choice([None, rnd.randint(1, 9), rnd.randint(-1, 12)]),
                    rnd.choice([None, None, rnd.randint(8, 14), rnd.randint(-1, 20)]),
                )
            )
        elif r < 0.84:
            out.append(CancelOrder("c", ts, u, rnd.randint(0, ts + 2)))
        elif r < 0.87:
            out.append(CancelAll("x", ts, u, rnd.choice([None, "AQ", "CQ"])))
        elif r < 0.93:
            out.append(Deposit("d", ts, rnd.choice([*USERS, FEE]), rnd.choice(ASSETS),
                               rnd.randint(-2, 800)))  # fmt: skip
        elif r < 0.985:
            out.append(Withdraw("w", ts, rnd.choice([*USERS, FEE]), rnd.choice(ASSETS),
                                rnd.randint(-2, 800)))  # fmt: skip
        elif r < 0.99:
            out.append(Configure("g", ts, rnd.choice([0, 0, 1, 2, 3, -1]), rnd.randint(-1, 20)))
        elif r < 0.995:
            limit = rnd.choice([None, None, 1, 2, 4, 0])
            out.append(SetOrderLimit("l", ts, u, limit))
        else:
            new_status = rnd.choice(
                [MarketStatus.TRADING] * 2 + [MarketStatus.HALTED, MarketStatus.CANCEL_ONLY]
            )
            out.append(SetMarketStatus("s", ts, rnd.choice(["AQ", "CQ", "ZZ"]), new_status))
    return out


seeded = st.builds(random_stream, st.integers(0, 2**32 - 1), st.integers(40, 150))

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(eng: Engine, cmd: Command, depth_seqs: dict[str, int]) -> list[Event]:
    seq = eng.next_seq
    events = eng.apply(cmd)
    assert eng.next_seq == seq + 1
    assert all(e.seq == seq for e in events)
    for e in events:
        # the engine builds hot events without __init__ (object.__new__ + slot stores):
        # every field must be set, and the event must equal one built the public way
        values = [getattr(e, f.name) for f in dataclasses.fields(e)]
        assert type(e)(*values) == e
    eng.check_invariants()
    # events describe the state they leave behind
    seen_bal = set()
    seen_depth = set()
    for e in events:
        if isinstance(e, BalanceChanged):
            key = (e.user_id, e.asset)
            assert key not in seen_bal, f"two BalanceChanged for {key}"
            seen_bal.add(key)
            assert eng.balance(e.user_id, e.asset) == (e.available, e.locked)
        elif isinstance(e, DepthChanged):
            key2 = (e.symbol, e.side, e.price)
            assert key2 not in seen_depth, f"two DepthChanged for {key2}"
            seen_depth.add(key2)
            bids, asks, ds = eng.depth_snapshot(e.symbol, 10**9)
            levels = dict(bids if e.side == Side.BUY else asks)
            assert levels.get(e.price, 0) == e.quantity
            assert e.depth_seq == ds
    # each order's last event is its state now: open ones as the engine holds them
    last: dict[int, OrderAccepted | OrderUpdated | OrderTriggered] = {}
    for e in events:
        if isinstance(e, OrderAccepted | OrderUpdated | OrderTriggered):
            last[e.order_id] = e
    for oid, e in last.items():
        o = eng.get_order(oid)
        if e.status in OPEN_STATUSES:
            assert o is not None, f"{e} open, not in the engine"
            state = [
                getattr(o, f.name) for f in dataclasses.fields(OrderUpdated) if f.name != "seq"
            ]
            assert state == [getattr(e, f.name) for f in dataclasses.fields(OrderUpdated)][1:]
        else:
            assert o is None, f"{e} closed, still open in the engine"
    for sym in {e.symbol for e in events if isinstance(e, DepthChanged)}:
        assert eng.depth_snapshot(sym, 1)[2] == depth_seqs.get(sym, 0) + 1, "depth_seq gap"
    for sym in eng.markets:
        depth_seqs[sym] = eng.depth_snapshot(sym, 1)[2]
    # books never crossed
    for sym in eng.markets:
        bids, asks, _ = eng.depth_snapshot(sym, 1)
        assert not bids or not asks or bids[0][0] < asks[0][0]
    # every open order index agrees with the book
    open_ids = sorted(o.order_id for o in eng.iter_open_orders())
    assert open_ids == sorted(o.order_id for u in USERS for o in eng.open_orders_of(u))
    return events


def _fresh() -> Engine:
    eng = Engine(fee_account=FEE)
    for c in SETUP:
        eng.apply(c)
    return eng


@SETTINGS
@given(st.one_of(structured, seeded))
def test_invariants_hold_after_every_command(cmds: list[Command]) -> None:
    eng = _fresh()
    depth_seqs: dict[str, int] = {}
    for c in cmds:
        _run(eng, c, depth_seqs)
    assert eng.totals() == {a: v for a, v in eng.net_deposits.items()} | {
        a: 0 for a in eng.totals() if a not in eng.net_deposits
    }


def _outcome(events: list[Event]) -> str:
    """Condense one command's events to the reference engine's outcome vocabulary."""
    first = events[0] if events else None
    if isinstance(first, OrderRejected | CommandRejected):
        return str(first.reason)
    if isinstance(first, OrderAccepted):
        final = [
            e
            for e in events
            if isinstance(e, OrderAccepted | OrderUpdated) and e.order_id == first.order_id
        ]
        status = final[-1].status
        if status == OrderStatus.PENDING:
            return "accepted:pending"
        if status == OrderStatus.FILLED:
            return "accepted:filled"
        if status == OrderStatus.EXPIRED:
            return "accepted:expired"
        return "accepted:rests"
    return "ok"


@SETTINGS
@given(seeded)
def test_engine_matches_reference_on_busy_streams(cmds: list[Command]) -> None:
    check_against_reference(cmds)


@SETTINGS
@given(structured)
def test_engine_matches_reference_on_shrinkable_streams(cmds: list[Command]) -> None:
    check_against_reference(cmds)


def check_against_reference(cmds: list[Command]) -> None:
    eng = _fresh()
    ref = ReferenceEngine(fee_account=FEE)
    for c in SETUP:
        ref.apply(c)
    trades: list[RefTrade] = []
    depth_seqs: dict[str, int] = {}
    for i, c in enumerate(cmds):
        events = _run(eng, c, depth_seqs)
        want = ref.apply(c)
        assert _outcome(events) == want, f"command {i} {c}: engine {events} vs reference {want}"
        trades.extend(
            RefTrade(t.symbol, t.price, t.quantity, t.maker_order_id, t.taker_order_id,
                     t.maker_user_id, t.taker_user_id, t.maker_fee, t.taker_fee)
            for t in events
            if isinstance(t, Trade)
        )  # fmt: skip
    assert trades == ref.trades
    got_bal = {(u, a): (av, lk) for u, a, av, lk in eng.iter_balances() if (av, lk) != (0, 0)}
    assert got_bal == ref.balances()
    got_orders = sorted(
        (o.order_id, o.user_id, o.symbol, str(o.side), str(o.type), o.price, o.stop_price,
         o.quantity, o.filled_quantity, str(o.status), o.order_list_id,
         None if (other := eng.linked(o.order_id)) is None else other.order_id)
        for o in eng.iter_open_orders()
    )  # fmt: skip
    assert got_orders == ref.open_orders()
    # the queues: each book level's orders in the reference's queue order
    for sym in eng.markets:
        for side in (Side.BUY, Side.SELL):
            got = [
                (o.price, o.order_id)
                for o in eng.iter_open_orders()
                if o.symbol == sym and o.side == side and o.status != OrderStatus.PENDING
            ]
            want = [(o.price, o.order_id) for o in ref._opposite(sym, Side.SELL if side == Side.BUY
                                                                   else Side.BUY)]  # fmt: skip
            assert got == want, f"{sym} {side} queue: engine {got}, reference {want}"
    assert eng.next_order_id == ref.s.next_order_id


def test_reference_and_engine_agree_on_a_busy_fixed_stream() -> None:
    """A deterministic smoke run (no hypothesis) with many crosses."""
    rnd = random.Random(7)
    cmds: list[Command] = []
    for i in range(3_000):
        u = rnd.choice(USERS)
        r = rnd.random()
        if r < 0.7:
            cmds.append(PlaceOrder("p", i, u, rnd.choice(["AQ", "CQ"]),
                                   rnd.choice([Side.BUY, Side.SELL]),
                                   OrderType.MARKET if rnd.random() < 0.1 else OrderType.LIMIT,
                                   rnd.choice(list(TimeInForce)), rnd.randint(8, 14),
                                   rnd.randint(1, 10), rnd.random() < 0.1))  # fmt: skip
        elif r < 0.9:
            cmds.append(CancelOrder("c", i, u, rnd.randint(1, i + 1)))
        else:
            cmds.append(Deposit("d", i, u, rnd.choice(ASSETS), rnd.randint(1, 2_000)))
    check_against_reference(cmds)
