"""The user admin's "Balances and orders" page: reads through the selectors, acts
through the services, shows refusals as admin messages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apikit.errors import EngineUnavailable
from orders.tests.helpers import balances, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(engine, django_user_model) -> Client:
    django_user_model.objects.create_superuser("root", "root@example.com", "admin-pass-9")
    web = Client()
    assert web.login(username="root", password="admin-pass-9")
    return web


def page(user_id: int) -> str:
    return f"/admin/auth/user/{user_id}/balances/"


def cancel_url(user_id: int, order_id: int) -> str:
    return f"/admin/auth/user/{user_id}/orders/{order_id}/cancel/"


def cancel_all_url(user_id: int) -> str:
    return f"/admin/auth/user/{user_id}/orders/cancel-all/"


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_user_change_page_links_to_balances(admin_web, make_trader):
    trader = make_trader()
    response = admin_web.get(f"/admin/auth/user/{trader.user_id}/change/")
    assert response.status_code == 200
    assert page(trader.user_id).encode() in response.content
    assert page(trader.user_id).encode() in admin_web.get("/admin/auth/user/").content


def test_balances_page_shows_the_traders_balances(admin_web, make_trader, market):
    trader = make_trader()
    place(trader, symbol=market, side="buy", price="100", quantity="1")
    response = admin_web.get(page(trader.user_id))
    assert response.status_code == 200
    assert {b["asset"]: (b["available"], b["locked"]) for b in response.context["balances"]} == {
        "BTC": ("1", "0"),
        "ETH": ("10", "0"),
        "USDT": ("9900", "100"),
    }
    assert b"9900" in response.content
    assert [o["symbol"] for o in response.context["orders"]] == [market]


def test_deposit_changes_the_balance_exactly(admin_web, make_trader):
    trader = make_trader()
    response = admin_web.post(
        page(trader.user_id) + "deposit/", {"asset": "USDT", "amount": "12.34567891"}, follow=True
    )
    assert response.redirect_chain == [(page(trader.user_id), 302)]
    assert [level for level, _ in messages_of(response)] == ["success"]
    assert balances(trader)["USDT"] == ("10012.34567891", "0")


def test_withdraw_changes_the_balance_and_refuses_more_than_available(admin_web, make_trader):
    trader = make_trader()
    admin_web.post(page(trader.user_id) + "withdraw/", {"asset": "BTC", "amount": "0.25"})
    assert balances(trader)["BTC"] == ("0.75", "0")
    response = admin_web.post(
        page(trader.user_id) + "withdraw/", {"asset": "BTC", "amount": "5"}, follow=True
    )
    # the first withdrawal's success, then this one's refusal
    [_, (level, text)] = messages_of(response)
    assert level == "error"
    assert "insufficient_balance" in text
    assert balances(trader)["BTC"] == ("0.75", "0")


def test_bad_amount_is_an_error_message_and_changes_nothing(admin_web, make_trader):
    trader = make_trader()
    # not a number, not positive, more decimals than BTC's 8, missing
    for amount in ["abc", "-1", "0", "NaN", "Infinity", "0.000000001", "1e400", ""]:
        for action in ("deposit/", "withdraw/"):
            response = admin_web.post(
                page(trader.user_id) + action, {"asset": "BTC", "amount": amount}, follow=True
            )
            assert response.status_code == 200
            assert [level for level, _ in messages_of(response)] == ["error"], (action, amount)
    assert balances(trader)["BTC"] == ("1", "0")


def test_engine_down_is_an_error_message(admin_web, make_trader, monkeypatch):
    trader = make_trader()

    def engine_down(*args, **kwargs):
        raise EngineUnavailable("Engine shard 0 is not running.")

    monkeypatch.setattr("accounts.services.engine_call", engine_down)
    monkeypatch.setattr("orders.services.engine_call", engine_down)
    for url, data in [
        (page(trader.user_id) + "deposit/", {"asset": "BTC", "amount": "1"}),
        (page(trader.user_id) + "withdraw/", {"asset": "BTC", "amount": "1"}),
        (cancel_all_url(trader.user_id), {}),
    ]:
        response = admin_web.post(url, data, follow=True)
        [(level, text)] = messages_of(response)
        assert (level, "engine_unavailable" in text) == ("error", True), url
    assert balances(trader)["BTC"] == ("1", "0")


def test_unknown_asset_is_an_error_message(admin_web, make_trader):
    trader = make_trader()
    response = admin_web.post(
        page(trader.user_id) + "deposit/", {"asset": "NOPE", "amount": "1"}, follow=True
    )
    [(level, _)] = messages_of(response)
    assert level == "error"


def test_cancel_from_admin_cancels_the_order(admin_web, make_trader, market):
    trader = make_trader()
    order = place(trader, symbol=market, side="buy", price="100", quantity="1")["order"]
    response = admin_web.post(cancel_url(trader.user_id, order["id"]), follow=True)
    assert [level for level, _ in messages_of(response)] == ["success"]
    assert trader.get(f"/api/v1/orders/{order['id']}").json()["status"] == "cancelled"
    assert balances(trader)["USDT"] == ("10000", "0")
    # Cancelling it again, or another user's order, is a message, not a 500.
    again = admin_web.post(cancel_url(trader.user_id, order["id"]), follow=True)
    assert [level for level, _ in messages_of(again)] == ["error"]
    other = make_trader()
    response = admin_web.post(cancel_url(other.user_id, order["id"]), follow=True)
    [(level, text)] = messages_of(response)
    assert (level, "unknown_order" in text) == ("error", True)


def test_cancel_all_in_one_market_from_admin(admin_web, make_trader, market):
    trader = make_trader()
    place(trader, symbol=market, side="buy", price="100", quantity="1")
    place(trader, symbol=market, side="sell", price="200", quantity="0.5")
    kept = place(trader, symbol="ETH_USDT", side="buy", price="1", quantity="2")["order"]
    admin_web.post(cancel_all_url(trader.user_id), {"symbol": market})
    assert [o["id"] for o in trader.get("/api/v1/orders").json()["results"]] == [kept["id"]]
    admin_web.post(cancel_all_url(trader.user_id))
    assert trader.get("/api/v1/orders").json()["results"] == []
    response = admin_web.post(cancel_all_url(trader.user_id), {"symbol": "NOPE_USDT"}, follow=True)
    assert messages_of(response)[-1][0] == "error"


def test_actions_need_post(admin_web, make_trader):
    trader = make_trader()
    assert admin_web.get(page(trader.user_id) + "deposit/").status_code == 405
    assert balances(trader)["BTC"] == ("1", "0")


def test_staff_without_change_permission_is_refused(engine, make_trader, django_user_model):
    trader = make_trader()
    staff = django_user_model.objects.create_user("clerk", password="clerk-pass-9", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    web = Client()
    web.force_login(staff)
    assert web.get(page(trader.user_id)).status_code == 403
    response = web.post(page(trader.user_id) + "deposit/", {"asset": "BTC", "amount": "1"})
    assert response.status_code == 403
    assert balances(trader)["BTC"] == ("1", "0")
    anonymous = Client().get(page(trader.user_id))
    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]


def change_form_data(response, **extra: str) -> dict[str, str]:
    """The user change form as the admin page fills it in, plus ``extra``."""
    form = response.context["adminform"].form
    data: dict[str, str] = {}
    for name in form.fields:
        bound = form[name]
        if bound.field.disabled:
            continue
        value = bound.value()
        if isinstance(value, list | tuple):
            continue  # groups, permissions: none
        if hasattr(value, "date") and callable(value.date):  # split date and time widgets
            data[f"{name}_0"], data[f"{name}_1"] = value.strftime("%Y-%m-%d %H:%M:%S").split()
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management[name].html_name] = str(management[name].value())
    data.update(extra)
    return data


def test_admin_raises_a_users_open_order_limit(admin_web, make_trader, market):
    from engine_worker.tests.test_large_batches import fund, place_many
    from orders.models import OrderLimit
    from orders.services import order_limit_set

    trader = make_trader()
    fund(trader.user_id, "USDT", 10**12)
    url = f"/admin/auth/user/{trader.user_id}/change/"
    response = admin_web.get(url)
    assert b"own limit of open orders per market" in response.content.lower()
    data = change_form_data(
        response,
        **{"order_limit-TOTAL_FORMS": "1", "order_limit-0-max_open_orders": "250"},
    )
    try:
        response = admin_web.post(url, data, follow=True)
        assert response.status_code == 200
        assert ("success", "The engine now allows 250 open orders per market.") in messages_of(
            response
        )
        assert OrderLimit.objects.get(user_id=trader.user_id).max_open_orders == 250
        # past the default of 200, up to 250
        place_many(trader.user_id, market, "buy", [100_00 + i for i in range(250)], 1000)
        response = trader.post(
            "/api/v1/orders",
            {"symbol": market, "side": "buy", "type": "limit", "price": "1", "quantity": "1"},
            format="json",
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "too_many_open_orders"
    finally:  # the engine outlives the test's database rows
        order_limit_set(user_id=trader.user_id, max_open_orders=None)
