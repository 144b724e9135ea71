"""Events the engine emits. Every event carries ``seq``, the shard sequence number of
the command that produced it (one number per command, rejected commands included).

Events are ``slots`` dataclasses but not ``frozen``: a frozen dataclass costs about
five times as much to build (object.__setattr__ per field), and the hot path builds
several events per command. Treat them as immutable all the same.

On its hot paths the engine does not call these ``__init__`` methods: it builds events
with ``Cls.__new__(Cls)`` and one store per field (engine.py). In pure Python that is
``object.__new__`` plus slot stores, cheaper than the dataclass call; compiled by mypyc
(scripts/build_core.py) these classes are native, ``__new__`` only allocates and each store
is a C struct store, while the ``__init__`` that ``dataclass`` generates stays interpreted
Python in the compiled build too. A field added here must be set there too; the property
tests check that every emitted event has all its fields set. (A class with
``__getattr__`` would spare the hot paths some stores, but it slows every attribute read
of its instances about threefold: the runtime reads each event's fields.)
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import MarketRules
from .types import OrderStatus, OrderType, RejectReason, Side, TimeInForce


@dataclass(slots=True)
class OrderAccepted:
    """An order entered the engine (before any matching). Full order state."""

    seq: int
    order_id: int
    user_id: int
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    price: int  # ticks; 0 for a market order
    quantity: int  # lots
    filled_quantity: int  # lots
    filled_quote: int  # quote units traded so far (gross), for the average price
    status: OrderStatus
    client_order_id: str | None
    created_ts: int
    updated_ts: int
    stop_price: int = 0  # ticks: a stop order's trigger; 0 for the other types
    order_list_id: int | None = None  # the OCO list it belongs to (its limit order's id)


@dataclass(slots=True)
class OrderUpdated:
    """An order changed: fill, partial fill, cancel, expiry or amend. Full order state."""

    seq: int
    order_id: int
    user_id: int
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    price: int
    quantity: int
    filled_quantity: int
    filled_quote: int
    status: OrderStatus
    client_order_id: str | None
    created_ts: int
    updated_ts: int
    stop_price: int = 0
    order_list_id: int | None = None


@dataclass(slots=True)
class OrderTriggered:
    """A pending stop order's trigger held: it enters as a limit (stop-limit) or market
    (stop-market) order, status ``new``, before it matches. Full order state, and the last
    trade price that triggered it."""

    seq: int
    order_id: int
    user_id: int
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    post_only: bool
    price: int
    quantity: int
    filled_quantity: int
    filled_quote: int
    status: OrderStatus
    client_order_id: str | None
    created_ts: int
    updated_ts: int
    stop_price: int = 0
    order_list_id: int | None = None
    trigger_price: int = 0  # ticks: the market's last trade price when it triggered


@dataclass(slots=True)
class OrderRejected:
    """A PlaceOrder was refused; nothing changed. ``order_id``: for
    duplicate_client_order_id, the earlier order that has this client_order_id."""

    seq: int
    user_id: int
    symbol: str
    client_order_id: str | None
    reason: RejectReason
    order_id: int | None = None


@dataclass(slots=True)
class CommandRejected:
    """Any other command was refused (cancel, deposit, withdraw, market admin)."""

    seq: int
    user_id: int  # 0 when the command has no user
    reason: RejectReason


@dataclass(slots=True)
class Trade:
    """One fill between a resting maker and an incoming taker, at the maker's price.

    Each side's fee is taken from what that side receives: the buyer's in the base
    asset, the seller's in the quote asset, ``gross * bps // 10_000`` (rounded down),
    and credited to the fee account.
    """

    seq: int
    trade_id: int
    symbol: str
    price: int  # ticks
    quantity: int  # lots
    quote_amount: int  # quote units, price * quantity * quote_per_tick_lot
    taker_side: Side
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    maker_fee: int  # units of maker_fee_asset
    maker_fee_asset: str
    taker_fee: int  # units of taker_fee_asset
    taker_fee_asset: str
    ts: int


@dataclass(slots=True)
class BalanceChanged:
    """The new balance of one account in one asset (absolute values, not deltas).

    At most one per (user, asset) per command, in order of first change."""

    seq: int
    user_id: int
    asset: str
    available: int
    locked: int


@dataclass(slots=True)
class DepthChanged:
    """The new total quantity resting at one price level (0: the level is gone).

    At most one per (symbol, side, price) per command. ``depth_seq`` counts, per
    market, the commands that changed its book: consecutive numbers, so a consumer
    of one market's depth can detect a gap."""

    seq: int
    symbol: str
    side: Side
    price: int
    quantity: int
    depth_seq: int


@dataclass(slots=True)
class Deposited:
    seq: int
    user_id: int
    asset: str
    amount: int


@dataclass(slots=True)
class Withdrawn:
    seq: int
    user_id: int
    asset: str
    amount: int


@dataclass(slots=True)
class MarketChanged:
    """A market was added or its status changed; carries the full rules."""

    seq: int
    rules: MarketRules


@dataclass(slots=True)
class LimitsChanged:
    """Configure or SetOrderLimit applied. ``user_id`` is None for the shard's limits."""

    seq: int
    user_id: int | None
    max_open_orders: int | None  # the user's own limit (None: the default), or the default


Event = (
    OrderAccepted
    | LimitsChanged
    | OrderUpdated
    | OrderTriggered
    | OrderRejected
    | CommandRejected
    | Trade
    | BalanceChanged
    | DepthChanged
    | Deposited
    | Withdrawn
    | MarketChanged
)
