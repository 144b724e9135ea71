from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infra import metrics
from persistence.dbprocessor import processor_for


class Command(BaseCommand):
    help = (
        "Persist one engine shard's event stream (engine.events.<shard>) into PostgreSQL: "
        "orders, trades, balances, transfers and the ledger, one transaction per batch "
        "(consumer group dbprocessor). An entry that cannot be stored because of its "
        "content goes to the dead-letter store (manage.py dead_letters) and the rest goes "
        "on. SIGTERM/SIGINT stop after the current batch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", type=int, default=settings.ENGINE_DEFAULT_SHARD)
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Stream entries per batch (500)."
        )
        parser.add_argument(
            "--block-ms",
            type=int,
            default=1000,
            help="How long one read waits for new entries, in ms (1000).",
        )

    def handle(
        self, *args: object, shard: int, batch_size: int, block_ms: int, **options: object
    ) -> None:
        if shard < 0:
            raise CommandError("--shard must be 0 or more")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if block_ms < 1:
            raise CommandError("--block-ms must be at least 1")
        processor = processor_for(shard, batch_size=batch_size, block_ms=block_ms)
        metrics.serve(
            "dbprocessor",
            offset=shard,
            collectors=[processor.metrics, processor.processor_metrics],
        )
        processor.run()
