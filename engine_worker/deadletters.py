"""The dead-letter store: event-stream entries the DB processor set aside because their
content cannot be persisted (docs/event-stream.md, "Dead letters"). Listing, showing and
retrying them, for ``manage.py dead_letters``, the admin, /metrics and reconcile."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.db.models import Count

from engine_worker.models import DeadLetter

if TYPE_CHECKING:
    from django.db.models import QuerySet

RETRY_HINT = "manage.py dead_letters retry {id}  (or retry --all; see docs/event-stream.md)"


def dead_letters(shard: int | None = None) -> QuerySet[DeadLetter]:
    rows = DeadLetter.objects.order_by("shard", "last_seq")
    return rows if shard is None else rows.filter(shard=shard)


def dead_letter_counts() -> dict[int, int]:
    """Dead letters per shard (shards with none are left out)."""
    rows = DeadLetter.objects.values("shard").annotate(n=Count("id")).order_by("shard")
    return {row["shard"]: row["n"] for row in rows}


def sequence_range(dead: DeadLetter) -> str:
    return f"{dead.first_seq}-{dead.last_seq}"


def payload(dead: DeadLetter) -> dict[str, Any]:
    """The stream entry's fields, with the JSON ones (records, state) decoded when they
    can be, for reading."""
    fields: dict[str, Any] = json.loads(dead.fields)
    for name in ("records", "state"):
        if name in fields:
            try:
                fields[name] = json.loads(fields[name])
            except ValueError:
                pass  # shown as it is
    return fields


def describe(dead: DeadLetter) -> str:
    """Everything about one dead letter, as text."""
    lines = [
        f"dead letter {dead.pk}: shard {dead.shard}, sequences {sequence_range(dead)}, "
        f"stream entry {dead.entry_id}",
        f"died {dead.created_at:%Y-%m-%d %H:%M:%S} UTC, {dead.attempts} attempt(s), "
        f"last {dead.last_attempt_at:%Y-%m-%d %H:%M:%S} UTC",
        f"error: {dead.error}",
        f"retry: {RETRY_HINT.format(id=dead.pk)}",
        "entry:",
        json.dumps(payload(dead), indent=2, sort_keys=True),
    ]
    if dead.before:
        lines += ["balances before it (user, asset, available, locked):", dead.before]
    return "\n".join(lines)


def retry_dead_letter(dead_letter_id: int) -> tuple[bool, str]:
    """Re-apply one dead entry through the DB processor's own code; deleted on success,
    kept with the new error otherwise. Returns (persisted, error)."""
    from engine_worker.dbprocessor import processor_for

    shard = DeadLetter.objects.filter(pk=dead_letter_id).values_list("shard", flat=True).first()
    if shard is None:
        return False, f"no dead letter {dead_letter_id}"
    return processor_for(shard, trim_every=0).retry(dead_letter_id)


def retry_all(shard: int | None = None) -> tuple[int, int]:
    """Retry every dead letter (of one shard), oldest first: (persisted, still failing)."""
    persisted = failed = 0
    for dead_letter_id in list(dead_letters(shard).values_list("id", flat=True)):
        ok, _ = retry_dead_letter(dead_letter_id)
        if ok:
            persisted += 1
        else:
            failed += 1
    return persisted, failed
