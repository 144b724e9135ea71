"""The market maker service: a bot user (and a second one that takes) keeping every
enabled book liquid through the public REST API, on the shared loop base
(infra.service.Service). The decisions live in market_maker.quoting; this module
does the I/O: accounts at first start, the refresh cycle, crossing orders, back-off.

A load mode (LoadGenerator) drives a fixed rate of orders from several bot users, for the
benchmarks."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infra.service import Service
from market_maker.client import ApiClient, ApiError
from market_maker.metrics import MarketMakerMetrics
from market_maker.quoting import (
    LadderConfig,
    MarketRules,
    OpenOrder,
    ReferencePrice,
    Wallet,
    build_ladder,
    grid_step,
    inventory_share,
    plan_replace,
    taker_side,
)

logger = logging.getLogger(__name__)

DEFAULT_REFERENCE = Decimal(100)  # for a market with no configured price and an empty book
MAX_RETRY_AFTER = 60.0  # seconds: the longest Retry-After the bot waits out before trying again


@dataclass(frozen=True, slots=True)
class BotConfig:
    base_url: str = "http://127.0.0.1:8000"
    username: str = "marketmaker"  # the maker; the taker is "<username>-taker"
    markets: tuple[str, ...] = ()  # empty: every market that trades
    ladder: LadderConfig = field(default_factory=LadderConfig)
    refresh: float = 1.0  # seconds between refresh cycles
    trade_interval: float = 3.0  # mean seconds between crossing orders, per market
    volatility_bps: float = 5.0  # random walk: standard deviation per cycle
    reference: str = "walk"  # or "last" (the last trade price)
    reference_prices: dict[str, Decimal] = field(default_factory=dict)
    funds: dict[str, Decimal] = field(default_factory=dict)  # deposited at first start
    seed: int | None = None
    progress_interval: float = 10.0
    max_backoff: float = 5.0  # while web or engine is down
    markets_refresh: float = 30.0  # seconds between re-reads of the market list


class ForeignAccount(Exception):
    """An account the bot would trade with exists but was not created by the bot."""


def foreign_accounts(usernames: list[str]) -> list[str]:
    """The names among ``usernames`` that exist but are not bot accounts (outside
    settings.BOT_ACCOUNTS_GROUP, the group the bot puts every account it creates in)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    User = get_user_model()
    existing = User.objects.filter(username__in=usernames)
    ours = existing.filter(groups__name=settings.BOT_ACCOUNTS_GROUP)
    return sorted(
        set(existing.values_list("username", flat=True))
        - set(ours.values_list("username", flat=True))
    )


def foreign_account_message(usernames: list[str]) -> str:
    from django.conf import settings

    return (
        f"refusing to use the account(s) {', '.join(usernames)}: they exist but the market "
        f"maker did not create them (not in the group {settings.BOT_ACCOUNTS_GROUP!r}), so "
        "someone else may hold their password or token. Run the bot under another "
        "--username (MARKET_MAKER_USERNAME); only if the account is really the bot's, add "
        "it to that group in the admin."
    )


def ensure_bot_user(username: str, funds: dict[str, Decimal], client: ApiClient) -> str:
    """The bot user's token, creating the user (no usable password, in
    settings.BOT_ACCOUNTS_GROUP) and its token if missing, and funding it through the
    support deposit path when it holds nothing of the funding assets (first start). An
    existing account the bot did not create is never adopted: ForeignAccount. Runs
    in-process: the command lives in the project."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import close_old_connections, connections, transaction
    from rest_framework.authtoken.models import Token

    from accounts.services import balance_deposit

    close_old_connections()
    try:
        User = get_user_model()
        group, _ = Group.objects.get_or_create(name=settings.BOT_ACCOUNTS_GROUP)
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                user.groups.add(group)
                logger.info("created bot user %s (id %d)", username, user.pk)
        if not created and not user.groups.filter(pk=group.pk).exists():
            raise ForeignAccount(foreign_account_message([username]))
        token, _ = Token.objects.get_or_create(user=user)
        client.token = token.key
        held = {
            b["asset"]: Decimal(b["available"]) + Decimal(b["locked"]) for b in client.balances()
        }
        if funds and all(held.get(asset, 0) == 0 for asset in funds):
            for asset, amount in funds.items():
                balance_deposit(user_id=user.pk, asset=asset, amount=amount)
            logger.info(
                "funded bot user %s: %s",
                username,
                ", ".join(f"{amount} {asset}" for asset, amount in funds.items()),
            )
        return token.key
    finally:
        connections.close_all()  # the bot talks HTTP from here on


@dataclass(slots=True)
class MarketState:
    rules: MarketRules
    reference: ReferencePrice
    step: Decimal
    next_trade: float
    last_trade: Decimal | None = None


class Unavailable(Exception):
    """Web, engine or rate limit said "later": the cycle stops and the bot backs off, for
    at least the ``retry_after`` seconds the server asked (its Retry-After header)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@contextmanager
def unavailable_on_transient() -> Iterator[None]:
    """A transient ApiError (429, 502-504 from the gateway or the front proxy, no answer
    at all) raised inside becomes :class:`Unavailable`; any other error stays as is."""
    try:
        yield
    except ApiError as exc:
        if exc.transient:
            raise Unavailable(str(exc), exc.retry_after) from exc
        raise


class MarketMaker(Service):
    name = "marketmaker"
    slow_batch = 5.0
    backoff_max = 30.0
    point_in_time = ("refs",)

    def __init__(self, config: BotConfig, *, duration: float | None = None) -> None:
        super().__init__()
        self.config = config
        self.stop_at = time.monotonic() + duration if duration is not None else None
        self.progress_interval = config.progress_interval
        self.rng = random.Random(config.seed)  # noqa: S311 - simulated flow, not secrets
        self.maker = ApiClient(config.base_url)
        self.taker = ApiClient(config.base_url)
        self.markets: dict[str, MarketState] = {}
        self._markets_loaded = 0.0
        self._next_cycle = 0.0
        self._pause = 0.0  # current back-off, 0 when all is well
        self._paused_since = 0.0
        self._public_trades = True  # GET /markets/{s}/trades exists (later issue)
        self.mm_metrics = MarketMakerMetrics()
        self._fills_seen: int | None = None  # the maker's newest fill id counted

    # -- set-up -------------------------------------------------------------------------

    def wait_healthy(self) -> bool:
        """Poll /healthz until it answers 200 (backing off up to max_backoff, one log
        line when waiting starts); False if a stop came first."""
        delay, logged = 0.5, False
        while not self.stop_requested.is_set():
            if self.maker.healthy():
                if logged:
                    logger.info("%s: %s is healthy", self.name, self.config.base_url)
                return True
            if not logged:
                logger.info("%s: waiting for %s/healthz", self.name, self.config.base_url)
                logged = True
            self.stop_requested.wait(delay)
            delay = min(self.config.max_backoff, delay * 2)
        return False

    def usernames(self) -> list[str]:
        """The accounts this bot trades with: the maker and its taker."""
        return [self.config.username, f"{self.config.username}-taker"]

    def setup(self) -> None:
        if not self.wait_healthy():
            return
        funds = self.config.funds
        maker, taker = self.usernames()
        ensure_bot_user(maker, funds, self.maker)
        ensure_bot_user(taker, funds, self.taker)
        self.load_markets()

    def load_markets(self) -> None:
        wanted = set(self.config.markets)
        seen = set()
        for market in self.maker.markets():
            rules = MarketRules.from_api(market)
            if wanted and rules.symbol not in wanted:
                continue
            seen.add(rules.symbol)
            state = self.markets.get(rules.symbol)
            if state is not None:
                state.rules = rules  # status or rules changed
                continue
            price = self.initial_price(rules)
            self.markets[rules.symbol] = MarketState(
                rules=rules,
                reference=ReferencePrice(
                    price=price,
                    anchor=self.config.reference_prices.get(rules.symbol, price),
                    volatility_bps=self.config.volatility_bps,
                    mode=self.config.reference,
                ),
                step=grid_step(rules, price, self.config.ladder.step_bps),
                next_trade=time.monotonic() + self.rng.uniform(0.5, 1.0),
            )
            logger.info(
                "%s: quoting %s around %s (levels %d, step %s)",
                self.name,
                rules.symbol,
                price,
                self.config.ladder.levels,
                self.markets[rules.symbol].step,
            )
        for symbol in set(self.markets) - seen:
            del self.markets[symbol]
        missing = wanted - seen
        if missing:
            logger.warning("%s: no such markets: %s", self.name, ", ".join(sorted(missing)))
        self._markets_loaded = time.monotonic()

    def initial_price(self, rules: MarketRules) -> Decimal:
        """The book's mid (its own quotes of a previous run included), else the configured
        price, else one side of the book, else DEFAULT_REFERENCE."""
        depth = self.maker.depth(rules.symbol, 1)
        bid = Decimal(depth["bids"][0][0]) if depth.get("bids") else None
        ask = Decimal(depth["asks"][0][0]) if depth.get("asks") else None
        if bid and ask:
            return rules.price_floor((bid + ask) / 2)
        configured = self.config.reference_prices.get(rules.symbol)
        return configured or bid or ask or DEFAULT_REFERENCE

    # -- the loop -----------------------------------------------------------------------

    def fetch(self) -> list[str]:
        wait = self._next_cycle - time.monotonic()
        if wait > 0:
            self.stop_requested.wait(wait)
        if self.stop_at is not None and time.monotonic() >= self.stop_at:
            self.stop()
        if self.stop_requested.is_set():
            return []
        self._next_cycle = time.monotonic() + max(self.config.refresh, self._pause)
        return list(self.markets)

    def handle(self, batch: list[str]) -> dict[str, Any]:
        counters: Counter[str] = Counter()
        counters["cycles"] = 1
        try:
            with unavailable_on_transient():
                # the market list's refresh meets an outage as often as a cycle does
                if time.monotonic() - self._markets_loaded > self.config.markets_refresh:
                    self.load_markets()
                    batch = list(self.markets)
                self.cycle(batch, counters)
        except Unavailable as exc:
            counters["unavailable"] += 1
            self.mm_metrics.unavailable.inc()
            if not self._pause:
                self._paused_since = time.monotonic()
                logger.warning("%s: %s; backing off", self.name, exc)
            self._pause = min(self.config.max_backoff, max(0.5, self._pause * 2))
            # a 429's Retry-After is when the limit lets it in again: no sooner
            wait = max(self._pause, min(exc.retry_after, MAX_RETRY_AFTER))
            self._next_cycle = time.monotonic() + wait
        else:
            if self._pause:
                logger.info(
                    "%s: API back after %.1f s; quoting resumes",
                    self.name,
                    time.monotonic() - self._paused_since,
                )
            self._pause = 0.0
        result: dict[str, Any] = dict(counters)
        result["size"] = counters["placed"] + counters["cancelled"] + counters["crossing"]
        result["refs"] = " ".join(
            f"{s}={m.reference.price.quantize(m.rules.tick_size)}" for s, m in self.markets.items()
        )
        return result

    def describe(self, counters: dict[str, Any]) -> str:
        counters = {k: v for k, v in counters.items() if k != "size"}
        return super().describe(counters)

    def recover(self, exc: BaseException) -> None:
        self.maker.close()
        self.taker.close()

    def cycle(self, symbols: list[str], counters: Counter[str]) -> None:
        """One refresh of every market's quotes (and a crossing order where one is due);
        a transient ApiError goes up as is (:meth:`handle` backs off)."""
        balances = self.maker.balances()
        wallet = Wallet.from_api(balances)
        totals = {b["asset"]: Decimal(b["available"]) + Decimal(b["locked"]) for b in balances}
        for symbol in symbols:
            state = self.markets[symbol]
            if state.rules.status != "trading":
                counters["skipped"] += 1
                continue
            self.quote(state, wallet, totals, counters)
            if time.monotonic() >= state.next_trade:
                self.cross(state, counters)
        self.count_maker_fills()

    # -- quoting ------------------------------------------------------------------------

    def _inventory(self, rules: MarketRules, totals: dict[str, Decimal]) -> tuple[Decimal, Decimal]:
        """The base held and this market's share of the quote held (the quote asset is
        shared by every market that quotes in it)."""
        sharing = sum(1 for m in self.markets.values() if m.rules.quote == rules.quote) or 1
        return totals.get(rules.base, Decimal(0)), totals.get(rules.quote, Decimal(0)) / sharing

    def quote(
        self,
        state: MarketState,
        wallet: Wallet,
        totals: dict[str, Decimal],
        counters: Counter[str],
    ) -> None:
        rules = state.rules
        current = [OpenOrder.from_api(o) for o in self.maker.open_orders(rules.symbol)]
        reference = state.reference.step(self.rng, self._last_trade(state))
        base, quote = self._inventory(rules, totals)
        bids, asks = build_ladder(
            rules, reference, state.step, self.config.ladder, self.rng, base=base, quote=quote
        )
        plan = plan_replace(current, bids, asks)
        resting = Counter(order.side for order in current)
        for order in plan.cancel_first:
            if self._cancel(rules, order, wallet, counters):
                resting[order.side] -= 1
        for quote_ in plan.place:
            if not wallet.can_afford(rules, quote_.side, quote_.price, quote_.quantity):
                counters["unaffordable"] += 1
                continue
            try:
                self.maker.place(
                    symbol=rules.symbol,
                    side=quote_.side,
                    type="limit",
                    price=quote_.price,
                    quantity=quote_.quantity,
                    post_only=True,  # a quote never takes: other users' orders stay theirs
                )
            except ApiError as exc:
                if exc.transient:
                    raise
                counters[f"rejected_{exc.code}"] += 1
                self.mm_metrics.orders(rules.symbol, "rejected")
                if exc.code == "market_halted":
                    break
                continue
            wallet.commit(rules, quote_.side, quote_.price, quote_.quantity)
            counters["placed"] += 1
            self.mm_metrics.orders(rules.symbol, "placed")
            resting[quote_.side] += 1
        for order in plan.cancel_after:
            if self._cancel(rules, order, wallet, counters):
                resting[order.side] -= 1
        self.mm_metrics.quotes(rules.symbol, resting["buy"], resting["sell"], float(reference))

    def _cancel(
        self, rules: MarketRules, order: OpenOrder, wallet: Wallet, counters: Counter[str]
    ) -> bool:
        try:
            self.maker.cancel(order.id)
        except ApiError as exc:
            if exc.transient:
                raise
            counters["cancel_missed"] += 1  # filled or cancelled meanwhile
            return False
        wallet.release(rules, order.side, order.price, order.remaining)
        counters["cancelled"] += 1
        self.mm_metrics.orders(rules.symbol, "cancelled")
        return True

    def count_maker_fills(self) -> None:
        """The maker's fills since the last cycle (among its newest 200, one request), per
        market; the first call only marks where counting starts."""
        fills = self.maker.fills(limit=200)
        newest = max((int(f["id"]) for f in fills), default=0)
        if self._fills_seen is not None:
            by_symbol = Counter(f["symbol"] for f in fills if int(f["id"]) > self._fills_seen)
            for symbol, n in by_symbol.items():
                self.mm_metrics.fills(symbol, "maker", n)
        self._fills_seen = max(newest, self._fills_seen or 0)

    def _last_trade(self, state: MarketState) -> Decimal | None:
        if self.config.reference != "last":
            return None
        if self._public_trades:
            try:
                trades = self.maker.request(
                    "GET", f"/api/v1/markets/{state.rules.symbol}/trades", limit=1
                )
                if trades:
                    return Decimal(trades[0]["price"])
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self._public_trades = False  # not served yet: the taker's own prints
        return state.last_trade

    # -- crossing -----------------------------------------------------------------------

    def cross(self, state: MarketState, counters: Counter[str]) -> None:
        """One IOC order from the taker bot at the best opposite price, so a trade prints
        (against the maker's quotes or anyone's), its side biased to rebalance the maker."""
        rules = state.rules
        state.next_trade = time.monotonic() + self.config.trade_interval * self.rng.uniform(
            0.5, 1.5
        )
        held = {
            b["asset"]: Decimal(b["available"]) + Decimal(b["locked"])
            for b in self.maker.balances()
        }
        base, quote = self._inventory(rules, held)
        side = taker_side(self.rng, inventory_share(base, quote, state.reference.price))
        depth = self.taker.depth(rules.symbol, 1)
        wallet = Wallet.from_api(self.taker.balances())
        ladder = self.config.ladder
        for candidate in (side, "sell" if side == "buy" else "buy"):
            levels = depth.get("asks" if candidate == "buy" else "bids") or []
            if not levels:
                continue
            price = Decimal(levels[0][0])
            notional = Decimal(
                repr(self.rng.uniform(float(ladder.size_min), float(ladder.size_max)))
            )
            quantity = rules.size_for(price, notional)
            if quantity is None or not wallet.can_afford(rules, candidate, price, quantity):
                continue
            try:
                reply = self.taker.place(
                    symbol=rules.symbol,
                    side=candidate,
                    type="limit",
                    price=price,
                    quantity=quantity,
                    time_in_force="IOC",
                )
            except ApiError as exc:
                if exc.transient:
                    raise
                counters[f"rejected_{exc.code}"] += 1
                self.mm_metrics.orders(rules.symbol, "rejected")
                return
            counters["crossing"] += 1
            fills = reply.get("fills") or []
            counters["trades"] += len(fills)
            self.mm_metrics.orders(rules.symbol, "crossing")
            self.mm_metrics.fills(rules.symbol, "taker", len(fills))
            if fills:
                state.last_trade = Decimal(fills[-1]["price"])
            return
        counters["no_crossing"] += 1


# -- load mode --------------------------------------------------------------------------


class LoadGenerator(Service):
    """``rate`` orders per second in all, from ``users`` bot users (a thread each, its own
    connection): limit orders around the book's mid, a third of them IOC at a crossing
    price, the rest GTC a little away from the mid; each user cancels all its orders every
    ``cancel_every`` orders so the books do not grow without bound. The progress lines
    give the rate achieved and the latency."""

    name = "marketmaker-load"
    point_in_time = ("p50_ms", "p99_ms")

    def __init__(
        self,
        config: BotConfig,
        *,
        rate: float,
        users: int,
        duration: float | None = None,
        cancel_every: int = 50,
    ) -> None:
        super().__init__()
        self.config = config
        self.rate = rate
        self.users = users
        self.duration = duration
        self.cancel_every = cancel_every
        self.progress_interval = config.progress_interval
        self.markets: list[MarketRules] = []
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def usernames(self) -> list[str]:
        """The accounts the load users trade with."""
        return [f"{self.config.username}-load-{i}" for i in range(1, self.users + 1)]

    def setup(self) -> None:
        if self._threads:  # a retry after a failure: the threads still run
            return
        probe = ApiClient(self.config.base_url)
        while not self.stop_requested.is_set() and not probe.healthy():
            self.stop_requested.wait(1.0)
        markets = [MarketRules.from_api(m) for m in probe.markets()]
        wanted = set(self.config.markets)
        self.markets = [
            m for m in markets if m.status == "trading" and (not wanted or m.symbol in wanted)
        ]
        if not self.markets:
            raise RuntimeError("no market to send orders to")
        clients = []
        for name in self.usernames():
            client = ApiClient(self.config.base_url)
            ensure_bot_user(name, self.config.funds, client)
            clients.append(client)
        self._started = time.monotonic()
        per_user = self.rate / self.users
        for i, client in enumerate(clients):
            seed = None if self.config.seed is None else self.config.seed + i
            thread = threading.Thread(
                target=self._drive, args=(client, per_user, seed), name=f"load-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def fetch(self) -> list[int]:
        self.stop_requested.wait(1.0)
        if self.duration is not None and time.monotonic() - self._started >= self.duration:
            self.stop()
        return [1]  # a tick: handle() collects what the threads counted

    def handle(self, batch: Any) -> dict[str, Any]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
            latencies, self._latencies = self._latencies, []
        result: dict[str, Any] = dict(counts)
        result["size"] = counts["orders"]
        if latencies:
            latencies.sort()
            result["p50_ms"] = round(latencies[len(latencies) // 2] * 1000, 1)
            result["p99_ms"] = round(latencies[int(len(latencies) * 0.99)] * 1000, 1)
        return result

    def run(self, *, max_batches: int | None = None, signals: bool = True) -> None:
        super().run(max_batches=max_batches, signals=signals)
        for thread in self._threads:
            thread.join(timeout=15)

    def _drive(self, client: ApiClient, rate: float, seed: int | None) -> None:
        rng = random.Random(seed)  # noqa: S311 - simulated flow, not secrets
        mids: dict[str, tuple[float, Decimal]] = {}
        interval = 1.0 / rate
        next_at = time.monotonic()
        sent = 0
        ladder = self.config.ladder
        while not self.stop_requested.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self.stop_requested.wait(delay):
                break
            next_at = max(next_at + interval, time.monotonic() - 1.0)  # no burst after a stall
            rules = rng.choice(self.markets)
            try:
                mid = self._mid(client, rules, mids)
                side = rng.choice(("buy", "sell"))
                sign = 1 if side == "buy" else -1
                crossing = rng.random() < 1 / 3
                offset = Decimal(
                    repr(rng.uniform(0.5, 2.0) if crossing else -rng.uniform(0.5, 5.0))
                )
                raw = mid * (1 + sign * offset * ladder.spread_bps / 10000)
                price = rules.price_floor(raw) if side == "buy" else rules.price_ceil(raw)
                notional = Decimal(
                    repr(rng.uniform(float(ladder.size_min), float(ladder.size_max)))
                )
                quantity = rules.size_for(price, notional)
                if quantity is None:
                    continue
                started = time.monotonic()
                client.place(
                    symbol=rules.symbol,
                    side=side,
                    type="limit",
                    price=price,
                    quantity=quantity,
                    time_in_force="IOC" if crossing else "GTC",
                )
                self._record("orders", time.monotonic() - started)
                sent += 1
                if sent % self.cancel_every == 0:
                    client.cancel_all()
                    self._record("cancel_all")
            except ApiError as exc:
                self._record("transient" if exc.transient else f"rejected_{exc.code}")
                if exc.transient:
                    self.stop_requested.wait(min(1.0, exc.retry_after or 0.5))
        try:
            client.cancel_all()
        except ApiError:
            pass

    def _mid(
        self, client: ApiClient, rules: MarketRules, mids: dict[str, tuple[float, Decimal]]
    ) -> Decimal:
        seen = mids.get(rules.symbol)
        if seen and time.monotonic() - seen[0] < 2.0:
            return seen[1]
        depth = client.depth(rules.symbol, 1)
        bid = Decimal(depth["bids"][0][0]) if depth.get("bids") else None
        ask = Decimal(depth["asks"][0][0]) if depth.get("asks") else None
        mid = (
            (bid + ask) / 2
            if bid and ask
            else (bid or ask or self.config.reference_prices.get(rules.symbol) or DEFAULT_REFERENCE)
        )
        mids[rules.symbol] = (time.monotonic(), mid)
        return mid

    def _record(self, key: str, latency: float | None = None) -> None:
        with self._lock:
            self._counts[key] += 1
            if latency is not None:
                self._latencies.append(latency)
