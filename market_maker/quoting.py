"""The market maker's decisions, as plain functions and classes with no I/O: market rules
(tick, lot, min/max quantity, min notional), the reference price, the quote ladder, order
sizes, inventory skew and caps, and the order of operations that replaces one ladder with
the next without ever crossing the bot's own book.

Money is Decimal throughout (the API's decimal strings in, decimal strings out)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

BPS = Decimal(10000)


@dataclass(frozen=True, slots=True)
class MarketRules:
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    max_quantity: Decimal
    min_notional: Decimal
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0
    status: str = "trading"

    @classmethod
    def from_api(cls, market: dict[str, Any]) -> MarketRules:
        """From one entry of GET /api/v1/markets."""
        return cls(
            symbol=market["symbol"],
            base=market["base"],
            quote=market["quote"],
            tick_size=Decimal(market["tick_size"]),
            lot_size=Decimal(market["lot_size"]),
            min_quantity=Decimal(market.get("min_quantity") or 0),
            max_quantity=Decimal(market.get("max_quantity") or 0),
            min_notional=Decimal(market.get("min_notional") or 0),
            maker_fee_bps=int(market.get("maker_fee_bps") or 0),
            taker_fee_bps=int(market.get("taker_fee_bps") or 0),
            status=market.get("status", "trading"),
        )

    # -- rounding ------------------------------------------------------------------------

    def price_floor(self, price: Decimal) -> Decimal:
        return (price / self.tick_size).to_integral_value(ROUND_FLOOR) * self.tick_size

    def price_ceil(self, price: Decimal) -> Decimal:
        return (price / self.tick_size).to_integral_value(ROUND_CEILING) * self.tick_size

    def quantity_floor(self, quantity: Decimal) -> Decimal:
        return (quantity / self.lot_size).to_integral_value(ROUND_FLOOR) * self.lot_size

    def quantity_ceil(self, quantity: Decimal) -> Decimal:
        return (quantity / self.lot_size).to_integral_value(ROUND_CEILING) * self.lot_size

    def valid(self, price: Decimal, quantity: Decimal) -> bool:
        """Whether a limit order at this price and quantity passes the market's rules."""
        return (
            price > 0
            and quantity > 0
            and price % self.tick_size == 0
            and quantity % self.lot_size == 0
            and quantity >= self.min_quantity
            and (not self.max_quantity or quantity <= self.max_quantity)
            and price * quantity >= self.min_notional
        )

    def size_for(self, price: Decimal, notional: Decimal) -> Decimal | None:
        """The quantity worth about ``notional`` at ``price``, on the lot, at least the
        minimum quantity and notional, at most the maximum quantity; None if no quantity
        fits."""
        if price <= 0:
            return None
        quantity = self.quantity_floor(notional / price)
        quantity = max(quantity, self.quantity_ceil(self.min_quantity), self.lot_size)
        if price * quantity < self.min_notional:
            quantity = self.quantity_ceil(self.min_notional / price)
        if self.max_quantity and quantity > self.max_quantity:
            quantity = self.quantity_floor(self.max_quantity)
        return quantity if self.valid(price, quantity) else None


def buy_cost(rules: MarketRules, price: Decimal, quantity: Decimal) -> Decimal:
    """What a buy may need in the quote asset (the notional plus the larger fee)."""
    fee = max(rules.maker_fee_bps, rules.taker_fee_bps, 0)
    return price * quantity * (1 + Decimal(fee) / BPS)


# -- reference price --------------------------------------------------------------------


@dataclass(slots=True)
class ReferencePrice:
    """The price the ladder centres on. ``walk``: a geometric random walk (``volatility_bps``
    standard deviation per step) pulled gently back towards ``anchor`` so it never wanders
    off for good; ``last``: the last trade price when there is one (else the walk)."""

    price: Decimal
    anchor: Decimal
    volatility_bps: float
    mode: str = "walk"
    reversion: float = 0.002  # fraction of the distance to the anchor closed per step

    def step(self, rng: random.Random, last_trade: Decimal | None = None) -> Decimal:
        if self.mode == "last" and last_trade is not None and last_trade > 0:
            self.price = last_trade
            return self.price
        shock = rng.gauss(0.0, self.volatility_bps / 10000)
        pull = self.reversion * math.log(float(self.anchor / self.price))
        self.price = self.price * Decimal(repr(math.exp(shock + pull)))
        return self.price


# -- the ladder -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LadderConfig:
    levels: int = 8
    spread_bps: Decimal = Decimal(20)  # between the best bid and the best ask
    step_bps: Decimal = Decimal(10)  # between two levels on one side
    size_min: Decimal = Decimal(20)  # order size range, in the quote asset
    size_max: Decimal = Decimal(200)
    inventory_cap: Decimal = Decimal("0.8")  # max share of base (by value): above, no bids
    max_skew_bps: Decimal = Decimal(20)  # ladder shift at a fully one-sided inventory


def grid_step(rules: MarketRules, price: Decimal, step_bps: Decimal) -> Decimal:
    """The distance between two levels: ``step_bps`` of the price, a whole number of ticks
    (at least one). Fixed per market at start so the ladder sits on a stable grid and a
    small move of the reference replaces only the levels at its ends."""
    ticks = (price * step_bps / BPS / rules.tick_size).to_integral_value(ROUND_FLOOR)
    return max(ticks, Decimal(1)) * rules.tick_size


def inventory_share(base: Decimal, quote: Decimal, price: Decimal) -> Decimal:
    """The base asset's share of the inventory's value (0.5 when balanced)."""
    base_value = base * price
    total = base_value + quote
    return base_value / total if total > 0 else Decimal("0.5")


def skewed_reference(reference: Decimal, share: Decimal, config: LadderConfig) -> Decimal:
    """Lean the ladder against the inventory: holding too much base lowers both sides (so
    asks fill more often and bids less), too little raises them."""
    lean = (share - Decimal("0.5")) * 2  # -1 .. 1
    return reference * (1 - lean * config.max_skew_bps / BPS)


def ladder_prices(
    rules: MarketRules, reference: Decimal, step: Decimal, config: LadderConfig
) -> tuple[list[Decimal], list[Decimal]]:
    """``levels`` bid and ask prices, best first, on the grid of ``step``, with at least
    ``spread_bps`` around the reference; every bid below every ask."""
    half = reference * config.spread_bps / BPS / 2
    top_bid = ((reference - half) / step).to_integral_value(ROUND_FLOOR) * step
    top_ask = ((reference + half) / step).to_integral_value(ROUND_CEILING) * step
    if top_ask <= top_bid:
        top_ask = top_bid + step
    bids = [top_bid - i * step for i in range(config.levels)]
    asks = [top_ask + i * step for i in range(config.levels)]
    return [p for p in bids if p > 0], asks


@dataclass(slots=True)
class Wallet:
    """What the bot may still commit in one cycle (available balances, debited as it places
    orders, credited as it cancels)."""

    available: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_api(cls, balances: list[dict[str, Any]]) -> Wallet:
        return cls({b["asset"]: Decimal(b["available"]) for b in balances})

    def get(self, asset: str) -> Decimal:
        return self.available.get(asset, Decimal(0))

    def can_afford(self, rules: MarketRules, side: str, price: Decimal, qty: Decimal) -> bool:
        if side == "buy":
            return self.get(rules.quote) >= buy_cost(rules, price, qty)
        return self.get(rules.base) >= qty

    def commit(self, rules: MarketRules, side: str, price: Decimal, qty: Decimal) -> None:
        if side == "buy":
            self.available[rules.quote] = self.get(rules.quote) - buy_cost(rules, price, qty)
        else:
            self.available[rules.base] = self.get(rules.base) - qty

    def release(self, rules: MarketRules, side: str, price: Decimal, qty: Decimal) -> None:
        if side == "buy":
            self.available[rules.quote] = self.get(rules.quote) + price * qty
        else:
            self.available[rules.base] = self.get(rules.base) + qty


@dataclass(frozen=True, slots=True)
class Quote:
    side: str
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OpenOrder:
    id: int
    side: str
    price: Decimal
    remaining: Decimal

    @classmethod
    def from_api(cls, order: dict[str, Any]) -> OpenOrder:
        return cls(
            id=int(order["id"]),
            side=order["side"],
            price=Decimal(order["price"]),
            remaining=Decimal(order["quantity"]) - Decimal(order["filled_quantity"] or 0),
        )


@dataclass(slots=True)
class Plan:
    """Replacing the open orders by the target ladder, in an order that never leaves the
    bot's own bids at or above its own asks: first cancel what the new quotes would cross,
    then place the new quotes (best first), then cancel the rest of the stale ones."""

    cancel_first: list[OpenOrder] = field(default_factory=list)
    place: list[Quote] = field(default_factory=list)
    cancel_after: list[OpenOrder] = field(default_factory=list)
    kept: int = 0


def plan_replace(current: list[OpenOrder], bids: list[Quote], asks: list[Quote]) -> Plan:
    plan = Plan()
    wanted = {("buy", q.price): q for q in bids} | {("sell", q.price): q for q in asks}
    stale: list[OpenOrder] = []
    for order in sorted(current, key=lambda o: o.id):
        key = (order.side, order.price)
        if key in wanted:
            del wanted[key]  # keep the order already there (one per level)
            plan.kept += 1
        else:
            stale.append(order)
    # After the first cancels, every remaining own bid is below every new ask and every
    # remaining own ask above every new bid; new bids are below new asks (the ladder).
    lowest_ask = min((q.price for q in asks), default=None)
    highest_bid = max((q.price for q in bids), default=None)
    for order in stale:
        crossing = (
            order.side == "buy" and lowest_ask is not None and order.price >= lowest_ask
        ) or (order.side == "sell" and highest_bid is not None and order.price <= highest_bid)
        (plan.cancel_first if crossing else plan.cancel_after).append(order)
    # best first, alternating sides, so the top of the book fills in first
    new_bids = sorted((q for q in wanted.values() if q.side == "buy"), key=lambda q: -q.price)
    new_asks = sorted((q for q in wanted.values() if q.side == "sell"), key=lambda q: q.price)
    for i in range(max(len(new_bids), len(new_asks))):
        plan.place.extend(side[i] for side in (new_bids, new_asks) if i < len(side))
    return plan


def build_ladder(
    rules: MarketRules,
    reference: Decimal,
    step: Decimal,
    config: LadderConfig,
    rng: random.Random,
    *,
    base: Decimal,
    quote: Decimal,
    sizes: dict[tuple[str, Decimal], Decimal] | None = None,
) -> tuple[list[Quote], list[Quote]]:
    """The target bids and asks: prices from the skewed reference, random sizes in the size
    range (reusing ``sizes`` for levels already quoted, so an unchanged level is kept), and
    the inventory cap (no bids when the base asset's share of the value is above the cap,
    no asks when it is below 1 - cap)."""
    share = inventory_share(base, quote, reference)
    bid_prices, ask_prices = ladder_prices(
        rules, skewed_reference(reference, share, config), step, config
    )
    sizes = sizes if sizes is not None else {}

    def quotes(side: str, prices: list[Decimal]) -> list[Quote]:
        out = []
        for price in prices:
            quantity = sizes.get((side, price))
            if quantity is None:
                notional = Decimal(
                    repr(rng.uniform(float(config.size_min), float(config.size_max)))
                )
                quantity = rules.size_for(price, notional)
            if quantity is not None and rules.valid(price, quantity):
                out.append(Quote(side, price, quantity))
        return out

    bids = [] if share > config.inventory_cap else quotes("buy", bid_prices)
    asks = [] if share < 1 - config.inventory_cap else quotes("sell", ask_prices)
    return bids, asks


def taker_side(rng: random.Random, maker_share: Decimal, gain: float = 4.0) -> str:
    """The side of the next crossing order: a coin toss, biased to rebalance the maker
    (when the maker holds too much base, the taker buys it from the maker)."""
    p_buy = min(0.9, max(0.1, 0.5 + float(maker_share - Decimal("0.5")) * gain))
    return "buy" if rng.random() < p_buy else "sell"
