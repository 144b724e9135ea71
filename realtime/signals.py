"""Revocation: a token deleted (logout) or a session logged out ends that credential's
private subscriptions on every web process. The web process that revoked it publishes
``ws.revoked.<user_id>`` (after the commit); the bridge forwards it to the user's group as
a ``user.revoked`` event, and each socket authenticated with that credential drops it.
Sockets also re-check their credential at every server ping, should a message be lost."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

REVOKED_PATTERN = "ws.revoked.*"


def revoked_channel(user_id: int) -> str:
    return f"ws.revoked.{user_id}"


def credential_digest(kind: str, secret: str) -> str:
    """What travels in revocation messages instead of the token or session key."""
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()[:24]


def publish_revoked(user_id: int, digest: str) -> None:
    from marketdata.selectors import read_model

    try:
        read_model().publish(revoked_channel(user_id), digest)
    except Exception:  # the sockets' periodic re-check still catches it
        logger.exception("user %s: could not publish a revocation", user_id)


def _token_deleted(sender: Any, instance: Any, **_: Any) -> None:
    digest = credential_digest("token", instance.key)
    user_id = instance.user_id
    transaction.on_commit(lambda: publish_revoked(user_id, digest))


def _logged_out(sender: Any, request: Any, user: Any, **_: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if user is not None and key:
        publish_revoked(user.pk, credential_digest("session", key))


def connect() -> None:
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import post_delete
    from rest_framework.authtoken.models import Token

    post_delete.connect(_token_deleted, sender=Token, dispatch_uid="realtime-token-revoked")
    user_logged_out.connect(_logged_out, dispatch_uid="realtime-session-revoked")
