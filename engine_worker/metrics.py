"""The engine worker's metrics (docs/operations.md, "Metrics"), served on its own port by
``manage.py run_engine`` (ENGINE_METRICS_PORT + shard).

The hot path pays one dict update per command (:class:`~infra.metrics.Tally`) and two
clock reads and two histogram observations per batch; the sequence and the resting
orders per market are read from the engine's memory when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, get_args

from prometheus_client import Counter, Gauge, Histogram

from engine_worker.core import commands as c
from infra.metrics import LATENCY_BUCKETS, SIZE_BUCKETS, MetricSet, ScrapeGauges, Tally

if TYPE_CHECKING:
    from engine_worker.runtime import EngineRuntime

# The wire kinds of the engine's commands (the core's, and the unlogged "Dump"); any other
# kind a malformed command names is counted as "other", so labels stay few.
KINDS = frozenset({cls.__name__ for cls in get_args(c.Command)} | {"Dump"})
OTHER = "other"


class EngineMetrics(MetricSet):
    def __init__(self, runtime: EngineRuntime) -> None:
        super().__init__()
        self.runtime = runtime
        shard = str(runtime.shard)
        self.shard = shard
        self.commands = self.add(
            Tally(
                "exchange_engine_commands",
                "Commands the engine took, by kind (PlaceOrder, CancelOrder, ...) and outcome "
                "(ok, or the rejection's code: insufficient_balance, duplicate_request, ...).",
                ("shard", "kind", "outcome"),
                preset=[(shard, kind, "ok") for kind in sorted(KINDS)],
                registry=None,
            )
        )
        self.batch_commands = self.add(
            Histogram(
                "exchange_engine_batch_commands",
                "Commands per batch (one RQ job) the engine applied.",
                ["shard"],
                buckets=SIZE_BUCKETS,
                registry=None,
            )
        ).labels(shard)
        self.apply_seconds = self.add(
            Histogram(
                "exchange_engine_batch_apply_seconds",
                "Time to apply a batch's commands in memory and build its commit (matching, "
                "rendering).",
                ["shard"],
                buckets=LATENCY_BUCKETS,
                registry=None,
            )
        ).labels(shard)
        self.commit_seconds = self.add(
            Histogram(
                "exchange_engine_batch_commit_seconds",
                "Time from sending a batch's commit to Redis to its answer (command log, "
                "event stream, read model, replies and publications in one MULTI/EXEC); the "
                "worker applies the next batch meanwhile.",
                ["shard"],
                buckets=LATENCY_BUCKETS,
                registry=None,
            )
        ).labels(shard)
        self.trades = self.add(
            Counter("exchange_engine_trades", "Trades the engine made.", ["shard"], registry=None)
        ).labels(shard)
        self.recovery_seconds = self.add(
            Gauge(
                "exchange_engine_recovery_seconds",
                "How long the engine's last start-up recovery took (snapshot and replay).",
                ["shard"],
                registry=None,
            )
        ).labels(shard)
        self.replayed = self.add(
            Gauge(
                "exchange_engine_replayed_commands",
                "Commands replayed from the command log at the engine's last start.",
                ["shard"],
                registry=None,
            )
        ).labels(shard)
        self.add(
            ScrapeGauges(
                {
                    "exchange_engine_sequence": (
                        "The sequence number of the last command the engine applied.",
                        ("shard",),
                    ),
                    "exchange_engine_resting_orders": (
                        "Orders resting in the book, per market.",
                        ("shard", "symbol"),
                    ),
                },
                self._read,
                registry=None,
            )
        )

    def _read(self) -> Iterator[tuple[str, tuple[str, ...], float]]:
        engine = self.runtime.engine
        shard = self.shard
        yield "exchange_engine_sequence", (shard,), float(engine.next_seq - 1)
        for symbol, count in engine.resting_orders().items():
            yield "exchange_engine_resting_orders", (shard, symbol), float(count)

    def count(self, commands: list[Any], replies: list[dict[str, Any]]) -> None:
        """A batch's commands by kind and outcome (one dict update each)."""
        counts = self.commands.counts
        shard = self.shard
        for command, reply in zip(commands, replies, strict=True):
            kind = command.get("kind") if isinstance(command, dict) else None
            if kind not in KINDS:
                kind = OTHER
            key = (shard, kind, "ok" if reply.get("ok") else str(reply.get("code")))
            counts[key] = counts.get(key, 0) + 1
