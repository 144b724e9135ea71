"""The authentication class and the facade's permission on real Django requests with form
bodies, as the Binance facade receives them: Binance's documented example requests (body,
query, both) authenticate with the documented key and secret at the documented time."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apikeys import authentication, crypto
from apikeys.authentication import ApiKeySignatureAuthentication
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey, Scope
from apikeys.permissions import api_key_required

pytestmark = pytest.mark.django_db

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PARAMS = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def documented_key(monkeypatch) -> ApiKey:
    monkeypatch.setattr(authentication, "now_ms", lambda: 1499827319559 + 100)
    user = get_user_model().objects.create_user("binance-docs", password="unused-pass-9")
    return ApiKey.objects.create(
        user=user,
        label="docs",
        scopes=[Scope.READ, Scope.TRADE],
        api_key=API_KEY,
        secret_encrypted=crypto.encrypt(SECRET),
    )


def request(query: str = "", body: str = "", key: str | None = API_KEY) -> Request:
    headers = {"HTTP_X_MBX_APIKEY": key} if key is not None else {}
    path = "/api/v3/order" + (f"?{query}" if query else "")
    django_request = APIRequestFactory().post(path, data=body, content_type=FORM, **headers)
    return Request(
        django_request, parsers=[FormParser()], authenticators=[ApiKeySignatureAuthentication()]
    )


def authenticate(req: Request):
    return ApiKeySignatureAuthentication().authenticate(req)


def test_signature_in_the_body(documented_key):
    req = request(body=f"{PARAMS}&signature={SIGNATURE}")
    assert authenticate(req) == (documented_key.user, documented_key)
    assert req.data["quantity"] == "1"  # the body is still there for the view


def test_signature_in_the_query(documented_key):
    assert authenticate(request(query=f"{PARAMS}&signature={SIGNATURE}"))[1] == documented_key


def test_mixed_query_and_body(documented_key):
    req = request(query=MIXED_QUERY, body=f"{MIXED_BODY}&signature={MIXED_SIGNATURE}")
    assert authenticate(req)[1] == documented_key


def test_mixed_with_the_signature_in_the_query(documented_key):
    req = request(query=f"{MIXED_QUERY}&signature={MIXED_SIGNATURE}", body=MIXED_BODY)
    assert authenticate(req)[1] == documented_key


@pytest.mark.parametrize(
    ("query", "body"),
    [
        (f"{PARAMS}&signature={MIXED_SIGNATURE}", ""),  # the other example's signature
        (MIXED_QUERY, f"{MIXED_BODY}&signature={SIGNATURE}"),
        (MIXED_QUERY.replace("BUY", "SELL"), f"{MIXED_BODY}&signature={MIXED_SIGNATURE}"),
        ("", f"{PARAMS.replace('quantity=1', 'quantity=10')}&signature={SIGNATURE}"),
    ],
)
def test_a_changed_parameter_breaks_the_signature(documented_key, query, body):
    with pytest.raises(ApiKeyError) as caught:
        authenticate(request(query=query, body=body))
    assert caught.value.binance_code == -1022
    assert caught.value.binance_body() == {
        "code": -1022,
        "msg": "Signature for this request is not valid.",
    }


def test_too_late(documented_key, monkeypatch):
    monkeypatch.setattr(authentication, "now_ms", lambda: 1499827319559 + 5001)
    with pytest.raises(ApiKeyError) as caught:
        authenticate(request(body=f"{PARAMS}&signature={SIGNATURE}"))
    assert caught.value.binance_code == -1021 and caught.value.http_status == 400


def test_unsigned_requests_are_left_to_others(documented_key):
    assert authenticate(request(query="symbol=LTCBTC")) is None
    assert authenticate(request(body=f"{PARAMS}&signature={SIGNATURE}", key=None)) is None


class View:
    pass


@pytest.mark.parametrize(
    ("req", "scope", "code"),
    [
        (lambda: request(key=None), Scope.READ, -2014),  # no X-MBX-APIKEY
        (lambda: request(query="symbol=LTCBTC"), Scope.READ, -1102),  # not signed
    ],
)
def test_the_facades_permission_refuses_unsigned(documented_key, req, scope, code):
    made = req()
    made.user  # noqa: B018  (authenticates: none)
    with pytest.raises(ApiKeyError) as caught:
        api_key_required(scope)().has_permission(made, View())
    assert caught.value.binance_code == code


def test_the_facades_permission_checks_the_scope(documented_key):
    ApiKey.objects.filter(pk=documented_key.pk).update(scopes=[Scope.READ])
    made = request(body=f"{PARAMS}&signature={SIGNATURE}")
    assert made.user == documented_key.user
    assert api_key_required(Scope.READ)().has_permission(made, View())
    with pytest.raises(ApiKeyError) as caught:
        api_key_required(Scope.TRADE)().has_permission(made, View())
    assert caught.value.binance_code == -2015 and caught.value.http_status == 401


def test_microsecond_timestamps(documented_key, monkeypatch):
    from apikeys.signing import sign

    params = "symbol=LTCBTC&timestamp=1499827319559123"
    req = request(query=f"{params}&signature={sign(SECRET, params.encode())}")
    assert authenticate(req)[1] == documented_key
