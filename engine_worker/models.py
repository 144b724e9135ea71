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

    def __str__(self) -> str:
        return f"shard {self.shard} at {self.last_seq}"
