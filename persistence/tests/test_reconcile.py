"""`manage.py reconcile` against the session's engine worker (a subprocess), with the DB
processor's batch handler run in this process over the engine's stream."""

from __future__ import annotations

import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from accounts.models import Balance, Transfer
from apikit.testing import Scrape
from orders.models import Order
from orders.tests.helpers import place
from orders.tests.test_history import empty_history, persist  # noqa: F401 - a fixture
from persistence.models import DeadLetter
from persistence.reconcile import Reconciler

pytestmark = pytest.mark.django_db


def reconcile(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("reconcile", *args, "--db-timeout", "2", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def outcome(shard: int = 0) -> dict[str, list[float]]:
    """The shard's last reconcile as the web's /metrics shows it."""
    scrape = Scrape(Client().get("/metrics").content.decode())
    names = (
        "last_run_timestamp_seconds",
        "finished",
        "differences",
        "last_success_timestamp_seconds",
    )
    return {n: scrape.matching(f"exchange_reconcile_{n}", shard=str(shard)) for n in names}


@pytest.fixture
def busy_market(make_trader, market, empty_history):  # noqa: F811
    """Fills, a cancel and resting orders on both sides, all persisted."""
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="100", quantity="0.5")
    place(buyer, symbol=market, side="buy", price="100", quantity="0.2")
    resting = place(buyer, symbol=market, side="buy", price="90", quantity="0.3")["order"]
    gone = place(buyer, symbol=market, side="buy", price="80", quantity="0.1")["order"]
    buyer.delete(f"/api/v1/orders/{gone['id']}")
    persist()
    return seller, buyer, resting


def test_in_sync_exits_0_with_no_differences(busy_market):
    started = time.time()
    code, out, err = reconcile()
    assert code == 0, out + err
    assert "no differences" in out
    assert "read model compared" in out
    assert "waiting" not in err
    # its outcome, for the alerts (docs/operations.md)
    seen = outcome()
    assert seen["finished"] == [1] and seen["differences"] == [0]
    assert started <= seen["last_run_timestamp_seconds"][0] <= time.time()
    assert seen["last_success_timestamp_seconds"] == seen["last_run_timestamp_seconds"]


def test_a_tampered_balance_is_named_and_exits_1(busy_market):
    _, buyer, _ = busy_market
    Balance.objects.filter(user_id=buyer.user_id, asset="USDT").update(
        available=F("available") + Decimal("0.5")
    )
    code, out, _ = reconcile()
    assert code == 1
    rows = [line.split() for line in out.splitlines()]
    assert ["balance", str(buyer.user_id), "USDT"] in [r[:3] for r in rows]
    # the one balance and the asset's total; nothing else
    assert sum(1 for r in rows if r[:1] == ["balance"]) == 1
    assert any(line.startswith("total") and "USDT" in line for line in out.splitlines())
    seen = outcome()
    assert seen["finished"] == [1] and seen["differences"] == [2]
    # not a success: the last one (if any) is older than this run
    assert all(
        t < seen["last_run_timestamp_seconds"][0] for t in seen["last_success_timestamp_seconds"]
    )


def test_a_missing_open_order_is_named_and_exits_1(busy_market):
    _, buyer, resting = busy_market
    Order.objects.filter(id=resting["id"]).delete()
    code, out, _ = reconcile()
    assert code == 1
    line = next(x for x in out.splitlines() if f"order {resting['id']}" in x)
    assert line.split()[:2] == ["order", str(buyer.user_id)]
    assert line.split()[-2:] == ["open", "missing"]


def test_an_order_open_in_the_database_only_is_named(busy_market):
    _, _, resting = busy_market
    Order.objects.filter(id=resting["id"]).update(filled_quantity=Decimal("0.1"))
    code, out, _ = reconcile()
    assert code == 1
    assert f"order {resting['id']} filled_quantity" in out


def test_totals_against_deposits_minus_withdrawals(busy_market):
    transfer = Transfer.objects.filter(asset="ETH", kind="deposit").first()
    Transfer.objects.filter(pk=transfer.pk).update(amount=F("amount") + 1)
    code, out, _ = reconcile()
    assert code == 1
    totals = [x for x in out.splitlines() if x.startswith("total")]
    assert len(totals) == 1 and "ETH" in totals[0], out
    assert "balance " not in out


def test_a_dead_letter_is_a_difference_printed_with_how_to_retry(busy_market):
    dead = DeadLetter.objects.create(
        shard=0,
        entry_id="1-0",
        first_seq=7,
        last_seq=9,
        fields="{}",
        error="psycopg.errors.NumericValueOutOfRange: numeric field overflow",
    )
    DeadLetter.objects.create(  # another shard's: not this report's
        shard=5, entry_id="1-0", first_seq=1, last_seq=1, fields="{}", error="x"
    )
    code, out, _ = reconcile()
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("dead letter")]
    assert "seq 7-9" in line and "numeric field overflow" in line
    assert f"manage.py dead_letters retry {dead.pk}" in line
    assert "1 differences" in out


def test_rows_changed_after_the_dump_are_skipped_not_reported(busy_market, make_trader, market):
    seller, _, _ = busy_market
    reconciler = Reconciler(0, db_timeout=2, progress_every=1, progress=lambda line: None)
    report = reconciler.run()
    assert report.ok and report.skipped == 0
    assert report.balances_compared > 0 and report.orders_compared >= 2
    # the database ahead of the dump: its rows are skipped
    Balance.objects.filter(user_id=seller.user_id).update(sequence=10**12)
    report = reconciler.run()
    assert report.ok, report.differences
    assert report.skipped == Balance.objects.filter(user_id=seller.user_id).count()


def test_the_database_behind_exits_2(busy_market, make_trader):
    make_trader()  # commands the database has not seen
    code, _, err = reconcile()
    assert code == 2
    assert "DB processor" in err
    seen = outcome()
    assert seen["finished"] == [0] and seen["differences"] == [0]


def test_no_engine_exits_2_with_a_clear_error(engine):
    code, _, err = reconcile("--shard", "7", "--engine-timeout", "1")
    assert code == 2
    assert "shard 7" in err


def test_stop_orders_lists_and_queue_places_are_compared(busy_market, market):
    seller, buyer, resting = busy_market
    stop = place(seller, symbol=market, side="sell", type="stop_limit", price="90",
                 stop_price="95", quantity="0.1")["order"]  # fmt: skip
    listed = seller.post("/api/v1/order-lists", {"symbol": market, "side": "sell",
                         "quantity": "0.1", "price": "120", "stop_price": "96"},
                         format="json").json()  # fmt: skip
    persist()
    code, out, err = reconcile()
    assert code == 0, out + err  # pending stops and lists agree as they are
    Order.objects.filter(id=stop["id"]).update(stop_price=Decimal(94))
    Order.objects.filter(id=listed["id"]).update(order_list_id=None)
    Order.objects.filter(id=resting["id"]).update(priority=F("priority") + 10**6)
    code, out, _ = reconcile()
    assert code == 1
    assert f"order {stop['id']} stop_price" in out
    assert f"order {listed['id']} order_list_id" in out
    assert f"order {resting['id']} priority" in out
