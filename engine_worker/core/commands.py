"""Commands the engine applies. Built at the edge, integers only, never changed after.

Every command carries the ``request_id`` that its reply is routed by and ``ts``, the
time (epoch milliseconds) the edge stamped on it: the core never reads a clock.

Commands are ``slots`` dataclasses but not ``frozen``, as the events are (events.py): the
``__init__`` a frozen dataclass gets stores each field with ``object.__setattr__`` and
stays interpreted Python in the compiled build, which made building each command about 5%
of the engine worker's time applying a batch. The worker's decoder builds the most
frequent one, :class:`PlaceOrder`, with ``__new__`` and a store per field
(engine_worker/wire.py). Treat them as immutable all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import MarketRules
from .types import MarketStatus, OrderType, Side, TimeInForce


@dataclass(slots=True)
class PlaceOrder:
    request_id: str
    ts: int
    user_id: int
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: int  # ticks; 0 for a market or stop-market order
    quantity: int  # lots
    post_only: bool = False
    client_order_id: str | None = None
    stop_price: int = 0  # ticks; a stop order's trigger (not read for the other types)


@dataclass(slots=True)
class PlaceOrderList:
    """An OCO pair: a post-only limit order at ``price`` and a stop order at ``stop_price``
    (stop-limit at ``stop_limit_price``, or stop-market if it is None), on one side, for
    one quantity, linked: when either fills (partly) or triggers, the other is cancelled.
    The list's id is its limit order's id; one lock covers both."""

    request_id: str
    ts: int
    user_id: int
    symbol: str
    side: Side
    quantity: int  # lots
    price: int  # ticks, the limit order's
    stop_price: int  # ticks
    stop_limit_price: int | None = None  # ticks; None: the stop order is a stop-market


@dataclass(slots=True)
class AmendOrder:
    """Change an open order in place: ``quantity`` (the new total, above what has filled)
    and/or ``price`` (a limit price; None: unchanged). Reducing the quantity keeps the
    order's time priority; a new price or a larger quantity re-queues it."""

    request_id: str
    ts: int
    user_id: int
    order_id: int
    quantity: int | None = None
    price: int | None = None


@dataclass(slots=True)
class CancelOrder:
    request_id: str
    ts: int
    user_id: int
    order_id: int


@dataclass(slots=True)
class CancelAll:
    request_id: str
    ts: int
    user_id: int
    symbol: str | None = None  # None: every market


@dataclass(slots=True)
class Deposit:
    request_id: str
    ts: int
    user_id: int
    asset: str
    amount: int  # asset units


@dataclass(slots=True)
class Withdraw:
    request_id: str
    ts: int
    user_id: int
    asset: str
    amount: int  # asset units


@dataclass(slots=True)
class AddMarket:
    request_id: str
    ts: int
    rules: MarketRules


@dataclass(slots=True)
class SetMarketStatus:
    request_id: str
    ts: int
    symbol: str
    status: MarketStatus


@dataclass(slots=True)
class Configure:
    """The shard's limits. They are engine state, changed only by this logged command, so
    a replay meets every order with the limits the live engine had."""

    request_id: str
    ts: int
    max_open_orders: int  # per user and market, unless the user has its own; 0: no limit
    client_order_id_retention: int  # ms a used client_order_id stays taken


@dataclass(slots=True)
class SetOrderLimit:
    """One user's own open-order limit per market (raised or lowered by an operator)."""

    request_id: str
    ts: int
    user_id: int
    max_open_orders: int | None  # None: the shard's default again


Command = (
    PlaceOrder
    | PlaceOrderList
    | AmendOrder
    | CancelOrder
    | CancelAll
    | Deposit
    | Withdraw
    | AddMarket
    | SetMarketStatus
    | Configure
    | SetOrderLimit
)
