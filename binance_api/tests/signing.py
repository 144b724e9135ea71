"""Signed requests as a Binance client sends them (X-MBX-APIKEY, timestamp, recvWindow,
signature = hex HMAC-SHA256 of the query string or form body), for the in-process tests."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

from rest_framework.test import APIClient

FORM = "application/x-www-form-urlencoded"


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class Signed:
    """An API client of one user's API key."""

    def __init__(self, key: str, secret: str, user_id: int) -> None:
        self.client = APIClient()
        self.key = key
        self.secret = secret
        self.user_id = user_id

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        **extra: str,
    ) -> Any:
        stamped = {**params, "timestamp": str(timestamp or time.time_ns() // 1_000_000), **extra}
        payload = urlencode(stamped)
        signed = f"{payload}&signature={sign(secret or self.secret, payload)}"
        headers = {"HTTP_X_MBX_APIKEY": self.key}
        url = f"/api/v3/{path}"
        if method == "POST":
            return self.client.post(url, signed, content_type=FORM, **headers)
        return getattr(self.client, method.lower())(f"{url}?{signed}", **headers)
