"""Signed requests, exactly as Binance's SIGNED endpoints (apikeys/signing.py has the
rules), as a DRF authentication class.

How a view uses it
------------------

- Our /api/v1 (settings.REST_FRAMEWORK): ``ApiKeySignatureAuthentication`` is one of the
  default authentication classes (after the token, before the session), and
  ``permissions.ApiKeyScopes`` one of the default permissions: a view lets API keys in
  only by declaring ``api_key_scopes = {"GET": Scope.READ, "POST": Scope.TRADE, ...}``;
  any other view refuses them (-2015).

- The Binance-compatible facade (binance_api/): its views set

      authentication_classes = [ApiKeySignatureAuthentication]
      permission_classes = [api_key_required(Scope.READ)]   # USER_DATA endpoints
      permission_classes = [api_key_required(Scope.TRADE)]  # TRADE endpoints
      permission_classes = [AllowAny]                       # public (NONE) endpoints

  and its exception handler renders ``apikeys.errors.ApiKeyError`` as
  ``exc.binance_body()`` (``{"code": -1022, "msg": "..."}``) with ``exc.http_status``.
  ``request.user`` is the key's owner and ``request.auth`` the ``ApiKey``. The
  parameters ``timestamp``, ``recvWindow`` and ``signature`` are the authentication's:
  the views ignore them. A form body is read here (``request.body``); DRF parses it again
  for ``request.data`` (FormParser in the view's parser_classes).

What it does
------------

``authenticate`` returns None (another class, or none, decides) when the request has no
X-MBX-APIKEY header, or has one but is not signed (neither ``timestamp`` nor
``signature``): python-binance sends its key with every request, public ones included.
A signed request is checked in Binance's order, each refusal an ``ApiKeyError``:

1. the key's format (-2014), 2. ``timestamp`` and ``recvWindow`` (-1102, -1100, -1131),
3. ``signature`` sent (-1102), 4. the key exists, is not revoked, its owner is active
(-2015), 5. the client's address (``client_address``: TRUSTED_PROXY_COUNT) is in its
allowlist (-2015), 6. the signature (-1022), 7. the time window (-1021).

Then it returns ``(user, api_key)``; ``last_used_at`` is written at most once a minute.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apikeys import crypto, errors, signing
from apikeys.models import ApiKey
from apikit.errors import PayloadTooLarge
from apikit.throttling import client_address

logger = logging.getLogger(__name__)

HEADER = "X-MBX-APIKEY"
API_KEY_FORM = re.compile(r"^[A-Za-z0-9]{64}$")
LAST_USED_EVERY = timedelta(minutes=1)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _body(request: Request) -> bytes:
    django_request = request._request
    length = django_request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.API_MAX_BODY_BYTES
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"The request body is over {limit} bytes.", details={"limit": limit})
    return django_request.body


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ApiKeySignatureAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_X_MBX_APIKEY")
        if header is None:
            return None
        form_body = request.content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE
        body = _body(request) if request.method not in ("GET", "HEAD", "OPTIONS") else b""
        query = request.META.get("QUERY_STRING", "").encode("utf-8", "replace")
        signed = signing.signed_request(query, body, form_body=form_body)
        if signed.signature is None and signed.get("timestamp") is None:
            return None  # not a signed request: the key alone authenticates nothing
        return self.verify(request, header, signed)

    def verify(
        self, request: Request, header: str, signed: signing.SignedRequest
    ) -> tuple[Any, ApiKey]:
        if not API_KEY_FORM.match(header):
            raise errors.key_format_invalid()
        timestamp, window = signing.timing_params(signed)
        if not signed.signature:
            raise errors.parameter_missing("signature")
        key = ApiKey.objects.select_related("user").filter(api_key=header).first()
        if key is None or not key.is_active or not key.user.is_active:
            logger.info("api key %s...: unknown, revoked or of an inactive user", header[:8])
            raise errors.key_rejected()
        address = client_address(request)
        if not key.allows_address(address):
            logger.info("api key %d: refused from %s (allowlist)", key.pk, address)
            raise errors.key_rejected()
        secret = crypto.decrypt(key.secret_encrypted)
        if secret is None:
            logger.error("api key %d: the secret cannot be decrypted (encryption keys?)", key.pk)
            raise errors.key_rejected()
        if not signing.signature_valid(secret, signed.payload, signed.signature):
            raise errors.signature_invalid()
        signing.check_time(timestamp, window, now_ms())
        self._touch(key)
        return key.user, key

    def _touch(self, key: ApiKey) -> None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now

    def authenticate_header(self, request: Request) -> str:
        return HEADER
