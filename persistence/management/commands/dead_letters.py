from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from persistence.deadletters import (
    dead_letters,
    describe,
    retry_all,
    retry_dead_letter,
    sequence_range,
)
from persistence.models import DeadLetter

ERROR_WIDTH = 100  # characters of the error shown by "list"


class Command(BaseCommand):
    help = (
        "The DB processor's dead-letter store: stream entries it could not persist because "
        "of their content (docs/event-stream.md). list [--shard N]; show ID; retry ID; "
        "retry --all [--shard N]. A retry re-applies the entry and removes it on success "
        "(exit 1 if any retry failed; the dead letter keeps the new error)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "show", "retry"])
        parser.add_argument("id", nargs="?", type=int, help="The dead letter's id.")
        parser.add_argument("--all", action="store_true", help="retry: every dead letter.")
        parser.add_argument("--shard", type=int, help="list / retry --all: one shard only.")

    def handle(
        self,
        *args: object,
        action: str,
        id: int | None,  # noqa: A002 - the argument's name
        all: bool,  # noqa: A002
        shard: int | None,
        **options: object,
    ) -> None:
        if action == "list":
            self.list(shard)
        elif action == "show":
            if id is None:
                raise CommandError("show needs a dead letter id")
            dead = DeadLetter.objects.filter(pk=id).first()
            if dead is None:
                raise CommandError(f"no dead letter {id}")
            self.stdout.write(describe(dead))
        elif all:
            if id is not None:
                raise CommandError("retry takes an id or --all, not both")
            persisted, failed = retry_all(shard)
            self.stdout.write(f"{persisted} persisted, {failed} failed")
            if failed:
                sys.exit(1)
        else:
            if id is None:
                raise CommandError("retry needs a dead letter id, or --all")
            ok, error = retry_dead_letter(id)
            if not ok:
                self.stdout.write(f"dead letter {id} failed: {error}")
                sys.exit(1)
            self.stdout.write(f"dead letter {id} persisted")

    def list(self, shard: int | None) -> None:
        rows = list(dead_letters(shard))
        if not rows:
            self.stdout.write("no dead letters")
            return
        header = ("id", "shard", "sequences", "entry", "attempts", "died", "error")
        table = [header] + [
            (
                str(d.pk),
                str(d.shard),
                sequence_range(d),
                d.entry_id,
                str(d.attempts),
                f"{d.created_at:%Y-%m-%d %H:%M:%S}",
                d.error[:ERROR_WIDTH],
            )
            for d in rows
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
        for row in table:
            cells = [v.ljust(w) for v, w in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
        self.stdout.write(f"{len(rows)} dead letters; retry: manage.py dead_letters retry ID")
