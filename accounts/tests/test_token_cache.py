"""The per-process token cache (accounts/tokens.py): a cached token costs no query, and a
revoked credential is refused at once, in this process and, through Redis Pub/Sub, in
another one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.test_auth_api import new_name
from accounts.tokens import token_cache
from conftest import ROOT, _database_url


def live_cache():
    cache = token_cache()
    cache._ensure_listener()
    assert cache._live.wait(5), "the revocation listener did not subscribe"
    return cache


def until_cached(cache, key: str, client: APIClient) -> None:
    """GET as the token until the cache holds it. A revocation message that arrives while
    a lookup runs (this test's own user creation publishes some; so do other runs on the
    same Redis: Pub/Sub ignores the db number) rightly keeps that lookup out of the cache:
    the next one is cached."""
    deadline = time.monotonic() + 5
    while True:
        assert client.get("/api/v1/auth/me").status_code == 200
        if cache.get(key) is not None:
            return
        assert time.monotonic() < deadline, "the token was never cached"


def trader() -> tuple[object, str, APIClient]:
    user = get_user_model().objects.create_user(new_name(), password="x-long-password-1")
    key = Token.objects.create(user=user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return user, key, client


@pytest.mark.django_db
def test_a_cached_token_costs_no_query(django_assert_num_queries):
    cache = live_cache()
    user, key, client = trader()
    assert client.get("/api/v1/auth/me").json()["user_id"] == user.pk
    until_cached(cache, key, client)
    with django_assert_num_queries(0):
        response = client.get("/api/v1/auth/me")
    assert response.json() == {"user_id": user.pk, "username": user.username}


@pytest.mark.django_db
def test_a_logout_refuses_the_token_at_once():
    live_cache()
    _, _, client = trader()
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


@pytest.mark.django_db
def test_a_deactivated_or_renamed_user_is_seen_at_once():
    live_cache()
    user, _, client = trader()
    assert client.get("/api/v1/auth/me").status_code == 200
    user.username = new_name()
    user.save()
    assert client.get("/api/v1/auth/me").json()["username"] == user.username
    user.is_active = False
    user.save()
    assert client.get("/api/v1/auth/me").status_code == 401


def test_a_lookup_racing_an_invalidation_is_not_stored():
    cache = live_cache()

    class User:
        pk = 1

    epoch = cache.epoch()  # a lookup starts ...
    cache.drop_user(1)  # ... the user's credentials change meanwhile ...
    cache.put("racing-key", User(), object(), epoch)  # ... its (stale) result comes back
    assert cache.get("racing-key") is None


@pytest.mark.django_db(transaction=True)
def test_a_token_deleted_by_another_process_is_refused_here_at_once():
    cache = live_cache()
    _, key, client = trader()
    until_cached(cache, key, client)
    env = {**os.environ, "DATABASE_URL": _database_url(connection.settings_dict)}
    code = (
        "from rest_framework.authtoken.models import Token; "
        f"Token.objects.filter(key={key!r}).delete()"
    )
    subprocess.run(  # noqa: S603 - another web process logging the token out
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True
    )
    deadline = time.monotonic() + 5
    while cache.get(key) is not None:  # the Pub/Sub message: well under a second
        assert time.monotonic() < deadline, "the revocation did not arrive"
        time.sleep(0.01)
    assert client.get("/api/v1/auth/me").status_code == 401
