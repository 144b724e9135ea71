"""The DB processor never blocks on one entry: an entry that cannot be persisted for a
reason in its content goes to the dead-letter store, everything else is persisted, and an
operator can list and retry it (docs/event-stream.md, "Dead letters").

Entries are written by hand to a real Redis stream (shards of their own) and read by the
processor's own loop, against the real PostgreSQL. The poisoned entries are crafted
directly: the API paths that let such input in are being closed (issue 10)."""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal
from io import StringIO
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.models import Balance, LedgerEntry, Transfer
from accounts.selectors import fee_account_id
from apikit.testing import Scrape
from infra import keys
from orders.models import Order
from persistence.dbprocessor import GROUP, DbProcessor
from persistence.deadletters import retry_all, retry_dead_letter
from persistence.models import DeadLetter, ProcessorState
from persistence.tests.test_dbprocessor import _entry, _order

USER = 5_993_000  # users of these tests (no database user needed: no constraint)
TS = 1_795_000_000_500
BIG = "100000000000000000000"  # 10^20: numeric(38,18) holds less


@pytest.fixture
def conn() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def fresh_stream(conn: redis.Redis, shard: int) -> None:
    conn.delete(keys.events_stream(shard), keys.commands_stream(shard))


def write(conn: redis.Redis, shard: int, entries: list[tuple[bytes, dict]]) -> None:
    for entry_id, fields in entries:
        conn.xadd(keys.events_stream(shard), fields, id=entry_id)


def processor(conn: redis.Redis, shard: int, **options: Any) -> DbProcessor:
    proc = DbProcessor(
        shard, connection_=conn, fee_account=fee_account_id(), block_ms=10, **options
    )
    proc.setup()
    return proc


def drain(proc: DbProcessor) -> list[dict[str, Any]]:
    done = []
    while counters := proc.run_once():
        done.append(counters)
    return done


def deposit(seq: int, user: int, amount: str, after: str, locked: str = "0") -> dict[str, Any]:
    usdt = {"user_id": user, "asset": "USDT"}
    return {
        "seq": seq,
        "kind": "Deposit",
        "ts": TS + seq,
        "transfers": [{**usdt, "kind": "deposit", "amount": amount}],
        "balances": [{**usdt, "available": after, "locked": locked}],
    }


def place(seq: int, user: int, order_id: int, available: str, locked: str, **order: Any) -> dict:
    return {
        "seq": seq,
        "kind": "PlaceOrder",
        "ts": TS + seq,
        "orders": [_order(order_id, user, "new", seq, **order)],
        "balances": [{"user_id": user, "asset": "USDT", "available": available,
                      "locked": locked}],
    }  # fmt: skip


def one(seq: int, record: dict[str, Any]) -> tuple[bytes, dict]:
    return _entry(seq, seq, [record])


def ledger_sums(users: set[int]) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    sums: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    rows = LedgerEntry.objects.filter(user_id__in=users).values_list(
        "user_id", "asset", "delta_available", "delta_locked"
    )
    for user, asset, d_avail, d_locked in rows:
        sums[(user, asset)][0] += d_avail
        sums[(user, asset)][1] += d_locked
    return {k: (v[0], v[1]) for k, v in sums.items()}


def balances(users: set[int]) -> dict[tuple[int, str], tuple[Decimal, Decimal]]:
    rows = Balance.objects.filter(user_id__in=users)
    return {(b.user_id, b.asset): (b.available, b.locked) for b in rows}


def dead_letters(*args: str) -> str:
    out = StringIO()
    call_command("dead_letters", *args, stdout=out)
    return out.getvalue()


def poisoned_flow(shard: int, a: int, b: int, order_id: int, **poison: Any) -> list:
    """Nine entries: deposits and orders of two users; the fifth (seq 5) places an order
    of user ``a`` carrying ``poison``, and seq 6 builds on the balance it left."""
    return [
        one(1, deposit(1, a, "1000", "1000")),
        one(2, deposit(2, b, "500", "500")),
        one(3, place(3, b, order_id + 1, "490", "10")),
        one(4, deposit(4, b, "5", "495", "10")),
        one(5, place(5, a, order_id, "979", "21", **poison)),
        one(6, deposit(6, a, "100", "1079", "21")),  # on top of the dead entry's balance
        one(7, deposit(7, b, "5", "500", "10")),
        one(8, deposit(8, a + 2, "7", "7")),
        one(9, deposit(9, b, "1", "501", "10")),
    ]


@pytest.mark.django_db
def test_a_poisoned_entry_is_dead_lettered_and_everything_else_persisted(conn, caplog):
    shard, a, b, order_id = 21, USER, USER + 1, 21 * 10**12
    fresh_stream(conn, shard)
    write(conn, shard, poisoned_flow(shard, a, b, order_id, price=BIG))
    proc = processor(conn, shard, batch_size=100)
    with caplog.at_level(logging.ERROR, logger="persistence.dbprocessor"):
        (counters,) = drain(proc)
    assert (counters["entries"], counters["dead"], counters["commands"]) == (9, 1, 8)

    # the one entry, whole, with its error
    (dead,) = DeadLetter.objects.filter(shard=shard)
    assert (dead.first_seq, dead.last_seq, dead.entry_id, dead.attempts) == (5, 5, "5-0", 1)
    assert "numeric field overflow" in dead.error
    raw = conn.xrange(keys.events_stream(shard), "5-0", "5-0")[0][1]
    from persistence.dbprocessor import entry_from_json

    assert entry_from_json(dead.fields) == raw
    # logged as an error with its sequence range
    assert any(
        "seq 5-5" in r.getMessage() and "dead-letter" in r.getMessage() for r in caplog.records
    )

    # every other entry is persisted, and the processor's state is past the dead one
    assert not Order.objects.filter(id=order_id).exists()
    assert Order.objects.get(id=order_id + 1).status == "new"
    assert Transfer.objects.filter(user_id__in=[a, b, a + 2]).count() == 7
    state = ProcessorState.objects.get(shard=shard)
    assert (state.last_seq, state.last_entry_id) == (9, "9-0")
    assert state.engine_state["next_seq"] == 10
    assert balances({a, b, a + 2}) == {
        (a, "USDT"): (Decimal(1079), Decimal(21)),  # seq 6: the engine's value
        (b, "USDT"): (Decimal(501), Decimal(10)),
        (a + 2, "USDT"): (Decimal(7), Decimal(0)),
    }
    # seq 6 derived its ledger from the dead entry's balance: no mismatch
    assert not any("beyond its trades" in r.getMessage() for r in caplog.records)
    sums = ledger_sums({a, b, a + 2})
    assert sums[(b, "USDT")] == (Decimal(501), Decimal(10))
    assert sums[(a, "USDT")] == (Decimal(1100), Decimal(0))  # the lock of seq 5 is missing
    assert conn.xpending(keys.events_stream(shard), GROUP)["pending"] == 0

    # the processor keeps going on later entries
    write(conn, shard, [one(10, deposit(10, a + 2, "3", "10"))])
    (later,) = drain(proc)
    assert (later["entries"], later["dead"]) == (1, 0)
    assert ProcessorState.objects.get(shard=shard).last_seq == 10

    # /metrics counts it
    scrape = Scrape(Client().get("/metrics").content.decode())
    assert scrape.matching("exchange_dead_letters", shard=str(shard)) == [1]

    # the command lists and shows it
    listed = dead_letters("list")
    line = next(x for x in listed.splitlines() if x.split()[:1] == [str(dead.pk)])
    assert str(shard) in line.split() and "5-5" in line and "numeric field overflow" in line
    shown = dead_letters("show", str(dead.pk))
    assert "numeric field overflow" in shown and BIG in shown and "PlaceOrder" in shown

    # fixed at the cause (a wider column), the retry persists it and clears it
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE orders_order ALTER COLUMN price TYPE numeric(40, 18)")
    out = dead_letters("retry", str(dead.pk))
    assert "persisted" in out
    assert not DeadLetter.objects.filter(shard=shard).exists()
    order = Order.objects.get(id=order_id)
    assert (order.price, order.status, order.sequence) == (Decimal(BIG), "new", 5)
    # the newer balance row (seq 6) is not overwritten by the retried seq 5...
    row = Balance.objects.get(user_id=a, asset="USDT")
    assert (row.available, row.locked, row.sequence) == (Decimal(1079), Decimal(21), 6)
    # ...and the ledger adds up to the balances again: the lock came from seq 5's before
    assert ledger_sums({a, b, a + 2}) == balances({a, b, a + 2})
    assert list(
        LedgerEntry.objects.filter(user_id=a, sequence=5).values_list(
            "cause", "delta_available", "delta_locked", "order_id"
        )
    ) == [("lock", Decimal(-21), Decimal(21), order_id)]
    scrape = Scrape(Client().get("/metrics").content.decode())
    assert scrape.matching("exchange_dead_letters", shard=str(shard)) == []  # not configured
    # a second retry finds nothing to do
    assert retry_dead_letter(dead.pk) == (False, f"no dead letter {dead.pk}")


@pytest.mark.django_db
def test_after_a_restart_later_entries_still_build_on_a_dead_entry(conn, caplog):
    """With an empty balance cache (a restarted processor), a later entry's ledger comes
    from the dead entry's stored final balance, not the older database row."""
    shard, a, b, order_id = 22, USER + 10, USER + 11, 22 * 10**12
    fresh_stream(conn, shard)
    flow = poisoned_flow(shard, a, b, order_id, client_order_id="nul\x00byte")
    write(conn, shard, flow[:5])
    drain(processor(conn, shard, batch_size=100))
    (dead,) = DeadLetter.objects.filter(shard=shard)
    assert "0x00" in dead.error and "client_order_id" in dead.error
    assert "\x00" not in dead.error

    write(conn, shard, flow[5:])
    with caplog.at_level(logging.ERROR, logger="persistence.dbprocessor"):
        drain(processor(conn, shard, batch_size=100))  # a new processor: empty cache
    assert not any("beyond its trades" in r.getMessage() for r in caplog.records)
    assert list(
        LedgerEntry.objects.filter(user_id=a, sequence=6).values_list(
            "cause", "delta_available", "delta_locked"
        )
    ) == [("deposit", Decimal(100), Decimal(0))]
    assert ProcessorState.objects.get(shard=shard).last_seq == 9

    # the cause is still there: the retry fails again, the dead letter stays, new error kept
    DeadLetter.objects.filter(pk=dead.pk).update(error="old")
    with pytest.raises(SystemExit) as failed:
        dead_letters("retry", "--all")
    assert failed.value.code == 1
    dead.refresh_from_db()
    assert dead.attempts == 2 and dead.error != "old" and "0x00" in dead.error
    assert not Order.objects.filter(id=order_id).exists()
    assert not LedgerEntry.objects.filter(user_id=a, sequence=5).exists()  # nothing half-done


@pytest.mark.django_db
def test_an_entry_that_now_succeeds_is_retried_by_retry_all(conn):
    """A dead letter whose entry is fine (the cause was fixed elsewhere): retry --all
    persists it once; the balance it sets is kept as it is the newest for its key."""
    shard, user = 23, USER + 20
    fresh_stream(conn, shard)
    entry = one(1, deposit(1, user, "5", "5"))
    proc = processor(conn, shard)
    proc.bury(entry, ValueError("a cause fixed since"))
    assert ProcessorState.objects.get(shard=shard).last_seq == 1
    assert retry_all(shard=shard) == (1, 0)
    assert retry_all(shard=shard) == (0, 0)
    assert balances({user}) == {(user, "USDT"): (Decimal(5), Decimal(0))}
    assert ledger_sums({user}) == balances({user})
    assert Transfer.objects.filter(user_id=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_is_retried_not_dead_lettered(conn, caplog):
    shard, a, b, order_id = 24, USER + 30, USER + 31, 24 * 10**12
    fresh_stream(conn, shard)
    write(conn, shard, poisoned_flow(shard, a, b, order_id)[:4])  # nothing poisoned
    proc = DbProcessor(shard, connection_=conn, fee_account=fee_account_id(), block_ms=10)
    proc.backoff_initial = 0.05
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        dbname=s["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with caplog.at_level(logging.ERROR):
        proc.run(max_batches=1, signals=False)  # fails once, recovers, redoes the batch
    assert any("failure 1" in r.getMessage() for r in caplog.records)
    assert not DeadLetter.objects.exists()
    assert ProcessorState.objects.get(shard=shard).last_seq == 4
    assert Transfer.objects.filter(user_id__in=[a, b]).count() == 3


@pytest.mark.django_db
def test_the_admin_lists_shows_and_retries_dead_letters(conn, django_user_model):
    shard, user = 25, USER + 40
    fresh_stream(conn, shard)
    write(conn, shard, [
        one(1, deposit(1, user, "5", "5")),
        one(2, place(2, user, 25 * 10**12, "4", "1", client_order_id="a\x00b")),
        one(3, deposit(3, user, "1", "5", "1")),
    ])  # fmt: skip
    drain(processor(conn, shard))
    (poisoned,) = DeadLetter.objects.filter(shard=shard)
    fine = processor(conn, shard).bury(one(4, deposit(4, user, "2", "7", "1")), ValueError("x"))
    assert fine.dead == 1
    fixed = DeadLetter.objects.get(shard=shard, last_seq=4)

    web = Client()
    web.force_login(django_user_model.objects.create_superuser("dl-root", "r@example.com", "p"))
    listing = web.get("/admin/persistence/deadletter/").content.decode()
    assert "2-2" in listing and "4-4" in listing and "0x00" in listing
    detail = web.get(f"/admin/persistence/deadletter/{poisoned.pk}/change/").content.decode()
    assert "client_order_id" in detail and "PlaceOrder" in detail and "0x00" in detail

    done = web.post(
        "/admin/persistence/deadletter/",
        {"action": "retry", "_selected_action": [poisoned.pk, fixed.pk]},
        follow=True,
    )
    shown = [(m.level_tag, str(m)) for m in done.context["messages"]]
    assert ("error", f"dead letter {poisoned.pk} (shard {shard}, seq 2-2) failed again: "
            f"{DeadLetter.objects.get(pk=poisoned.pk).error}") in shown  # fmt: skip
    assert ("success", f"dead letter {fixed.pk} (shard {shard}, seq 4-4) persisted") in shown
    assert list(DeadLetter.objects.filter(shard=shard)) == [poisoned]
    assert Balance.objects.get(user_id=user).sequence == 4


@pytest.mark.django_db(transaction=True)  # recovery's REPEATABLE READ must come first
def test_engine_recovery_sees_what_a_dead_entry_did(conn):
    """ProcessorState is past the dead entry, so the command log after it does not
    replay it: recovery lays the dead letters over the database's snapshot, where their
    sequence is higher."""
    from persistence.snapshot import snapshot_load

    shard, a, b, x, y = 26, USER + 50, USER + 51, 26 * 10**12, 26 * 10**12 + 1
    fresh_stream(conn, shard)
    poisoned = place(3, a, y, "979", "21", price=BIG)
    # the same command also partly fills b's order x (older than the cancel at seq 4)
    poisoned["orders"].append(_order(x, b, "partially_filled", 3, filled_quantity="1"))
    write(conn, shard, [
        one(1, deposit(1, a, "1000", "1000")),
        one(2, place(2, b, x, "490", "10")),
        one(3, poisoned),
        one(4, {**place(4, b, x, "500", "0"), "kind": "CancelOrder",
                "orders": [_order(x, b, "cancelled", 4)]}),
    ])  # fmt: skip
    drain(processor(conn, shard))
    assert DeadLetter.objects.filter(shard=shard).count() == 1
    ProcessorState.objects.filter(shard=shard).update(
        engine_state={"markets": {"HAND_USDT": {}}, "next_seq": 5}
    )
    snapshot = snapshot_load(shard=shard)
    assert snapshot.last_seq == 4
    mine = {(u, asset): (av, lo) for u, asset, av, lo in snapshot.balances if u in (a, b)}
    assert mine == {
        (a, "USDT"): (Decimal(979), Decimal(21)),  # the dead entry's, newer than seq 1's row
        (b, "USDT"): (Decimal(500), Decimal(0)),  # seq 4's row, newer than nothing dead
    }
    open_orders = {o.id: o for o in snapshot.orders if o.id in (x, y)}
    assert list(open_orders) == [y]  # x was cancelled at seq 4: the older fill does not revive it
    assert (open_orders[y].price, open_orders[y].user_id) == (Decimal(BIG), a)


@pytest.mark.django_db
def test_an_entry_the_code_cannot_read_is_dead_lettered_too(conn):
    shard, user = 27, USER + 60
    fresh_stream(conn, shard)
    garbage = (b"2-0", {b"first_seq": b"2", b"last_seq": b"2", b"records": b"[{\xff not json",
                        b"state": b"{}"})  # fmt: skip
    write(conn, shard, [one(1, deposit(1, user, "5", "5")), garbage,
                        one(3, deposit(3, user, "1", "6"))])  # fmt: skip
    (counters,) = drain(processor(conn, shard))
    assert (counters["entries"], counters["dead"]) == (3, 1)
    (dead,) = DeadLetter.objects.filter(shard=shard)
    assert (dead.last_seq, dead.before, dead.after) == (2, "", "")
    assert "JSONDecodeError" in dead.error or "UnicodeDecodeError" in dead.error
    from persistence.dbprocessor import entry_from_json

    assert entry_from_json(dead.fields) == garbage[1]  # byte for byte, the 0xff included
    assert ProcessorState.objects.get(shard=shard).last_seq == 3
    assert balances({user}) == {(user, "USDT"): (Decimal(6), Decimal(0))}
    assert "\\udcff not json" in dead_letters("show", str(dead.pk))
