"""The dead-letter store: event-stream entries the DB processor set aside because their
content cannot be persisted (docs/event-stream.md, "Dead letters"). Listing, showing and
retrying them, for ``manage.py dead_letters``, the admin, /metrics and reconcile."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count

from accounts.models import Balance
from engine_worker.core.types import OPEN_STATUSES
from orders.models import Order
from persistence.models import DeadLetter

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db.models import QuerySet

    from persistence.snapshot import OrderRow

logger = logging.getLogger(__name__)

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
    from persistence.dbprocessor import processor_for

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


def recovery_overlay(
    shard: int,
    balances: list[tuple[int, str, Decimal, Decimal]],
    orders: list[OrderRow],
    markets: Iterable[str],
) -> tuple[list[tuple[int, str, Decimal, Decimal]], list[OrderRow]]:
    """Engine recovery's snapshot with the shard's dead entries laid over it: what the
    database would hold had they been persisted. ProcessorState is past them, so the
    command log after it does not replay them, yet the engine had applied them. A
    balance or an order state from a dead entry replaces the database's when its
    sequence is higher (the same forward-only rule as the processor's upserts). Run in
    the snapshot's transaction."""
    from persistence.dbprocessor import entry_from_json
    from persistence.snapshot import OrderRow

    dead = list(dead_letters(shard).values_list("pk", "fields"))
    if not dead:
        return balances, orders
    new_balances: dict[tuple[int, str], tuple[Decimal, Decimal, int]] = {}
    new_orders: dict[int, tuple[dict[str, Any], int]] = {}
    for pk, text in dead:
        fields = entry_from_json(text)
        try:
            for record in json.loads(fields.get(b"records", b"[]")):
                seq = int(record["seq"])
                for b in record.get("balances", ()):
                    key = (int(b["user_id"]), str(b["asset"]))
                    new_balances[key] = (Decimal(b["available"]), Decimal(b["locked"]), seq)
                priorities = record.get("priorities") or {}
                for o in record.get("orders", ()):
                    o = {**o, "priority": priorities.get(str(o["id"]))}
                    new_orders[int(o["id"])] = (o, int(o.get("sequence", seq)))
        except (ValueError, KeyError, TypeError, ArithmeticError):
            logger.error(  # noqa: TRY400 - the cause is in the message
                "recovery: dead letter %d of shard %d cannot be read: the engine starts "
                "without its effects (reconcile will show them)", pk, shard,
            )  # fmt: skip
    stored_seq = {
        (u, a): s
        for u, a, s in Balance.objects.filter(user_id__in={u for u, _ in new_balances}).values_list(
            "user_id", "asset", "sequence"
        )
    }
    by_key = {(u, a): (available, locked) for u, a, available, locked in balances}
    for key, (available, locked, seq) in new_balances.items():
        if seq > stored_seq.get(key, -1):
            by_key[key] = (available, locked)
    order_seq = dict(Order.objects.filter(id__in=list(new_orders)).values_list("id", "sequence"))
    symbols = set(markets)
    by_id = {row.id: row for row in orders}
    for order_id, (o, seq) in new_orders.items():
        if seq <= order_seq.get(order_id, -1):
            continue
        by_id.pop(order_id, None)
        if o["status"] in OPEN_STATUSES and o["symbol"] in symbols:
            price, quote = o.get("price"), o.get("filled_quote_quantity")
            stop, list_id, priority = o.get("stop_price"), o.get("order_list_id"), o.get("priority")
            by_id[order_id] = OrderRow(
                order_id, int(o["user_id"]), o["symbol"], o["side"], o["type"],
                o["time_in_force"], bool(o.get("post_only", False)),
                None if price is None else Decimal(price), Decimal(o["quantity"]),
                Decimal(o["filled_quantity"]), Decimal(quote or 0), o["status"],
                o.get("client_order_id"), int(o["created_at_ms"]), int(o["updated_at_ms"]),
                None if stop is None else Decimal(stop),
                None if list_id is None else int(list_id),
                None if priority is None else int(priority),
            )  # fmt: skip
    logger.warning(
        "recovery: shard %d has %d dead letters; their %d balances and %d orders are laid "
        "over the database's (manage.py dead_letters list)",
        shard, len(dead), len(new_balances), len(new_orders),
    )  # fmt: skip
    return (
        [(u, a, available, locked) for (u, a), (available, locked) in by_key.items()],
        sorted(by_id.values(), key=lambda row: (row.priority or row.id, row.id)),
    )
