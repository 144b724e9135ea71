"""API tokens looked up once per web process, not once per request.

``CachedTokenAuthentication`` is DRF's TokenAuthentication with an in-process cache of
key -> (user, token). An entry lives at most ``TOKEN_CACHE_SECONDS`` and is dropped at
once when its credential changes anywhere:

* in this process, synchronously, from the model signals: a Token deleted (log-out, the
  admin, a user's deletion) or saved, a User saved (deactivated, renamed) or deleted;
* in every other web process through Redis Pub/Sub: the same signals publish the user's id
  on ``REVOKED_CHANNEL`` after the commit, and each process's listener drops that user's
  entries.

The cache is only used while the listener is subscribed; it is emptied on every
(re)subscription (a message may have been missed meanwhile) and bypassed while Redis is
unreachable. A lookup that started before an invalidation of the same process is not
stored (``_epoch``), so a read racing a revocation cannot put the revoked token back.
A change that bypasses the signals (``QuerySet.update``, raw SQL) is seen within the
lifetime of an entry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.base import ModelState
from rest_framework.authentication import TokenAuthentication

logger = logging.getLogger(__name__)

REVOKED_CHANNEL = "auth.revoked"
MAX_ENTRIES = 100_000


def clone(instance: Any) -> Any:
    """A copy of a model instance as loaded (its fields; no cached relations): what
    copy.copy makes through Model.__reduce__, at a fraction of the cost."""
    twin = object.__new__(type(instance))
    twin.__dict__.update(instance.__dict__)
    state = ModelState()
    state.db, state.adding = instance._state.db, instance._state.adding
    twin._state = state
    return twin


class TokenCache:
    def __init__(self, redis_url: str, *, ttl: float) -> None:
        self.ttl = ttl
        self._redis_url = redis_url
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, Any, Any]] = OrderedDict()
        self._epoch = 0
        self._live = threading.Event()
        self._listener: threading.Thread | None = None

    # -- lookups -----------------------------------------------------------------------

    def get(self, key: str) -> tuple[Any, Any] | None:
        """(user, token) for a cached, unexpired key; a copy of the user, so that a view
        changing it changes no other request's."""
        self._ensure_listener()
        if not self._live.is_set():
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return clone(entry[1]), entry[2]

    def epoch(self) -> int:
        return self._epoch

    def put(self, key: str, user: Any, token: Any, epoch: int) -> None:
        """Remember a lookup that started at ``epoch`` (not if anything was invalidated
        since, nor while the listener is down)."""
        with self._lock:
            if epoch != self._epoch or not self._live.is_set():
                return
            self._entries[key] = (time.monotonic() + self.ttl, user, token)
            if len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    # -- invalidation ------------------------------------------------------------------

    def drop_user(self, user_id: int) -> None:
        with self._lock:
            self._epoch += 1
            for key in [k for k, e in self._entries.items() if e[1].pk == user_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()

    def _ensure_listener(self) -> None:
        if self._listener is None:
            with self._lock:
                if self._listener is None:
                    self._listener = threading.Thread(
                        target=self._listen, name="token-cache", daemon=True
                    )
                    self._listener.start()

    def _listen(self) -> None:
        client = redis.Redis.from_url(self._redis_url)
        while True:
            try:
                pubsub = client.pubsub()
                pubsub.subscribe(REVOKED_CHANNEL)
                while True:
                    message = pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.clear()  # what was missed while unsubscribed is unknown
                        self._live.set()
                    elif message["type"] == "message":
                        self.drop_user(int(message["data"]))
            except (redis.RedisError, ValueError) as exc:
                if self._live.is_set():
                    logger.warning("token cache: lost the revocation channel (%s); bypassed", exc)
                self._live.clear()
                self.clear()
                time.sleep(0.5)


_cache: TokenCache | None = None
_cache_lock = threading.Lock()


def token_cache() -> TokenCache:
    """This process's cache, made on first use."""
    global _cache
    if _cache is None:
        with _cache_lock:
            if _cache is None:
                _cache = TokenCache(settings.REDIS_URL, ttl=settings.TOKEN_CACHE_SECONDS)
    return _cache


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication (same header, same errors), cached per process."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        cache = token_cache()
        cached = cache.get(key)
        if cached is not None:
            return cached
        epoch = cache.epoch()
        user, token = super().authenticate_credentials(key)  # 401 for unknown or inactive
        cache.put(key, user, token, epoch)
        return clone(user), token


# -- the signals that revoke -------------------------------------------------------------


def publish_revoked(user_id: int) -> None:
    from marketdata.selectors import read_model

    try:
        read_model().publish(REVOKED_CHANNEL, str(user_id))
    except redis.RedisError:  # the other processes' listeners are down too: bypassed
        logger.warning("user %s: could not publish a token revocation", user_id)


def credential_changed(user_id: int | None) -> None:
    """Drop the user's cached tokens here now and in every web process after the commit."""
    if user_id is None:
        return
    token_cache().drop_user(user_id)
    transaction.on_commit(lambda: publish_revoked(user_id))


def _token_changed(sender: Any, instance: Any, **_: Any) -> None:
    credential_changed(instance.user_id)


def _user_changed(sender: Any, instance: Any, **_: Any) -> None:
    credential_changed(instance.pk)


def connect() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save
    from rest_framework.authtoken.models import Token

    user = get_user_model()
    post_delete.connect(_token_changed, sender=Token, dispatch_uid="token-cache-token-deleted")
    post_save.connect(_token_changed, sender=Token, dispatch_uid="token-cache-token-saved")
    post_save.connect(_user_changed, sender=user, dispatch_uid="token-cache-user-saved")
    post_delete.connect(_user_changed, sender=user, dispatch_uid="token-cache-user-deleted")
