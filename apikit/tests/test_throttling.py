"""The rate limits (apikit/throttling.py): DRF's sliding window of request times, kept in
the web process's memory and updated in place (no copy of a client's window per request)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.test_auth_api import new_name
from apikit.throttling import UserRateThrottle


def api_user(user_id: int) -> SimpleNamespace:
    return SimpleNamespace(
        user=SimpleNamespace(is_authenticated=True, pk=user_id), META={"REMOTE_ADDR": "10.0.0.1"}
    )


@pytest.mark.django_db
def test_a_user_over_the_api_rate_gets_a_429_with_retry_after(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    user = get_user_model().objects.create_user(new_name(), password="x-long-password-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    responses = [client.get("/api/v1/auth/me") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[3].json()["error"]["code"] == "throttled"
    assert 1 <= int(responses[3]["Retry-After"]) <= 60


def test_the_window_is_kept_in_place_not_copied(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "1000/minute"})
    first = UserRateThrottle()
    assert first.allow_request(api_user(7001), None)
    window = caches["throttle"].get(first.key)
    second = UserRateThrottle()
    assert second.allow_request(api_user(7001), None)
    assert caches["throttle"].get(second.key) is window  # the same object, two times in it
    assert len(window) == 2 and window[0] >= window[1]  # newest first, as DRF keeps it


def test_concurrent_requests_of_one_user_all_count(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "100/minute"})
    allowed = []

    def client() -> None:
        for _ in range(25):
            allowed.append(UserRateThrottle().allow_request(api_user(7002), None))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 100  # 200 attempts, exactly the rate let through
    refused = UserRateThrottle()
    assert not refused.allow_request(api_user(7002), None)
    assert 0 < refused.wait() <= 60


def test_a_window_is_forgotten_when_the_cache_is_cleared(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "1/minute"})
    assert UserRateThrottle().allow_request(api_user(7003), None)
    assert not UserRateThrottle().allow_request(api_user(7003), None)
    caches["throttle"].clear()  # what the tests' fixtures do between tests
    assert UserRateThrottle().allow_request(api_user(7003), None)
