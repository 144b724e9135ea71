"""Creating and revoking API keys (the API's views and the admin come here)."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import string
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apikeys import crypto
from apikeys.models import ApiKey, Scope
from apikit.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 64  # the api key and the secret, as Binance's
MAX_ALLOWED_IPS = 30


def _random_text() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def allowed_ips_normalise(entries: Iterable[str]) -> list[str]:
    """Addresses and networks ("203.0.113.7", "10.0.0.0/8", "2001:db8::/32") as networks
    in CIDR notation, without repeats; anything else is a 400 naming it."""
    networks: list[str] = []
    for entry in entries:
        try:
            network = str(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            message = f"{entry!r} is not an IP address or network."
            raise InvalidInput(message, details={"allowed_ips": [message]}) from exc
        if network not in networks:
            networks.append(network)
    if len(networks) > MAX_ALLOWED_IPS:
        message = f"At most {MAX_ALLOWED_IPS} addresses or networks."
        raise InvalidInput(message, details={"allowed_ips": [message]})
    return networks


def api_key_create(
    *, user: Any, label: str, scopes: Iterable[str], allowed_ips: Iterable[str] = ()
) -> tuple[ApiKey, str]:
    """A new key for ``user`` and its secret (to show once: only its encryption is
    stored). At most settings.API_KEYS_PER_USER keys that are not revoked (409
    ``too_many_api_keys``)."""
    wanted = set(scopes)
    chosen = [scope for scope in Scope.values if scope in wanted]
    if not chosen or len(chosen) != len(wanted):
        message = f"Scopes are one or more of {', '.join(Scope.values)}."
        raise InvalidInput(message, details={"scopes": [message]})
    networks = allowed_ips_normalise(allowed_ips)
    label = label.strip()
    if not label:
        raise InvalidInput("label: This field may not be blank.", details={"label": ["blank"]})
    secret = _random_text()
    limit = settings.API_KEYS_PER_USER
    with transaction.atomic():
        # one creation at a time per user, so that two at once cannot pass the limit
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= limit:
            raise Conflict(
                f"At most {limit} API keys; revoke one first.",
                code="too_many_api_keys",
                details={"limit": limit},
            )
        key = ApiKey.objects.create(
            user=user,
            label=label,
            scopes=chosen,
            api_key=_random_text(),
            secret_encrypted=crypto.encrypt(secret),
            allowed_ips=networks,
        )
    logger.info(
        "user %d created api key %d (%s), scopes %s, ips %s",
        user.pk,
        key.pk,
        key.api_key[:8],
        ",".join(chosen),
        ",".join(networks) or "any",
    )
    return key, secret


def api_key_revoke(*, user_id: int, key_id: int) -> None:
    """Revoke one of the user's keys at once (the next request with it is refused);
    another user's key, an unknown or an already revoked one: 404 ``unknown_api_key``."""
    revoked = ApiKey.objects.filter(pk=key_id, user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise NotFound("No such API key.", code="unknown_api_key")
    logger.info("user %d revoked api key %d", user_id, key_id)


def api_keys_revoke(keys: QuerySet[ApiKey]) -> int:
    """Revoke the keys of ``keys`` not yet revoked (the admin's action); how many."""
    revoked = keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    logger.info("revoked %d api keys", revoked)
    return revoked
