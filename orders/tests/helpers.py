"""Helpers for API tests."""

from __future__ import annotations

from rest_framework.test import APIClient


def balances(client: APIClient) -> dict[str, tuple[str, str]]:
    response = client.get("/api/v1/balances")
    assert response.status_code == 200
    return {b["asset"]: (b["available"], b["locked"]) for b in response.json()}


def place(client: APIClient, **order) -> dict:
    order.setdefault("symbol", "BTC_USDT")
    order.setdefault("type", "limit")
    response = client.post("/api/v1/orders", order, format="json")
    assert response.status_code == 201, response.content
    return response.json()
