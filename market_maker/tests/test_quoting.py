"""The market maker's decisions, without services: rules, sizes, ladder, inventory,
the order of replacement (never a crossed own book)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from market_maker.quoting import (
    LadderConfig,
    MarketRules,
    OpenOrder,
    Quote,
    ReferencePrice,
    Wallet,
    build_ladder,
    grid_step,
    inventory_share,
    ladder_prices,
    plan_replace,
    taker_side,
)

D = Decimal
BTC = MarketRules(
    symbol="BTC_USDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.00001"),
    min_quantity=D("0.00001"),
    max_quantity=D("1000"),
    min_notional=D("1"),
    maker_fee_bps=10,
    taker_fee_bps=20,
)
COARSE = MarketRules(
    symbol="X_Y",
    base="X",
    quote="Y",
    tick_size=D("0.5"),
    lot_size=D("2"),
    min_quantity=D("4"),
    max_quantity=D("100"),
    min_notional=D("50"),
)


def test_rules_come_from_the_markets_endpoint():
    rules = MarketRules.from_api(
        {
            "symbol": "ETH_USDT", "base": "ETH", "quote": "USDT", "tick_size": "0.01",
            "lot_size": "0.0001", "min_quantity": "0.0001", "max_quantity": "100000",
            "min_notional": "1", "maker_fee_bps": 10, "taker_fee_bps": 20, "status": "trading",
        }
    )  # fmt: skip
    assert rules.tick_size == D("0.01") and rules.lot_size == D("0.0001")
    assert rules.min_notional == 1 and rules.taker_fee_bps == 20


@pytest.mark.parametrize("rules", [BTC, COARSE], ids=["btc", "coarse"])
@pytest.mark.parametrize("seed", range(20))
def test_sizes_fall_on_the_lot_within_quantity_and_notional_limits(rules, seed):
    rng = random.Random(seed)
    price = rules.price_floor(D(repr(rng.uniform(1, 50000))))
    notional = D(repr(rng.uniform(0.01, 5000)))
    quantity = rules.size_for(price, notional)
    assert quantity is not None
    assert quantity % rules.lot_size == 0
    assert rules.min_quantity <= quantity <= rules.max_quantity
    assert price * quantity >= rules.min_notional
    assert rules.valid(price, quantity)


def test_a_small_size_is_raised_to_the_minimum_notional():
    assert COARSE.size_for(D("10"), D("1")) == D("6")  # 4 lots min qty, 50 notional -> 6


def test_no_size_fits_when_the_minimum_notional_needs_more_than_the_maximum_quantity():
    assert COARSE.size_for(D("0.5"), D("10")) == D("100")  # 50 / 0.5: just at the maximum
    assert COARSE.size_for(D("0.49"), D("10")) is None  # would need more than 100


def test_the_grid_step_is_whole_ticks_and_at_least_one():
    assert grid_step(BTC, D("30000"), D("10")) == D("30.00")
    assert grid_step(BTC, D("1"), D("10")) == D("0.01")


def test_the_ladder_has_the_levels_on_the_grid_with_bids_below_asks():
    config = LadderConfig(levels=5, spread_bps=D(20), step_bps=D(10))
    step = grid_step(BTC, D("30000"), config.step_bps)
    bids, asks = ladder_prices(BTC, D("30012.34"), step, config)
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert max(bids) < min(asks)
    assert min(asks) - max(bids) >= D("30012.34") * D(20) / 10000
    assert all(p % step == 0 for p in bids + asks)


def test_a_zero_spread_ladder_still_never_crosses():
    config = LadderConfig(levels=3, spread_bps=D(0))
    bids, asks = ladder_prices(BTC, D("100.00"), D("0.10"), config)
    assert max(bids) < min(asks)


def test_a_small_move_of_the_reference_keeps_most_levels():
    config = LadderConfig(levels=8)
    step = grid_step(BTC, D("30000"), config.step_bps)
    before = ladder_prices(BTC, D("30000"), step, config)
    after = ladder_prices(BTC, D("30031"), step, config)  # about one step up
    assert len(set(before[0]) & set(after[0])) >= 6
    assert len(set(before[1]) & set(after[1])) >= 6


def test_the_ladder_leans_against_the_inventory():
    config = LadderConfig(levels=3, max_skew_bps=D(50))
    step = D("1.00")
    rng = random.Random(1)
    balanced = build_ladder(BTC, D("30000"), step, config, rng, base=D(1), quote=D(30000))
    long_base = build_ladder(BTC, D("30000"), step, config, rng, base=D(3), quote=D(30000))
    assert long_base[0][0].price < balanced[0][0].price
    assert long_base[1][0].price < balanced[1][0].price


def test_above_the_inventory_cap_it_stops_buying_and_below_it_stops_selling():
    config = LadderConfig(levels=3, inventory_cap=D("0.8"))
    rng = random.Random(1)
    bids, asks = build_ladder(BTC, D("100"), D("0.1"), config, rng, base=D(90), quote=D(100))
    assert not bids and len(asks) == 3
    bids, asks = build_ladder(BTC, D("100"), D("0.1"), config, rng, base=D(1), quote=D(1000))
    assert len(bids) == 3 and not asks


def test_inventory_share_is_half_when_balanced():
    assert inventory_share(D(1), D(30000), D(30000)) == D("0.5")
    assert inventory_share(D(0), D(0), D(1)) == D("0.5")


def test_the_taker_leans_towards_rebalancing_the_maker():
    rng = random.Random(3)
    heavy = [taker_side(rng, D("0.9")) for _ in range(1000)]
    light = [taker_side(rng, D("0.1")) for _ in range(1000)]
    assert heavy.count("buy") > 800 and light.count("sell") > 800


def test_a_seeded_walk_is_reproducible_and_stays_near_its_anchor():
    def walk(seed: int) -> list[Decimal]:
        ref = ReferencePrice(price=D(30000), anchor=D(30000), volatility_bps=5)
        rng = random.Random(seed)
        return [ref.step(rng) for _ in range(5000)]

    assert walk(4) == walk(4) != walk(5)
    assert all(D(20000) < p < D(45000) for p in walk(4))


def test_last_trade_mode_follows_the_last_trade():
    ref = ReferencePrice(price=D(100), anchor=D(100), volatility_bps=5, mode="last")
    assert ref.step(random.Random(1), D("101.5")) == D("101.5")
    assert ref.step(random.Random(1), None) != D("101.5")  # no trade yet: it walks


def _apply(book: dict[int, OpenOrder], plan, next_id: list[int]) -> list[tuple]:
    """Apply the plan step by step; the own book after each step."""
    states = []
    for order in plan.cancel_first:
        del book[order.id]
        states.append(dict(book))
    for quote in plan.place:
        next_id[0] += 1
        book[next_id[0]] = OpenOrder(next_id[0], quote.side, quote.price, quote.quantity)
        states.append(dict(book))
    for order in plan.cancel_after:
        del book[order.id]
        states.append(dict(book))
    return states


def _crossed(book: dict[int, OpenOrder]) -> bool:
    bids = [o.price for o in book.values() if o.side == "buy"]
    asks = [o.price for o in book.values() if o.side == "sell"]
    return bool(bids and asks and max(bids) >= min(asks))


@pytest.mark.parametrize("seed", range(30))
def test_replacing_the_ladder_never_crosses_the_own_book_at_any_step(seed):
    rng = random.Random(seed)
    config = LadderConfig(levels=6, spread_bps=D(rng.choice([0, 5, 20])))
    ref = ReferencePrice(price=D(30000), anchor=D(30000), volatility_bps=rng.choice([5, 80, 300]))
    step = grid_step(BTC, D(30000), config.step_bps)
    book: dict[int, OpenOrder] = {}
    next_id = [0]
    for _ in range(40):
        price = ref.step(rng)
        bids, asks = build_ladder(BTC, price, step, config, rng, base=D(10), quote=D(300000))
        plan = plan_replace(list(book.values()), bids, asks)
        for state in _apply(book, plan, next_id):
            assert not _crossed(state)
        assert sorted(o.price for o in book.values()) == sorted(q.price for q in bids + asks)
        # some fills now and then: a level disappears
        for order_id in [i for i in book if rng.random() < 0.1]:
            del book[order_id]


def test_an_unchanged_ladder_needs_no_operation():
    bids = [Quote("buy", D("99"), D("1")), Quote("buy", D("98"), D("1"))]
    asks = [Quote("sell", D("101"), D("1"))]
    current = [OpenOrder(1, "buy", D("99"), D("0.5")), OpenOrder(2, "buy", D("98"), D("1")),
               OpenOrder(3, "sell", D("101"), D("1"))]  # fmt: skip
    plan = plan_replace(current, bids, asks)
    assert plan.kept == 3 and not plan.place and not plan.cancel_first and not plan.cancel_after


def test_a_jump_cancels_the_crossing_orders_before_placing():
    current = [OpenOrder(1, "buy", D("99"), D("1")), OpenOrder(2, "sell", D("101"), D("1"))]
    bids = [Quote("buy", D("105"), D("1"))]
    asks = [Quote("sell", D("107"), D("1"))]
    plan = plan_replace(current, bids, asks)
    assert [o.id for o in plan.cancel_first] == [2]  # the old ask would meet the new bid
    assert [o.id for o in plan.cancel_after] == [1]
    assert [q.price for q in plan.place] == [D("105"), D("107")]


def test_the_wallet_never_commits_more_than_is_available():
    wallet = Wallet.from_api(
        [{"asset": "USDT", "available": "100", "locked": "0"},
         {"asset": "BTC", "available": "0.001", "locked": "0"}]
    )  # fmt: skip
    assert wallet.can_afford(BTC, "buy", D("99"), D("1"))
    assert not wallet.can_afford(BTC, "buy", D("100"), D("1"))  # the fee
    wallet.commit(BTC, "buy", D("50"), D("1"))
    assert not wallet.can_afford(BTC, "buy", D("50"), D("1"))
    assert wallet.can_afford(BTC, "sell", D("1"), D("0.001"))
    assert not wallet.can_afford(BTC, "sell", D("1"), D("0.002"))
    wallet.release(BTC, "buy", D("50"), D("1"))
    assert wallet.can_afford(BTC, "buy", D("50"), D("1"))
