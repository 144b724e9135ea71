"""Reading API keys."""

from __future__ import annotations

from apikeys.models import ApiKey


def api_key_list(*, user_id: int) -> list[ApiKey]:
    """The user's keys that are not revoked, newest first."""
    return list(ApiKey.objects.filter(user_id=user_id, revoked_at__isnull=True))
