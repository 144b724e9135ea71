from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from persistence.reconcile import (
    DatabaseBehind,
    EngineNotAnswering,
    Reconciler,
    format_table,
    record_outcome,
)


class Command(BaseCommand):
    help = (
        "Compare one engine shard's live balances and open orders (a dump at sequence S) "
        "with the read model and with the database once the DB processor has committed S, "
        "and per asset the sum of all balances with deposits minus withdrawals; and the "
        "shard's dead letters (entries the DB processor could not persist). Prints a "
        "table of differences. Exit 0: none; 1: differences; 2: the engine did not answer "
        "or the database did not catch up. The outcome is kept for /metrics "
        "(exchange_reconcile_*; docs/operations.md): run it on a schedule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", type=int, default=settings.ENGINE_DEFAULT_SHARD)
        parser.add_argument(
            "--engine-timeout", type=float, default=10.0, help="Seconds to wait for the dump."
        )
        parser.add_argument(
            "--db-timeout",
            type=float,
            default=30.0,
            help="Seconds to wait for the DB processor to reach the dump's sequence.",
        )
        parser.add_argument(
            "--progress-every", type=int, default=10_000, help="A progress line every N rows."
        )

    def handle(
        self,
        *args: object,
        shard: int,
        engine_timeout: float,
        db_timeout: float,
        progress_every: int,
        **options: object,
    ) -> None:
        if shard < 0:
            raise CommandError("--shard must be 0 or more")
        if engine_timeout <= 0 or db_timeout <= 0:
            raise CommandError("timeouts must be positive")
        reconciler = Reconciler(
            shard,
            engine_timeout=engine_timeout,
            db_timeout=db_timeout,
            progress_every=progress_every,
            progress=lambda line: self.stderr.write(line),
        )
        try:
            report = reconciler.run()
        except (EngineNotAnswering, DatabaseBehind) as exc:
            record_outcome(shard, differences=None)
            self.stderr.write(self.style.ERROR(f"reconcile: {exc}"))
            sys.exit(2)
        record_outcome(shard, differences=len(report.differences))
        summary = (
            f"shard {shard} at sequence {report.sequence}: {report.balances_compared} balances "
            f"and {report.orders_compared} open orders compared, {report.skipped} rows skipped "
            f"(changed after the dump), read model "
            f"{'compared' if report.read_model_compared else 'not compared'}"
        )
        if report.ok:
            self.stdout.write(f"{summary}: no differences")
            return
        self.stdout.write(format_table(report.differences))
        self.stdout.write(f"{summary}: {len(report.differences)} differences")
        dead = sum(1 for d in report.differences if d.what == "dead letter")
        if dead:
            self.stdout.write(
                f"{dead} stream entries are in the dead-letter store: fix the cause, then "
                "manage.py dead_letters retry ID (or retry --all); list: manage.py "
                "dead_letters list"
            )
        sys.exit(1)
