"""What the apps' admins share: rows only the engine's services write."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class NoWritesAdmin(admin.ModelAdmin):
    """No add, change or delete in the admin: rows that only the DB processor (or the
    engine's services) write. Actions a subclass declares are its own business."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
