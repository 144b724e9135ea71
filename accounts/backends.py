"""django-axes' lock-out check as an authentication backend (AUTHENTICATION_BACKENDS)."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend


class AxesBackend(AxesStandaloneBackend):
    """Refuses a locked-out account (the request is flagged; AxesMiddleware and the token
    API answer 429). A call without a request (a management command, a test client's
    login) is no remote attempt: it is neither counted nor refused here."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
