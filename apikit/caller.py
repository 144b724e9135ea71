"""The authenticated caller of an API view. Every view but sign-up and log-in is behind
IsAuthenticated (settings.REST_FRAMEWORK), so an anonymous caller does not reach one; if a
view's permissions ever let one through, it is a 401, not a query for user None."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request


def caller(request: Request) -> User:
    user = request.user
    if isinstance(user, AnonymousUser):
        raise NotAuthenticated()
    return user


def caller_id(request: Request) -> int:
    return caller(request).pk
