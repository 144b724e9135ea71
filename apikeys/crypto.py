"""The API-key secrets' encryption at rest: Fernet (AES-128-CBC with HMAC-SHA256, from the
`cryptography` package), through MultiFernet so that keys can be rotated.

Keys, in order (the first encrypts; any of them decrypts):

1. settings.API_KEY_ENCRYPTION_KEYS (env ``API_KEY_ENCRYPTION_KEYS``, comma-separated
   Fernet keys: ``python -c "from cryptography.fernet import Fernet;
   print(Fernet.generate_key().decode())"``). A dedicated key is the advice for a
   deployment: the secrets then do not depend on SECRET_KEY, which may be rotated.
2. A key derived from SECRET_KEY (HKDF-SHA256), then one from each of
   SECRET_KEY_FALLBACKS: a deployment without a dedicated key works, and stays readable
   while SECRET_KEY is rotated through SECRET_KEY_FALLBACKS.

Rotation: put the new key first in API_KEY_ENCRYPTION_KEYS, keep the old ones after it,
run ``manage.py api_keys_reencrypt`` (every secret under the first key), then drop the old
ones. Losing every key makes the stored secrets unreadable: the keys must be created again.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

HKDF_INFO = b"exchange api-key secrets v1"


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from a Django SECRET_KEY (not the key itself: another use of
    it must not be able to read the secrets)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=4)
def _fernet(dedicated: tuple[str, ...], secret_keys: tuple[str, ...]) -> MultiFernet:
    keys = [Fernet(key) for key in dedicated]
    keys += [Fernet(derived_key(secret_key)) for secret_key in secret_keys]
    return MultiFernet(keys)


def fernet() -> MultiFernet:
    return _fernet(
        tuple(settings.API_KEY_ENCRYPTION_KEYS),
        (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])),
    )


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str | None:
    """The secret, or None when no configured key opens it (keys lost or changed)."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def reencrypt(token: str) -> str:
    """``token`` encrypted again under the first key (MultiFernet.rotate)."""
    return fernet().rotate(token.encode()).decode()
