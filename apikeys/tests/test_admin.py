"""API keys in the admin: listed and searchable without their secret, revoked by an action
(the key is refused at once), never added, edited or deleted there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apikeys.models import ApiKey
from apikeys.tests.helpers import binance_error, create_key, signed

pytestmark = pytest.mark.django_db

LIST = "/admin/apikeys/apikey/"


@pytest.fixture
def admin_web(db, django_user_model) -> Client:
    django_user_model.objects.create_superuser("keyroot", "root@example.com", "admin-pass-9")
    web = Client()
    assert web.login(username="keyroot", password="admin-pass-9")
    return web


def test_the_list_and_search_show_no_secret(admin_web, make_trader):
    trader = make_trader()
    key = create_key(trader, ["read"], label="findable bot")
    other = create_key(make_trader(), ["trade"], label="someone else")
    row = ApiKey.objects.get(pk=key["id"])
    page = admin_web.get(LIST).content.decode()
    assert "findable bot" in page and key["api_key"] in page
    assert key["secret"] not in page and row.secret_encrypted not in page
    found = admin_web.get(LIST, {"q": "findable"}).content.decode()
    assert key["api_key"] in found and other["api_key"] not in found
    detail = admin_web.get(f"{LIST}{key['id']}/change/")
    assert detail.status_code == 200
    assert key["secret"] not in detail.content.decode()
    assert row.secret_encrypted not in detail.content.decode()
    assert admin_web.get(f"{LIST}add/").status_code == 403


def test_the_revoke_action(admin_web, make_trader):
    trader = make_trader()
    key = create_key(trader, ["read"])
    assert signed(key, "GET", "/api/v1/balances").status_code == 200
    response = admin_web.post(
        LIST, {"action": "revoke", "_selected_action": [key["id"]]}, follow=True
    )
    assert response.status_code == 200
    assert "Revoked 1 API key" in response.content.decode()
    assert ApiKey.objects.get(pk=key["id"]).revoked_at is not None
    binance_error(signed(key, "GET", "/api/v1/balances"), 401, -2015)
    revoked = admin_web.get(LIST, {"state": "revoked"}).content.decode()
    assert key["api_key"] in revoked


def test_revoking_needs_the_change_permission(make_trader, django_user_model):
    key = create_key(make_trader(), ["read"])
    staff = django_user_model.objects.create_user(
        "keyviewer", password="viewer-pass-9", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    web = Client()
    assert web.login(username="keyviewer", password="viewer-pass-9")
    assert web.get(LIST).status_code == 200
    web.post(LIST, {"action": "revoke", "_selected_action": [key["id"]]})
    assert ApiKey.objects.get(pk=key["id"]).revoked_at is None
