"""A batch's fold: what its commands did, gathered as they are applied, and the one
commit that writes it (docs/architecture.md, "The path of an order").

:class:`~engine_worker.runtime.EngineRuntime` owns the engine, the command log and the
connection; for each batch it makes a :class:`Batch`, which applies the jobs' commands
(:meth:`Batch.apply_jobs`: decode, refuse a malformed or resent one, the engine, then
:meth:`Batch.collect`, which folds the command's events and builds its reply), and then
asks it for the commit's read-model writes and publications (:meth:`Batch.commit_words`).
This is the hot path between the core and Redis: about seven events a command, each
rendered once. It is compiled with the core (engine_worker/core/__init__.py, PRESENTERS),
so it reads the events' fields natively, and runs as plain Python otherwise.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engine_worker import wire
from engine_worker.core import commands as c
from engine_worker.core import events as e
from engine_worker.core.engine import Engine
from engine_worker.core.types import OPEN_STATUSES, RejectReason
from engine_worker.wire import Raw
from infra import keys
from marketdata.shapes import depth_body
from marketdata.units import DEFAULT_DECIMALS, MarketUnits, format_scaled, max_units

logger = logging.getLogger(__name__)

RECENT_ITEMS = keys.RECENT_ITEMS  # closed orders, fills and trades a list is read to
# A recent-items list is trimmed back to RECENT_ITEMS on its first push in this process
# and then once this many items were pushed on it since its last trim, not after every
# push: its readers read its first RECENT_ITEMS (infra/keys.py), so it holds at most
# RECENT_ITEMS + TRIM_AFTER - 1 after any commit, whatever the restarts. An LTRIM per list
# per batch was a sixth of a batch's Redis commands.
TRIM_AFTER = 100
UNTRIMMED_LIMIT = 100_000  # lists counted at most: past it the counts start over
RECENT_REQUESTS = 200_000  # request ids remembered to refuse resends
CLOSED_ORDER_TTL = 7 * 24 * 3600

AMEND_QUANTITY_MESSAGE = "The new quantity must be above what has already filled."
REASON_MESSAGES: dict[RejectReason | str, str] = {
    RejectReason.INSUFFICIENT_BALANCE: "Insufficient balance for this order.",
    RejectReason.POST_ONLY_WOULD_TAKE: "A post-only order would have taken liquidity.",
    RejectReason.MARKET_HALTED: "The market is halted.",
    RejectReason.MARKET_CANCEL_ONLY: "The market accepts cancels only.",
    RejectReason.FOK_NOT_FILLED: "The fill-or-kill order could not be filled completely.",
    RejectReason.MIN_NOTIONAL: "The order's value is below the market's minimum notional.",
    RejectReason.MIN_QUANTITY: "The quantity is below the market's minimum.",
    RejectReason.MAX_QUANTITY: "The quantity is above the market's maximum.",
    RejectReason.MAX_PRICE: "The price is above the market's maximum.",
    RejectReason.INVALID_PRICE: "The price must be positive.",
    RejectReason.INVALID_QUANTITY: "The quantity must be positive.",
    RejectReason.INVALID_AMOUNT: "The amount must be positive.",
    RejectReason.UNKNOWN_MARKET: "Unknown market.",
    RejectReason.UNKNOWN_ORDER: "No such open order.",
    RejectReason.ORDER_NOT_OPEN: "The order is no longer open.",
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (
        "This client_order_id was used by an order still open or placed within the "
        "retention window; details.order_id is that order."
    ),
    RejectReason.TOO_MANY_OPEN_ORDERS: (
        "You have as many open orders in this market as allowed; cancel some first."
    ),
    RejectReason.INVALID_LIMIT: "A limit must be a positive number.",
    RejectReason.MARKET_EXISTS: "The market already exists.",
    RejectReason.INVALID_STOP_PRICE: (
        "The stop price must be positive; in an OCO list, below the limit price for a "
        "sell and above it for a buy."
    ),
    RejectReason.STOP_WOULD_TRIGGER: (
        "The stop price is already reached by the market's last trade price: the stop "
        "would trigger at once."
    ),
    RejectReason.ORDER_IN_LIST: (
        "The order is part of an OCO list still linked: cancel the list and place it again."
    ),
    RejectReason.MALFORMED_COMMAND: "Malformed command.",
    "duplicate_request": "This request_id was applied already; look the order up instead.",
    "balance_limit": "The deposit would take the asset's balances past what the database "
    "can store.",
}


def rejection(
    request_id: str, reason: RejectReason | str, message: str | None = None
) -> dict[str, Any]:
    """A refused command's reply: ``code`` is the reason's value, ``message`` its text."""
    code: RejectReason | str = (
        RejectReason(reason) if reason in RejectReason._value2member_map_ else reason
    )
    return {
        "request_id": request_id,
        "ok": False,
        "code": str(code),
        "message": message or REASON_MESSAGES.get(code, str(code)),
    }


# Applies a batch's read-model writes and publications inside Redis: one round trip and
# one atomic step, however many keys the batch touched. ARGV is a flat run of commands,
# each preceded by its number of words: 3 SET k v 2 DEL k ... Lua's unpack() fails past
# about 8,000 values (its C stack), so no command may be longer than MAX_OP_WORDS:
# split_op() splits the multi-value ones.
APPLY_OPS = """
local i = 1
local n = #ARGV
while i <= n do
  local count = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
return n
"""
MAX_VALUES_PER_OP = 1000  # values (members, elements, field-value pairs) per command
# command -> (words before the values: the command and its key if any, words per value):
# the commands a batch issues with any number of values
MULTI_VALUE_OPS = {"ZADD": (2, 2), "ZREM": (2, 1), "LPUSH": (2, 1), "HSET": (2, 2), "MSET": (1, 2)}
MAX_OP_WORDS = 2 + 2 * MAX_VALUES_PER_OP  # command, key, values

Word = str | bytes


def split_op(args: tuple[Word, ...] | list[Word]) -> list[tuple[Word, ...]]:
    """One command as commands of at most MAX_OP_WORDS words: itself if it is short
    enough, else several of at most MAX_VALUES_PER_OP values each. Splitting keeps the
    effect: each of these commands adds or removes its values one by one, in order (LPUSH
    of a, b then of c leaves c, b, a on top, as one LPUSH of a, b, c does). A longer
    command of any other kind is a bug, refused before anything is applied."""
    if len(args) <= MAX_OP_WORDS:
        return [tuple(args)]
    shape = MULTI_VALUE_OPS.get(str(args[0]))
    if shape is None:
        raise ValueError(f"{args[0]!r} with {len(args)} words cannot be split")
    before, step = shape
    head, values = tuple(args[:before]), args[before:]
    chunk = step * MAX_VALUES_PER_OP
    return [head + tuple(values[start : start + chunk]) for start in range(0, len(values), chunk)]


# a bulk string's head in the Redis protocol (RESP), for the usual lengths of a word
_HEAD_LIMIT = 4096
_HEADS = [b"$" + str(n).encode() + b"\r\n" for n in range(_HEAD_LIMIT)]
# a command's number of words as APPLY_OPS' word before it, whole (head, digits, CRLF)
_COUNTS = [b"$%d\r\n%d\r\n" % (len(str(n)), n) for n in range(MAX_OP_WORDS + 1)]
_CRLF = b"\r\n"
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


class Commit:
    """A commit's APPLY_OPS arguments, written in the Redis protocol as they are made:
    each word a bulk string (its head, the word, CRLF). Nothing is packed again at the send
    (redis-py's packer, hiredis's, took about 0.6 ms of a 100-command batch's 4.6 ms of
    worker CPU); :meth:`packed` is the MULTI, the EVALSHA and the EXEC around them. Words
    are str (sent UTF-8 encoded) or bytes: unlike redis-py's packer, no numbers."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.words = 0  # APPLY_OPS arguments so far

    def op(self, *args: Word) -> None:
        """One Redis command, as its number of words and its words (split if long)."""
        self.add(args)

    def add(self, args: tuple[Word, ...] | list[Word]) -> None:
        """:meth:`op` with the words in one sequence: what a command of any number of
        values calls (a call with ``*values`` is a generic call in compiled code, about
        five times the cost of this native one)."""
        if len(args) > MAX_OP_WORDS:
            for part in split_op(args):
                self.add(part)
            return
        pieces = self.pieces
        pieces.append(_COUNTS[len(args)])
        for word in args:  # inline, not a method per word: 3% of the worker's instructions
            data = word.encode() if isinstance(word, str) else word
            size = len(data)
            pieces.append(_HEADS[size] if size < _HEAD_LIMIT else b"$%d\r\n" % size)
            pieces.append(data)
            pieces.append(_CRLF)
        self.words += len(args) + 1

    def ops(self, ops: Iterable[tuple[str, ...]]) -> None:
        """More Redis commands (the worker's job bookkeeping)."""
        for args in ops:
            self.add(args)

    def word_list(self) -> list[bytes]:
        """The words, each as bytes (for the tests and for reading a commit)."""
        body, words, at = b"".join(self.pieces), [], 0
        while at < len(body):  # $<size>CRLF<word>CRLF
            end = body.index(b"\r\n", at)
            size = int(body[at + 1 : end])
            words.append(body[end + 2 : end + 2 + size])
            at = end + 4 + size
        return words

    def packed(self, sha: str) -> list[bytes]:
        """MULTI, EVALSHA ``sha`` 0 and the words, EXEC: what the connection sends."""
        head = b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (
            self.words + 3,
            len(sha),
            sha.encode(),
        )
        return [_MULTI + head, b"".join(self.pieces), _EXEC]


def depth_body_of(engine: Engine, units: MarketUnits, symbol: str, levels: int) -> dict[str, Any]:
    """The read model's depth snapshot of one book, its top ``levels`` a side, from the
    engine's memory."""
    bids, asks, depth_seq = engine.depth_snapshot(symbol, levels)
    sides = wire.depth_json(units, bids, asks)
    return depth_body(symbol=symbol, sequence=depth_seq, **sides)


def decode(
    command_wire: Any,
    units: dict[str, MarketUnits],
    asset_decimals: dict[str, int],
    *,
    logged: bool = False,
) -> c.Command:
    """The core's command, learning the decimal units that travel with it (a market's, an
    asset's) into ``units`` and ``asset_decimals``. A command from the engine's own log
    (``logged``) was checked when it first came in. wire.MalformedCommand if it is not
    one."""
    command, market = (wire.command_from_log if logged else wire.command_from_wire)(command_wire)
    if market is not None:
        units.setdefault(market.symbol, market)
        asset_decimals.setdefault(market.base, market.base_decimals)
        asset_decimals.setdefault(market.quote, market.quote_decimals)
    if isinstance(command, (c.Deposit, c.Withdraw)):
        decimals = command_wire.get("decimals")
        if isinstance(decimals, int):
            asset_decimals.setdefault(command.asset, decimals)
    return command


def storable_after(engine: Engine, asset_decimals: dict[str, int], deposit: c.Deposit) -> bool:
    """Whether every balance of the asset stays storable after the deposit. Trades and
    fees only move funds between balances, so the asset's total (deposits minus
    withdrawals) bounds each of them: keeping it storable keeps all of them so."""
    decimals = asset_decimals.get(deposit.asset, DEFAULT_DECIMALS)
    total = engine.net_deposits.get(deposit.asset, 0) + deposit.amount
    return total <= max_units(decimals)


#: The runtime's answer to a "Dump" command (a read of the whole state: not a core
#: command, not logged), given its request id.
Dump = Callable[[str], dict[str, Any]]

# {"event": kind, ...body}: a user event's text, spliced from the body's (a JSON object)
_ORDER_EVENT = wire.event_prefix("order")
_FILL_EVENT = wire.event_prefix("fill")
_TRIGGERED_EVENT = wire.event_prefix("triggered")

#: A book's changed levels as the commit's commands for the whole book (symbol, the
#: batch's update of it with its levels still ticks -> lots, the commit): EngineRuntime's,
#: which keeps each book's mirror.
BookOps = Callable[[str, dict[str, Any], Commit], None]


class Batch:
    """What one batch changed, collected while its commands are applied. Every order,
    fill and balance is rendered once, here: its body (for the replies and the records,
    encoded with them at the commit) and, where it is stored or published alone, its
    JSON text (for the read model and the user's channel)."""

    def __init__(
        self,
        engine: Engine,
        units: dict[str, MarketUnits],
        asset_decimals: dict[str, int],
        recent_requests: OrderedDict[str, None],
    ) -> None:
        # the runtime's, as they are for this batch (updated, never replaced, here)
        self.engine = engine
        self.units = units
        self.asset_decimals = asset_decimals
        self.recent_requests = recent_requests  # request ids applied lately, oldest first
        self.logged: list[Any] = []  # wire commands the engine applied
        # the command log's entry, its commands' texts: each job's as it came, when the
        # engine applied all of its commands, else those it applied encoded again
        self.logged_texts: list[bytes] = []
        self.replies: list[dict[str, Any]] = []
        self.orders: dict[int, tuple[int, bool, bytes]] = {}  # id: user, open, text
        self.new_client_ids: list[tuple[int, str, int]] = []
        self.balances: dict[tuple[int, str], bytes] = {}  # (user, asset): text
        self.fills: dict[int, list[bytes]] = {}  # user -> fills' texts, oldest first
        self.trades: dict[str, list[bytes]] = {}  # symbol -> public trades' texts
        self.depth: dict[str, dict[str, Any]] = {}  # symbol -> coalesced update
        # user -> that user's events, each {"event": kind, ...body} as JSON text
        self.user_events: dict[int, list[bytes]] = {}
        self.records: list[dict[str, Any]] = []  # per applied command, for the DB processor
        self.catalogue_changed = False  # a market or an asset was added or changed
        self.limits_changed = False  # Configure or SetOrderLimit applied
        self.jobs: list[tuple[str | None, int, int]] = []  # reply_to, its replies' slice

    def apply_jobs(
        self,
        jobs: list[tuple[Any, str | None]],
        dump: Dump,
        texts: list[bytes | None] | None = None,
    ) -> None:
        """Apply the jobs' commands, in order, each job's replies one slice of
        :attr:`replies` (:attr:`jobs`). A job whose commands are not a list has none.
        ``texts``: each job's commands as the JSON text (an array) they were decoded from,
        or None, for the command log (:meth:`log_text`)."""
        replies, logged, logged_texts = self.replies, self.logged, self.logged_texts
        for at, (commands, reply_to) in enumerate(jobs):
            start, applied = len(replies), len(logged)
            if isinstance(commands, list):
                for command in commands:
                    replies.append(self.apply(command, dump))
            self.jobs.append((reply_to, start, len(replies)))
            if len(logged) == applied:
                continue  # nothing logged
            text = texts[at] if texts is not None else None
            if text is not None and len(logged) - applied == len(replies) - start:
                logged_texts.append(text[1:-1])  # all applied: the array's items as they came
            else:
                logged_texts.append(wire.dumps(logged[applied:])[1:-1])

    def log_text(self) -> bytes:
        """The command log entry's commands, a JSON array: :attr:`logged`'s text."""
        return b"[" + b",".join(self.logged_texts) + b"]"

    def apply(self, command_wire: Any, dump: Dump) -> dict[str, Any]:
        """Apply one wire command and fold what it did; its reply. Refused before the
        engine sees it, with the reason as the reply: a malformed command, a resent one
        (its request id applied lately) and a deposit past what the database can store."""
        if isinstance(command_wire, dict) and command_wire.get("kind") == "Dump":
            return dump(str(command_wire.get("request_id")))  # a read: not logged
        asset_decimals = self.asset_decimals
        known = len(asset_decimals)
        try:
            command = decode(command_wire, self.units, asset_decimals)
        except wire.MalformedCommand as exc:
            request_id = command_wire.get("request_id") if isinstance(command_wire, dict) else None
            logger.warning(
                "request %s: malformed command: %s",
                request_id,
                exc,
                extra={"request_id": str(request_id)},
            )
            return rejection(str(request_id), RejectReason.MALFORMED_COMMAND, str(exc))
        request_id = command.request_id
        recent = self.recent_requests
        if request_id in recent:
            logger.warning(
                "request %s: already applied, refused",
                request_id,
                extra={"request_id": request_id},
            )
            return rejection(request_id, "duplicate_request")
        if isinstance(command, c.Deposit) and not storable_after(
            self.engine, asset_decimals, command
        ):
            if len(asset_decimals) != known:  # learnt from a refused command: forget
                asset_decimals.pop(command.asset, None)
            logger.warning(
                "request %s: deposit past the storable total, refused",
                request_id,
                extra={"request_id": request_id},
            )
            return rejection(request_id, "balance_limit")
        if len(asset_decimals) != known:
            self.catalogue_changed = True  # a new asset: its decimals go to the snapshot
        events = self.engine.apply(command)
        self.logged.append(command_wire)
        recent[request_id] = None
        if len(recent) > RECENT_REQUESTS:
            recent.popitem(last=False)
        return self.collect(command, events)

    def collect(self, command: c.Command, events: list[e.Event]) -> dict[str, Any]:
        """Fold one applied command's events into the batch and build its reply. The
        events come most frequent first: balances (about three a command), depth,
        orders, trades."""
        engine = self.engine
        request_id = command.request_id
        sequence = engine.next_seq - 1
        reply: dict[str, Any] = {"request_id": request_id, "ok": True, "sequence": sequence}
        fills: list[Raw] = []  # the own order's fills' texts
        # this command's orders, their last event (rendered once, after the loop)
        order_events: dict[int, wire.OrderEvent] = {}
        # the command's own order, whose fills the reply carries (a placed or amended one;
        # the stops its trades trigger are others' orders)
        own = command.order_id if isinstance(command, c.AmendOrder) else None
        user_events = self.user_events
        units_of = self.units
        asset_decimals = self.asset_decimals
        record: dict[str, Any] = {  # what the DB processor persists (docs/event-stream.md)
            "seq": sequence,
            "kind": type(command).__name__,
            "ts": command.ts,
            "request_id": request_id,
        }
        self.records.append(record)
        # the record's lists, each put in the record when its first item comes (the
        # record's keys keep the order of the events)
        record_balances: list[dict[str, Any]] | None = None
        record_trades: list[dict[str, Any]] | None = None
        balances, depth = self.balances, self.depth
        for event in events:
            if isinstance(event, e.BalanceChanged):
                user_id, asset = event.user_id, event.asset
                decimals = asset_decimals.get(asset, DEFAULT_DECIMALS)
                available = format_scaled(event.available, decimals)
                locked = format_scaled(event.locked, decimals)
                text, event_text = wire.balance_texts(asset, available, locked)
                balances[(user_id, asset)] = text
                texts = user_events.get(user_id)
                if texts is None:
                    user_events[user_id] = [event_text]
                else:
                    texts.append(event_text)
                if record_balances is None:
                    record_balances = []
                    record["balances"] = record_balances
                record_balances.append(
                    {"user_id": user_id, "asset": asset, "available": available, "locked": locked}
                )
            elif isinstance(event, e.DepthChanged):  # coalesced per book: levels' last lots
                symbol, depth_seq = event.symbol, event.depth_seq
                update = depth.get(symbol)
                if update is None:
                    update = {
                        "symbol": symbol,
                        "first_sequence": depth_seq,
                        "sequence": depth_seq,
                        "bids": {},
                        "asks": {},
                    }
                    depth[symbol] = update
                else:
                    update["sequence"] = depth_seq
                update["bids" if event.side == "buy" else "asks"][event.price] = event.quantity
            elif isinstance(event, e.OrderAccepted):
                order_id = event.order_id
                order_events[order_id] = event
                if own is None:
                    own = order_id
                if event.client_order_id:
                    self.new_client_ids.append((event.user_id, event.client_order_id, order_id))
            elif isinstance(event, e.OrderUpdated):
                order_events[event.order_id] = event
            elif isinstance(event, e.Trade):
                (_, maker_text), (_, taker_text), (_, public_text), trade = wire.trade_bodies(
                    event, units_of[event.symbol]
                )
                maker_user, taker_user = event.maker_user_id, event.taker_user_id
                fills_of = self.fills
                fills_of.setdefault(maker_user, []).append(maker_text)
                fills_of.setdefault(taker_user, []).append(taker_text)
                user_events.setdefault(maker_user, []).append(_FILL_EVENT + maker_text[1:])
                user_events.setdefault(taker_user, []).append(_FILL_EVENT + taker_text[1:])
                self.trades.setdefault(event.symbol, []).append(public_text)
                if record_trades is None:
                    record_trades = []
                    record["trades"] = record_trades
                record_trades.append(trade)
                if event.taker_order_id == own:
                    fills.append(Raw(taker_text))
                elif event.maker_order_id == own:
                    fills.append(Raw(maker_text))
            elif isinstance(event, e.OrderTriggered):
                order_events[event.order_id] = event
                _, triggered = wire.order_json_text(event, units_of[event.symbol])
                user_events.setdefault(event.user_id, []).append(_TRIGGERED_EVENT + triggered[1:])
            elif isinstance(event, (e.Deposited, e.Withdrawn)):
                decimals = asset_decimals.get(event.asset, DEFAULT_DECIMALS)
                record.setdefault("transfers", []).append(
                    {
                        "user_id": event.user_id,
                        "asset": event.asset,
                        "kind": "deposit" if isinstance(event, e.Deposited) else "withdrawal",
                        "amount": format_scaled(event.amount, decimals),
                    }
                )
            elif isinstance(event, (e.OrderRejected, e.CommandRejected)):
                record["rejected"] = event.reason.value
                message = None
                if event.reason is RejectReason.INVALID_QUANTITY and isinstance(
                    command, c.AmendOrder
                ):
                    message = AMEND_QUANTITY_MESSAGE  # not above what has filled
                rejected = rejection(command.request_id, event.reason, message)
                rejected["sequence"] = event.seq
                if isinstance(event, e.OrderRejected) and event.order_id is not None:
                    rejected["order_id"] = event.order_id  # the order holding the client id
                return rejected
            elif isinstance(event, e.LimitsChanged):
                self.limits_changed = True
            elif isinstance(event, e.MarketChanged):
                self.catalogue_changed = True
                reply["market"] = {"symbol": event.rules.symbol, "status": event.rules.status.value}
        texts_of: dict[int, Raw] = {}  # this command's orders' texts
        if order_events:
            priorities: dict[str, int] = {}
            batch_orders = self.orders
            for order_id, order_event in order_events.items():
                _, order_text = wire.order_json_text(order_event, units_of[order_event.symbol])
                texts_of[order_id] = Raw(order_text)
                user_id = order_event.user_id
                user_events.setdefault(user_id, []).append(_ORDER_EVENT + order_text[1:])
                is_open = order_event.status in OPEN_STATUSES
                batch_orders[order_id] = (user_id, is_open, order_text)
                if is_open:
                    resting = engine.get_order(order_id)
                    if resting is not None:
                        # the queue place of each order the command left open, for
                        # recovery (engine state, not part of an order's public shape)
                        priorities[str(order_id)] = resting.priority
            record["orders"] = list(texts_of.values())
            if priorities:
                record["priorities"] = priorities
        # the orders and fills in the reply as their texts (Raw): rendered once
        if isinstance(command, c.PlaceOrder):
            reply["order"] = next(iter(texts_of.values()))  # the new order's final state
            reply["fills"] = fills
        elif isinstance(command, c.CancelOrder):
            reply["order"] = texts_of[command.order_id]
        elif isinstance(command, c.AmendOrder):
            reply["order"] = texts_of[command.order_id]
            reply["fills"] = fills
        elif isinstance(command, c.PlaceOrderList):
            limit_id, stop_id = list(texts_of)[:2]
            pair = [texts_of[limit_id], texts_of[stop_id]]
            reply["order_list"] = {"id": limit_id, "orders": pair}
        elif isinstance(command, c.CancelAll):
            reply["orders"] = list(texts_of.values())
        elif isinstance(command, (c.Deposit, c.Withdraw)):
            free, held = engine.balance(command.user_id, command.asset)
            reply["balance"] = wire.balance_json(
                command.asset, free, held, asset_decimals.get(command.asset, DEFAULT_DECIMALS)
            )
        return reply

    def commit_words(
        self,
        commit: Commit,
        shard: int,
        book_ops: BookOps,
        depth_levels: int,
        untrimmed: dict[str, int],
    ) -> None:
        """Append to ``commit`` everything the batch did but its log entries: each job's
        replies, the read model's orders, balances, fills, trades and books (each changed
        book's snapshot of ``depth_levels`` a side), and the market and user events. Each
        order, fill and balance stored or published alone was encoded once, when it was
        rendered; the replies are encoded here, a job's in one call. ``untrimmed``: the
        runtime's count, per recent-items list, of the items pushed since its last trim
        (updated here: :data:`TRIM_AFTER`)."""
        dumps = wire.dumps
        replies = self.replies
        for reply_to, start, end in self.jobs:  # each job's replies to its own gateway
            if reply_to:
                message = {"shard": shard, "replies": replies[start:end]}
                commit.op("PUBLISH", reply_to, dumps(message))
        opened: dict[int, list[Word]] = {}
        closed: dict[int, list[Word]] = {}
        open_orders: list[Word] = []
        closed_ttl = str(CLOSED_ORDER_TTL)
        for order_id, (user_id, is_open, text) in self.orders.items():
            if is_open:
                open_orders.append(keys.rm_order(order_id))
                open_orders.append(text)
                opened.setdefault(user_id, []).extend((str(order_id), str(order_id)))
            else:
                commit.op("SET", keys.rm_order(order_id), text, "EX", closed_ttl)
                closed.setdefault(user_id, []).append(str(order_id))
        if open_orders:
            commit.add(["MSET", *open_orders])
        for user_id, pairs in opened.items():
            commit.add(["ZADD", keys.rm_open_orders(user_id), *pairs])
        for user_id, ids in closed.items():
            commit.add(["ZREM", keys.rm_open_orders(user_id), *ids])
            push_recent(commit, untrimmed, keys.rm_closed_orders(user_id), ids)
        for user_id, client_order_id, order_id in self.new_client_ids:
            commit.op("HSET", keys.rm_client_order_ids(user_id), client_order_id, str(order_id))
        by_user: dict[int, list[Word]] = {}
        for (user_id, asset), balance_text in self.balances.items():
            by_user.setdefault(user_id, []).extend((asset, balance_text))
        for user_id, fields in by_user.items():
            commit.add(["HSET", keys.rm_balances(user_id), *fields])
        for user_id, fills in self.fills.items():
            push_recent(commit, untrimmed, keys.rm_fills(user_id), fills)
        for symbol, trades in self.trades.items():
            push_recent(commit, untrimmed, keys.rm_trades(symbol), trades)
            public = b"[" + b",".join(trades) + b"]"
            commit.op("PUBLISH", keys.md_channel("trades", symbol), public)
        for symbol, update in self.depth.items():
            book_ops(symbol, update, commit)  # the whole book's changed levels
            units = self.units[symbol]
            bids: dict[int, int] = update["bids"]
            asks: dict[int, int] = update["asks"]
            update["bids"] = [
                [units.ticks_to_price(p), units.lots_to_quantity(q)] for p, q in bids.items()
            ]
            update["asks"] = [
                [units.ticks_to_price(p), units.lots_to_quantity(q)] for p, q in asks.items()
            ]
            commit.op("PUBLISH", keys.md_channel("depth", symbol), dumps(update))
            snapshot = depth_body_of(self.engine, units, symbol, depth_levels)
            commit.op("SET", keys.rm_depth(symbol), dumps(snapshot))
        for user_id, texts in self.user_events.items():
            commit.op("PUBLISH", keys.user_channel(user_id), b"[" + b",".join(texts) + b"]")


_LAST_ITEM = str(RECENT_ITEMS - 1)


def push_recent(commit: Commit, untrimmed: dict[str, int], key: str, items: Sequence[Word]) -> None:
    """Push ``items`` (oldest first) on the recent-items list ``key``, the newest at its
    head; trim it back to RECENT_ITEMS on its first push counted in ``untrimmed`` (the
    process's first, or the first since the counts started over) and once TRIM_AFTER
    items came since its last trim."""
    commit.add(["LPUSH", key, *items[-RECENT_ITEMS:]])
    pushed = untrimmed.get(key)
    if pushed is None or pushed + len(items) >= TRIM_AFTER:
        commit.op("LTRIM", key, "0", _LAST_ITEM)
        if len(untrimmed) >= UNTRIMMED_LIMIT:
            untrimmed.clear()  # each list is trimmed again on its next push
        untrimmed[key] = 0
    else:
        untrimmed[key] = pushed + len(items)
