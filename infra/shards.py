"""Which engine shard may trade a market, until balances are sharded.

Every engine shard loads the balances from the same table, while deposits, withdrawals
and every command of no market go to the balance shard (``ENGINE_DEFAULT_SHARD``, see
``gateway.shard_of``). A market on another shard would either reject every order (its
engine never sees a deposit) or, after its first restart, spend every user's funds a
second time. So every market trades on the balance shard, and a configuration that says
otherwise is refused: the settings at start-up (ImproperlyConfigured), a new market in
market_create, add_market and the admin form (InvalidInput, a 400), and the catalogue at
engine start (engine_worker/worker.py). Splitting balances by shard is the step past one
core (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def balance_shard() -> int:
    """The one shard that holds the balances, hence the only one that may trade."""
    return int(settings.ENGINE_DEFAULT_SHARD)


def refusal(symbol: str, shard: int) -> str:
    """Why ``symbol`` may not trade on ``shard``, a shard other than the balance shard."""
    home = balance_shard()
    return (
        f"Market {symbol} cannot trade on engine shard {shard}: balances live on shard "
        f"{home} only (they are not sharded yet), so a market on another shard would spend "
        f"them twice. Put it on shard {home}."
    )


def foreign(markets: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (symbol, shard) pairs that are not on the balance shard."""
    home = balance_shard()
    return [(symbol, shard) for symbol, shard in markets if shard != home]


def check_settings() -> None:
    """ENGINE_SHARDS may only name the balance shard: refuse to start otherwise."""
    bad = foreign(settings.ENGINE_SHARDS.items())
    if bad:
        raise ImproperlyConfigured(
            "ENGINE_SHARDS: " + " ".join(refusal(symbol, shard) for symbol, shard in bad)
        )
