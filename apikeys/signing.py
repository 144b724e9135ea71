"""Binance's SIGNED-request rules, as plain functions (no HTTP, no database).

- ``totalParams`` is the query string concatenated with the request body, as sent (no
  ``&`` between the two), without the ``signature`` parameter, which may be in either.
  A form body (``application/x-www-form-urlencoded``) is parameters like the query; any
  other body (our /api/v1's JSON) is signed as it is, and then ``timestamp`` and
  ``signature`` go in the query string.
- ``signature`` is the hex HMAC-SHA256 of totalParams with the secret; not case sensitive.
- ``timestamp`` is epoch milliseconds (or microseconds: 16 digits and more); the request
  is valid when ``timestamp < now + 1000`` and ``now - timestamp <= recvWindow``;
  ``recvWindow`` defaults to 5000 and is at most 60000 (milliseconds, up to 3 decimals).
- A parameter in both the query string and the body is the query string's.

Non-ASCII text must be percent-encoded before signing (as Binance asks): what is signed is
the bytes of the request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote_plus

from apikeys import errors

RECV_WINDOW_DEFAULT = 5000
RECV_WINDOW_MAX = 60000
FUTURE_TOLERANCE_MS = 1000  # a timestamp this far ahead of the server's clock is refused
MICROSECONDS_FROM = 10**15  # a timestamp this large is in microseconds (16 digits)
TIMESTAMP_FORM = re.compile(r"^[0-9]{1,20}$")
RECV_WINDOW_FORM = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,3})?$")
SIGNATURE_PARAM = b"signature"


@dataclass(frozen=True)
class SignedRequest:
    """What a signed request carries: its parameters (query first, then a form body),
    the signature(s) found and the bytes that were signed."""

    params: dict[str, str]
    signature: str | None
    payload: bytes

    def get(self, name: str) -> str | None:
        return self.params.get(name)


def _split(raw: bytes) -> tuple[bytes, list[tuple[str, str]], list[str]]:
    """``raw`` parameters without the signature; the (name, value) pairs; the signatures."""
    kept: list[bytes] = []
    pairs: list[tuple[str, str]] = []
    signatures: list[str] = []
    if not raw:
        return b"", pairs, signatures
    for part in raw.split(b"&"):
        name_raw, _, value_raw = part.partition(b"=")
        name = unquote_plus(name_raw.decode("utf-8", "replace"))
        value = unquote_plus(value_raw.decode("utf-8", "replace"))
        if name == SIGNATURE_PARAM.decode():
            signatures.append(value)
            continue
        kept.append(part)
        if name:
            pairs.append((name, value))
    return b"&".join(kept), pairs, signatures


def signed_request(query: bytes, body: bytes, *, form_body: bool) -> SignedRequest:
    """The parameters and totalParams of a request with query string ``query`` and body
    ``body`` (a form when ``form_body``)."""
    query_kept, pairs, signatures = _split(query)
    if form_body:
        body_kept, body_pairs, body_signatures = _split(body)
        pairs += body_pairs
        signatures += body_signatures
    else:
        body_kept = body
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)  # the query string's first, as Binance
    return SignedRequest(
        params=params,
        signature=signatures[0] if signatures else None,
        payload=query_kept + body_kept,
    )


def sign(secret: str, payload: bytes) -> str:
    """The signature of ``payload``: hex HMAC-SHA256 keyed with the secret."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def signature_valid(secret: str, payload: bytes, signature: str) -> bool:
    expected = sign(secret, payload).encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def timing_params(request: SignedRequest) -> tuple[Decimal, Decimal]:
    """``timestamp`` and ``recvWindow`` in milliseconds, checked for form (-1102 missing,
    -1100 not a number, -1131 a window over 60000)."""
    text = request.get("timestamp")
    if not text:
        raise errors.parameter_missing("timestamp")
    if not TIMESTAMP_FORM.match(text):
        raise errors.illegal_characters("timestamp", TIMESTAMP_FORM.pattern)
    timestamp = Decimal(text)
    if timestamp >= MICROSECONDS_FROM:
        timestamp /= 1000
    window_text = request.get("recvWindow")
    if window_text is None or window_text == "":
        window = Decimal(RECV_WINDOW_DEFAULT)
    elif not RECV_WINDOW_FORM.match(window_text):
        raise errors.illegal_characters("recvWindow", RECV_WINDOW_FORM.pattern)
    else:
        window = Decimal(window_text)
    if window > RECV_WINDOW_MAX:
        raise errors.recv_window_too_large()
    return timestamp, window


def check_time(timestamp: Decimal, window: Decimal, now_ms: int) -> None:
    """Binance's rule: ``timestamp < now + 1000 and now - timestamp <= recvWindow``."""
    if timestamp >= now_ms + FUTURE_TOLERANCE_MS:
        raise errors.timestamp_outside_window(ahead=True)
    if now_ms - timestamp > window:
        raise errors.timestamp_outside_window(ahead=False)
