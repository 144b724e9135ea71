"""The Binance clients' own signing is what the authentication accepts: ccxt's binance
class and python-binance's Client sign requests (query string, form body) that
authenticate as the key's owner. First ccxt's signed requests given to the
authentication class; then both clients' real HTTP requests (their requests sessions),
handed to the whole app in process (WSGI, as the schemathesis test does) through a
transport adapter, against our /api/v1 (before any Binance-shaped endpoint exists). In
process rather than a live server: a live server needs a transactional test, whose flush
would take the session's seeded markets and fee account from the tests after it."""

from __future__ import annotations

from urllib.parse import urlsplit

import ccxt
import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException
from django.contrib.auth import get_user_model
from requests.adapters import BaseAdapter
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apikeys.authentication import ApiKeySignatureAuthentication
from apikeys.models import Scope
from apikeys.services import api_key_create
from apikeys.tests.helpers import create_key
from orders.tests.helpers import balances, place


@pytest.fixture
def owner_key(db):
    user = get_user_model().objects.create_user("ccxt-owner", password="unused-pass-9")
    key, secret = api_key_create(user=user, label="ccxt", scopes=[Scope.READ, Scope.TRADE])
    return user, key, secret


def ccxt_client(api_key: str, secret: str, base: str = "http://testserver/api/v1") -> ccxt.binance:
    client = ccxt.binance({"apiKey": api_key, "secret": secret})
    client.urls["api"]["private"] = base
    return client


def as_django_request(signed: dict) -> Request:
    """ccxt's signed request (url, method, body, headers) as the web service receives it."""
    url = urlsplit(signed["url"])
    path = url.path + (f"?{url.query}" if url.query else "")
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed["headers"].items()}
    headers.pop("HTTP_CONTENT_TYPE", None)
    django_request = APIRequestFactory().generic(
        signed["method"],
        path,
        data=signed["body"] or "",
        content_type=signed["headers"].get("Content-Type", ""),
        **headers,
    )
    return Request(django_request, parsers=[FormParser()])


@pytest.mark.parametrize(
    ("path", "method", "params"),
    [
        ("order", "POST", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                           "quantity": "1", "price": "100", "timeInForce": "GTC"}),
        ("account", "GET", {}),
        ("openOrders", "DELETE", {"symbol": "BTCUSDT"}),
        ("myTrades", "GET", {"symbol": "BTCUSDT", "limit": 5}),
    ],
)  # fmt: skip
def test_ccxt_signed_requests_authenticate(owner_key, path, method, params):
    user, key, secret = owner_key
    signed = ccxt_client(key.api_key, secret).sign(path, ["private"], method, params)
    assert "signature=" in (signed["body"] or signed["url"])  # body for POST, query else
    request = as_django_request(signed)
    assert ApiKeySignatureAuthentication().authenticate(request) == (user, key)


def test_ccxt_with_the_wrong_secret_is_refused(owner_key):
    from apikeys.errors import ApiKeyError

    _, key, _ = owner_key
    signed = ccxt_client(key.api_key, "x" * 64).sign("account", ["private"], "GET", {})
    with pytest.raises(ApiKeyError) as caught:
        ApiKeySignatureAuthentication().authenticate(as_django_request(signed))
    assert caught.value.binance_body()["code"] == -1022


class InProcess(BaseAdapter):
    """A requests transport that sends the prepared request to the Django app in this
    process (Django's test client: the whole middleware and view stack)."""

    def send(self, request, **kwargs):
        from django.test import Client as DjangoClient

        url = urlsplit(request.url)
        skip = {"content-type", "content-length", "host"}
        headers = {
            f"HTTP_{k.upper().replace('-', '_')}": v
            for k, v in request.headers.items()
            if k.lower() not in skip
        }
        body = request.body or b""
        answer = DjangoClient().generic(
            request.method,
            url.path + (f"?{url.query}" if url.query else ""),
            data=body.encode() if isinstance(body, str) else body,
            content_type=request.headers.get("Content-Type", ""),
            **headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers.update(dict(answer.items()))
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


@pytest.mark.django_db
def test_python_binance_and_ccxt_over_http(make_trader, market):
    trader = make_trader()
    key = create_key(trader, ["read", "trade"])
    expected = balances(trader)
    base = "http://testserver/api/v1"

    client = Client(key["api_key"], key["secret"], ping=False)
    client.session.mount("http://testserver", InProcess())
    body = client._request("get", f"{base}/balances", signed=True, data={})
    assert {b["asset"]: (b["available"], b["locked"]) for b in body} == expected

    exchange = ccxt_client(key["api_key"], key["secret"], base)
    exchange.session.mount("http://testserver", InProcess())
    assert exchange.fetch2("balances", ["private"], "GET", {}) == body

    # python-binance signs a DELETE in a form body: cancel all of the trader's orders
    place(trader, symbol=market, side="buy", price="100", quantity="1")
    cancelled = client._request("delete", f"{base}/orders", signed=True, data={})
    assert [o["status"] for o in cancelled] == ["cancelled"]
    assert balances(trader)["USDT"] == ("10000", "0")

    # a wrong secret: python-binance gets the refusal (our /api/v1 error shape)
    wrong = Client(key["api_key"], "x" * 64, ping=False)
    wrong.session.mount("http://testserver", InProcess())
    with pytest.raises(BinanceAPIException) as caught:
        wrong._request("get", f"{base}/balances", signed=True, data={})
    assert caught.value.status_code == 400
    assert caught.value.response.json()["error"]["details"]["binance_code"] == -1022
