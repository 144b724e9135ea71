from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.selectors import fee_account_id
from engine_worker.worker import check_market_shards, run_engine
from marketdata.selectors import market_units_list
from persistence.snapshot import limits_load, timed_snapshot_load


class Command(BaseCommand):
    help = (
        "Run one engine shard: the worker of RQ queue engine.<shard>, which keeps the "
        "shard's order books and balances in memory (replayed from its command log) and "
        "applies the waiting jobs as one batch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", type=int, default=settings.ENGINE_DEFAULT_SHARD)
        parser.add_argument(
            "--burst", action="store_true", help="Stop when the queue is empty (tests)."
        )

    def handle(self, *args: object, shard: int, burst: bool, **options: object) -> None:
        check_market_shards(market_units_list())  # every shard's markets, not only this one's
        run_engine(
            shard=shard,
            redis_url=settings.REDIS_URL,
            fee_account=fee_account_id(),
            markets=market_units_list(shard=shard),
            snapshot=timed_snapshot_load(shard=shard),
            burst=burst,
            limits=limits_load(),
        )
