"""Orders and fills history: the database, with the read model laid over it.

The engine worker runs as a subprocess; the DB processor's batch handler runs in this
process over the engine's stream (``persist``), inside the test's transaction. Until it
has run, history comes from the read model alone (read-your-writes); after, from the
database; in between, from both, and the pages must not change."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from accounts.models import Balance, LedgerEntry, Transfer
from infra import keys
from orders.models import Order, Trade
from orders.tests.helpers import place
from persistence.dbprocessor import processor_for
from persistence.models import ProcessorState

pytestmark = pytest.mark.django_db

SHARD = 0


def persist() -> None:
    """What the DB processor does, in this process: apply the shard's stream (entries
    already applied are skipped)."""
    conn = redis.Redis.from_url(settings.REDIS_URL)
    entries = conn.xrange(keys.events_stream(SHARD))
    processor_for(SHARD, trim_every=0).apply(entries)


@pytest.fixture
def empty_history(engine):
    """The database as if the DB processor had never run (rolled back with the test):
    ``persist`` then writes the whole session's stream."""
    for model in (ProcessorState, Order, Trade, Balance, LedgerEntry, Transfer):
        model.objects.all().delete()


def orders(client, query: str = "status=closed") -> dict:
    response = client.get(f"/api/v1/orders?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def fills(client, query: str = "") -> dict:
    response = client.get(f"/api/v1/trades?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def trade_a_little(make_trader, market: str):
    """A seller whose order fills, a buyer with a filled, a cancelled and an open order."""
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="100", quantity="0.5")
    place(buyer, symbol=market, side="buy", price="100", quantity="0.5")  # fills the seller
    cancelled = place(buyer, symbol=market, side="buy", price="90", quantity="0.1")["order"]
    assert buyer.delete(f"/api/v1/orders/{cancelled['id']}").status_code == 200
    place(buyer, symbol=market, side="buy", price="80", quantity="0.1")  # stays open
    return seller, buyer


def test_closed_orders_are_visible_before_and_after_the_database_has_them(
    make_trader, market, empty_history
):
    seller, buyer = trade_a_little(make_trader, market)
    before_closed, before_all = orders(buyer), orders(buyer, "status=all")
    assert Order.objects.count() == 0  # read-your-writes: all from the read model

    assert [o["status"] for o in before_closed["results"]] == ["cancelled", "filled"]
    assert [o["status"] for o in before_all["results"]] == ["new", "cancelled", "filled"]
    assert before_all["count"] == 3
    assert [o["status"] for o in orders(seller)["results"]] == ["filled"]

    persist()
    assert Order.objects.filter(user_id=buyer.user_id).count() == 3
    assert orders(buyer) == before_closed
    assert orders(buyer, "status=all") == before_all

    # the database's rows come out in exactly the read model's shape
    only_db = orders(buyer, "status=all")["results"]
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete(keys.rm_closed_orders(buyer.user_id))
    assert orders(buyer, "status=all")["results"] == only_db


def test_an_order_changed_after_the_database_shows_its_newer_state(
    make_trader, market, empty_history
):
    seller, buyer = make_trader(), make_trader()
    resting = place(seller, symbol=market, side="sell", price="100", quantity="1")["order"]
    persist()  # the database has the order open
    place(buyer, symbol=market, side="buy", price="100", quantity="0.4")
    assert Order.objects.get(id=resting["id"]).status == "new"

    listed = orders(seller, "status=all")["results"]
    assert [(o["id"], o["status"], o["filled_quantity"]) for o in listed] == [
        (resting["id"], "partially_filled", "0.4")
    ]
    assert orders(seller)["results"] == []  # still open: not closed

    seller.delete(f"/api/v1/orders/{resting['id']}")
    closed = orders(seller)["results"]
    assert [(o["id"], o["status"]) for o in closed] == [(resting["id"], "cancelled")]
    persist()
    assert orders(seller)["results"] == closed


def test_pages_are_consistent_while_the_database_catches_up(make_trader, market, empty_history):
    trader = make_trader()

    def cancelled_order(price: str) -> int:
        order = place(trader, symbol=market, side="buy", price=price, quantity="0.01")["order"]
        trader.delete(f"/api/v1/orders/{order['id']}")
        return order["id"]

    first = [cancelled_order(str(100 + i)) for i in range(4)]
    persist()  # the first four in the database, the next three only in the read model
    later = [cancelled_order(str(200 + i)) for i in range(3)]
    newest_first = sorted(first + later, reverse=True)
    # an old order closed after the database saw it open makes the overlay non-contiguous
    old = place(trader, symbol=market, side="buy", price="150", quantity="0.01")["order"]
    persist()
    trader.delete(f"/api/v1/orders/{old['id']}")
    newest_first = sorted([*newest_first, old["id"]], reverse=True)

    whole = orders(trader, f"status=closed&symbol={market}&limit=100")
    assert whole["count"] == 8
    assert [o["id"] for o in whole["results"]] == newest_first
    for limit in (1, 2, 3, 5):
        seen = []
        for offset in range(0, 10, limit):
            page = orders(trader, f"status=closed&limit={limit}&offset={offset}")
            assert page["count"] == 8
            assert (page["next"] is None) == (offset + limit >= 8)
            assert (page["previous"] is None) == (offset == 0)
            seen += page["results"]
        assert seen == whole["results"], limit

    persist()
    assert orders(trader, "status=closed&limit=100") == whole


def test_another_users_orders_and_fills_never_appear(make_trader, market, empty_history):
    seller, buyer = trade_a_little(make_trader, market)
    outsider = make_trader()
    place(outsider, symbol=market, side="buy", price="10", quantity="0.1")
    for _ in range(2):
        assert orders(outsider)["results"] == []
        assert [o["user_id"] for o in orders(outsider, "status=all")["results"]] == [
            outsider.user_id
        ]
        assert fills(outsider)["results"] == []
        for client in (seller, buyer):
            assert {o["user_id"] for o in orders(client, "status=all")["results"]} == {
                client.user_id
            }
            assert {f["user_id"] for f in fills(client)["results"]} == {client.user_id}
        persist()
    buyers_order = orders(buyer)["results"][0]["id"]
    response = outsider.get(f"/api/v1/orders/{buyers_order}")
    assert response.status_code == 404


def test_fills_come_from_the_read_model_then_the_database(make_trader, market, empty_history):
    seller, buyer = make_trader(), make_trader()
    place(seller, symbol=market, side="sell", price="100", quantity="0.3")
    taken = place(buyer, symbol=market, side="buy", price="100", quantity="0.1")
    persist()
    place(buyer, symbol=market, side="buy", price="100", quantity="0.2")
    assert Trade.objects.filter(taker_user_id=buyer.user_id).count() == 1

    before = fills(buyer)
    assert before["count"] == 2
    assert [f["quantity"] for f in before["results"]] == ["0.2", "0.1"]
    assert before["results"][1] == {**taken["fills"][0], "user_id": buyer.user_id}
    maker_side = fills(seller)["results"]
    assert [(f["role"], f["side"], f["fee_asset"]) for f in maker_side] == [
        ("maker", "sell", "USDT"),
        ("maker", "sell", "USDT"),
    ]
    persist()
    assert fills(buyer) == before
    assert fills(seller)["results"] == maker_side
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete(keys.rm_fills(buyer.user_id), keys.rm_fills(seller.user_id))
    assert fills(buyer) == before  # all from the database now, same shape
    assert fills(seller)["results"] == maker_side
    assert fills(buyer, f"symbol={market}")["count"] == 2
    assert fills(buyer, "symbol=ETH_USDT")["count"] == 0
    page = fills(buyer, "limit=1&offset=1")
    assert page["results"] == before["results"][1:]


def test_a_closed_order_expired_from_the_read_model_is_read_from_the_database(
    make_trader, market, empty_history
):
    trader = make_trader()
    order = place(
        trader, symbol=market, side="buy", price="10", quantity="0.1", client_order_id="h-1"
    )["order"]
    cancelled = trader.delete(f"/api/v1/orders/{order['id']}").json()
    persist()
    conn = redis.Redis.from_url(settings.REDIS_URL)
    conn.delete(keys.rm_order(order["id"]), keys.rm_client_order_ids(trader.user_id))
    response = trader.get(f"/api/v1/orders/{order['id']}")
    assert response.status_code == 200
    assert response.json() == cancelled
    by_client_id = orders(trader, "client_order_id=h-1")["results"]
    assert by_client_id == [cancelled]
    assert make_trader().get(f"/api/v1/orders/{order['id']}").status_code == 404


def test_history_lists_take_a_fixed_number_of_queries(
    make_trader, market, empty_history, django_assert_num_queries
):
    seller, buyer = trade_a_little(make_trader, market)
    persist()
    trade_a_little(make_trader, market)
    place(seller, symbol=market, side="sell", price="100", quantity="0.1")
    place(buyer, symbol=market, side="buy", price="100", quantity="0.1")  # overlay: new
    # the database's sequences of the read model's ids, one count, one page (the token is
    # cached since the trader's first request: accounts/tokens.py)
    with django_assert_num_queries(3):
        assert orders(buyer, "status=all&limit=2")["count"] == 4
    with django_assert_num_queries(3):
        assert fills(buyer)["count"] == 2
    with django_assert_num_queries(3):
        orders(seller, "status=closed&offset=1")


def test_the_admin_shows_the_history_read_only(
    make_trader, market, empty_history, django_user_model
):
    from django.test import Client

    seller, buyer = trade_a_little(make_trader, market)
    persist()
    django_user_model.objects.create_superuser("root", "root@example.com", "admin-pass-9")
    web = Client()
    assert web.login(username="root", password="admin-pass-9")
    buyer_name = django_user_model.objects.get(pk=buyer.user_id).username

    for model in ("orders/order", "orders/trade", "accounts/ledgerentry", "accounts/transfer"):
        page = web.get(f"/admin/{model}/?q={buyer.user_id}")
        assert page.status_code == 200, model
        assert buyer_name.encode() in page.content, model
        assert web.get(f"/admin/{model}/?q={buyer_name}").status_code == 200
        assert web.get(f"/admin/{model}/add/").status_code == 403
    orders_page = web.get(f"/admin/orders/order/?q={market}&status__exact=cancelled")
    assert orders_page.context["cl"].result_count == 1

    balance = Balance.objects.get(user_id=buyer.user_id, asset="USDT")
    listed = web.get(f"/admin/accounts/balance/?q={buyer.user_id}")
    assert listed.context["cl"].result_count == 3
    ledger_url = f"/admin/accounts/ledgerentry/?user_id={buyer.user_id}&amp;asset=USDT"
    assert ledger_url.encode() in listed.content
    ledger = web.get(f"/admin/accounts/ledgerentry/?user_id={buyer.user_id}&asset=USDT")
    entries = LedgerEntry.objects.filter(user_id=buyer.user_id, asset="USDT")
    assert ledger.context["cl"].result_count == entries.count() > 1
    detail = web.get(f"/admin/accounts/balance/{balance.pk}/change/")
    assert detail.status_code == 200
    assert b"Latest ledger entries" in detail.content and b"trade" in detail.content
    assert web.post(f"/admin/accounts/balance/{balance.pk}/change/", {}).status_code == 403
    assert web.post(f"/admin/accounts/balance/{balance.pk}/delete/", {}).status_code == 403
    assert Balance.objects.filter(pk=balance.pk).exists()
