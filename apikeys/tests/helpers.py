"""Signed requests for the tests, made as a Binance client makes them: the parameters
url-encoded, ``signature`` appended last, the key in X-MBX-APIKEY."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from rest_framework.test import APIClient

from apikeys.signing import sign


def create_key(client: APIClient, scopes: list[str], **extra: Any) -> dict[str, Any]:
    """A new key of the client's user, through the API (the client holds its token)."""
    body = {"label": "bot", "scopes": scopes, **extra}
    response = client.post("/api/v1/api-keys", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed(
    key: dict[str, Any],
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
    timestamp: int | None = None,
    recv_window: int | None = None,
    secret: str | None = None,
    client: APIClient | None = None,
    **headers: Any,
):
    """Send ``method path`` signed with ``key`` (its api_key and secret); ``body`` is sent
    as JSON and signed with the query string, as our /api/v1 takes it."""
    query: dict[str, Any] = dict(params or {})
    if recv_window is not None:
        query["recvWindow"] = recv_window
    query["timestamp"] = now_ms() if timestamp is None else timestamp
    text = urlencode(query)
    raw = b"" if body is None else json.dumps(body).encode()
    signature = sign(secret or key["secret"], text.encode() + raw)
    client = client or APIClient()
    return client.generic(
        method,
        f"{path}?{text}&signature={signature}",
        data=raw,
        content_type="application/json",
        HTTP_X_MBX_APIKEY=key["api_key"],
        **headers,
    )


def binance_error(response, status: int, code: int) -> dict[str, Any]:
    """The refusal in our contract's shape, Binance's code in details.binance_code."""
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["details"]["binance_code"] == code, error
    return error
