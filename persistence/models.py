"""What the DB processor has persisted, per engine shard."""

from __future__ import annotations

from django.db import models


class ProcessorState(models.Model):
    """The last engine sequence number whose effects are in the database, and the
    engine's counters at that point, written in the same transaction as those effects.
    Engine recovery starts from here and replays the stream after ``last_seq``."""

    shard = models.PositiveSmallIntegerField(primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    last_entry_id = models.CharField(max_length=32, default="0-0")
    engine_state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "engine_worker_processorstate"  # created by engine_worker before the move

    def __str__(self) -> str:
        return f"shard {self.shard} at {self.last_seq}"


class DeadLetter(models.Model):
    """An event-stream entry the DB processor could not persist for a reason in its
    content (a value the database cannot hold, text with a NUL byte, ...), kept whole
    so an operator can retry it (``manage.py dead_letters``, the admin) once the cause
    is fixed. The processor moves past it: see docs/event-stream.md, "Dead letters".

    Everything taken from the entry is stored as JSON *text* (not jsonb, which refuses
    ``\\u0000``), so any entry fits: ``fields`` holds the stream entry's raw fields
    (bytes decoded as UTF-8 with surrogateescape, so they round-trip exactly)."""

    shard = models.PositiveSmallIntegerField()
    entry_id = models.CharField(max_length=64, help_text="The event-stream entry id.")
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    fields = models.TextField(help_text="JSON: the stream entry's fields, as read.")
    error = models.TextField(help_text="Why it failed (the last attempt).")
    before = models.TextField(
        blank=True,
        help_text="JSON: the balances before the entry of each (user, asset) it changes, "
        "as the processor knew them; a retry derives the entry's ledger rows from them. "
        "Empty if the entry could not be read.",
    )
    after = models.TextField(
        blank=True,
        help_text="JSON: the entry's final balance per (user, asset), with its sequence; "
        "the processor's balance before a later entry (ledger derivation).",
    )
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["shard", "last_seq"], name="deadletter_shard_seq")]
        ordering = ["shard", "last_seq"]
        db_table = "engine_worker_deadletter"  # created by engine_worker before the move

    def __str__(self) -> str:
        return f"dead letter {self.pk}: shard {self.shard} seq {self.first_seq}-{self.last_seq}"
