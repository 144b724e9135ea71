"""A small client of the exchange's public REST API (standard library only), the way any
customer's bot would talk to it: a token, JSON bodies, the contract's error shape."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit


class ApiError(Exception):
    """A non-2xx answer: ``status`` and the contract's error ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str, retry_after: float = 0.0) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying later as is: throttled, engine down or late, web unreachable."""
        return self.status in (0, 429, 502, 503, 504)


class ApiClient:
    """One keep-alive HTTP connection to ``base_url`` (reopened after any failure)."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.requests = 0
        self.latency = 0.0  # seconds spent waiting for answers, summed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any
    ) -> Any:
        params = {k: v for k, v in query.items() if v is not None}
        url = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        started = time.monotonic()
        try:
            self._conn.request(method, url, body=data, headers=headers)
            response = self._conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ApiError(0, "unreachable", f"{method} {path}: {exc!r}") from exc
        finally:
            self.requests += 1
            self.latency += time.monotonic() - started
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        if 200 <= response.status < 300:
            return payload
        error = (payload or {}).get("error") if isinstance(payload, dict) else None
        error = error if isinstance(error, dict) else {}
        try:  # seconds; an HTTP date, a negative or a non-finite value counts as none
            retry_after = float(response.getheader("Retry-After") or 0)
        except ValueError:
            retry_after = 0.0
        if not 0 <= retry_after < float("inf"):
            retry_after = 0.0
        raise ApiError(
            response.status,
            str(error.get("code") or f"http_{response.status}"),
            str(error.get("message") or raw[:200].decode(errors="replace")),
            retry_after,
        )

    # -- the endpoints the bot uses ----------------------------------------------------

    def healthy(self) -> bool:
        try:
            self.request("GET", "/healthz")
        except ApiError:
            return False
        return True

    def markets(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v1/markets")

    def depth(self, symbol: str, limit: int = 10) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/markets/{symbol}/depth", limit=limit)

    def balances(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v1/balances")

    def open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        page = self.request("GET", "/api/v1/orders", status="open", symbol=symbol, limit=1000)
        return page["results"] if isinstance(page, dict) else page

    def fills(self, symbol: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        page = self.request("GET", "/api/v1/trades", symbol=symbol, limit=limit)
        return page["results"] if isinstance(page, dict) else page

    def place(self, **order: Any) -> dict[str, Any]:
        # decimal strings in plain notation ("100", never "1.0E+2")
        body = {k: (f"{v:f}" if k in ("price", "quantity") else v) for k, v in order.items()}
        return self.request("POST", "/api/v1/orders", body)

    def cancel(self, order_id: int) -> dict[str, Any]:
        return self.request("DELETE", f"/api/v1/orders/{order_id}")

    def cancel_all(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return self.request("DELETE", "/api/v1/orders", symbol=symbol)
