"""Binance's SIGNED-request rules as plain functions: totalParams, the HMAC and the time
window. The vectors are the examples of Binance's REST API documentation ("SIGNED
Endpoint Examples for POST /api/v3/order")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apikeys import signing
from apikeys.errors import ApiKeyError

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PARAMS = (
    b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    b"&recvWindow=5000&timestamp=1499827319559"
)
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
MIXED_QUERY = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
MIXED_BODY = b"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_the_documented_signature():
    assert signing.sign(SECRET, PARAMS) == SIGNATURE


def test_signature_in_the_body():
    signed = signing.signed_request(
        b"", PARAMS + b"&signature=" + SIGNATURE.encode(), form_body=True
    )
    assert signed.payload == PARAMS
    assert signed.signature == SIGNATURE
    assert signing.signature_valid(SECRET, signed.payload, signed.signature)
    assert signed.get("timestamp") == "1499827319559"


def test_signature_in_the_query():
    signed = signing.signed_request(
        PARAMS + b"&signature=" + SIGNATURE.encode(), b"", form_body=True
    )
    assert signed.payload == PARAMS
    assert signing.signature_valid(SECRET, signed.payload, SIGNATURE)


def test_query_and_body_concatenate_without_an_ampersand():
    signed = signing.signed_request(
        MIXED_QUERY, MIXED_BODY + b"&signature=" + MIXED_SIGNATURE.encode(), form_body=True
    )
    assert signed.payload == MIXED_QUERY + MIXED_BODY
    assert signing.signature_valid(SECRET, signed.payload, signed.signature or "")
    assert signed.get("recvWindow") == "5000"  # found in the body


def test_signature_in_the_query_over_a_body():
    signed = signing.signed_request(
        MIXED_QUERY + b"&signature=" + MIXED_SIGNATURE.encode(), MIXED_BODY, form_body=True
    )
    assert signed.payload == MIXED_QUERY + MIXED_BODY
    assert signing.signature_valid(SECRET, signed.payload, MIXED_SIGNATURE)


def test_a_json_body_is_signed_as_sent():
    body = b'{"symbol": "BTC_USDT", "signature": "not a parameter"}'
    signed = signing.signed_request(b"timestamp=1&signature=ab", body, form_body=False)
    assert signed.payload == b"timestamp=1" + body
    assert signed.signature == "ab"


def test_the_signature_is_not_case_sensitive_and_one_bit_off_fails():
    assert signing.signature_valid(SECRET, PARAMS, SIGNATURE.upper())
    wrong = SIGNATURE[:-1] + ("0" if SIGNATURE[-1] != "0" else "1")
    assert not signing.signature_valid(SECRET, PARAMS, wrong)
    assert not signing.signature_valid(SECRET, PARAMS + b"&x=1", SIGNATURE)
    assert not signing.signature_valid(SECRET, PARAMS, "\u00e9" * 64)  # not even ASCII


def test_the_query_string_wins_over_the_body():
    signed = signing.signed_request(b"timestamp=1", b"timestamp=2&recvWindow=7", form_body=True)
    assert signed.get("timestamp") == "1"
    assert signed.get("recvWindow") == "7"


def test_a_signature_anywhere_is_left_out_of_the_payload():
    signed = signing.signed_request(b"a=1&signature=ff&b=2", b"", form_body=True)
    assert signed.payload == b"a=1&b=2"


def codes(call) -> int:
    with pytest.raises(ApiKeyError) as caught:
        call()
    return caught.value.binance_code


def timing(query: bytes) -> tuple[Decimal, Decimal]:
    return signing.timing_params(signing.signed_request(query, b"", form_body=False))


def test_timing_parameters():
    assert timing(b"timestamp=1000") == (Decimal(1000), Decimal(5000))  # the default window
    assert timing(b"timestamp=1000&recvWindow=60000") == (Decimal(1000), Decimal(60000))
    assert timing(b"timestamp=1000&recvWindow=10.5") == (Decimal(1000), Decimal("10.5"))
    assert timing(b"timestamp=1499827319559000")[0] == Decimal("1499827319559")  # microseconds
    assert codes(lambda: timing(b"recvWindow=5000")) == -1102
    assert codes(lambda: timing(b"timestamp=")) == -1102
    assert codes(lambda: timing(b"timestamp=12a")) == -1100
    assert codes(lambda: timing(b"timestamp=-5")) == -1100
    assert codes(lambda: timing(b"timestamp=1e3")) == -1100
    assert codes(lambda: timing(b"timestamp=1&recvWindow=60001")) == -1131
    assert codes(lambda: timing(b"timestamp=1&recvWindow=60000.001")) == -1131
    assert codes(lambda: timing(b"timestamp=1&recvWindow=abc")) == -1100


NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("timestamp", "window", "code"),
    [
        (NOW, 5000, None),
        (NOW - 5000, 5000, None),  # exactly the window old
        (NOW - 5001, 5000, -1021),
        (NOW - 59_000, 60_000, None),
        (NOW + 999, 5000, None),  # less than a second ahead
        (NOW + 1000, 5000, -1021),
        (NOW + 100_000, 60_000, -1021),
    ],
)
def test_the_time_window(timestamp, window, code):
    def check():
        signing.check_time(Decimal(timestamp), Decimal(window), NOW)

    if code is None:
        check()
    else:
        assert codes(check) == code


def test_ahead_and_old_say_which():
    with pytest.raises(ApiKeyError, match="ahead"):
        signing.check_time(Decimal(NOW + 2000), Decimal(5000), NOW)
    with pytest.raises(ApiKeyError, match="outside of the recvWindow"):
        signing.check_time(Decimal(NOW - 6000), Decimal(5000), NOW)
