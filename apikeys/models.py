"""A user's API keys: a public id (``api_key``, sent as X-MBX-APIKEY) and a secret that
signs requests (HMAC-SHA256, apikeys/signing.py). Verifying an HMAC needs the secret
itself, so it cannot be hashed: it is stored encrypted (apikeys/crypto.py) and shown to
the user once, when the key is created."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

LABEL_LENGTH = 64


class Scope(models.TextChoices):
    """What a key may do: ``read`` the owner's balances, orders and fills, ``trade``
    (place and cancel orders). Neither implies the other."""

    READ = "read"
    TRADE = "trade"


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    label = models.CharField(max_length=LABEL_LENGTH)
    scopes = ArrayField(models.CharField(max_length=8, choices=Scope.choices))
    api_key = models.CharField(max_length=64, unique=True, help_text="Sent as X-MBX-APIKEY.")
    secret_encrypted = models.TextField(help_text="The secret, Fernet-encrypted.")
    allowed_ips = ArrayField(
        models.CharField(max_length=43),
        default=list,
        blank=True,
        help_text="Networks (CIDR) the key may be used from; empty: any address.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apikey_user_active")]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.label} ({self.api_key[:8]}...) of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows_address(self, address: str) -> bool:
        """Whether a request from ``address`` may use the key: any address when the
        allowlist is empty, else one inside a listed network (an IPv4-mapped IPv6
        address counts as its IPv4 address)."""
        if not self.allowed_ips:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in ipaddress.ip_network(network) for network in self.allowed_ips)
