"""API keys in the admin: list and search them, revoke them (an action); never the secret
(not even its encryption), and no add, edit or delete (keys are the users' own; a revoked
key stays as a record)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apikeys.models import ApiKey
from apikeys.services import api_keys_revoke


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "label",
        "user",
        "api_key",
        "scopes",
        "allowed_ips",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (ActiveFilter, "created_at")
    search_fields = ("label", "api_key", "user__username")
    list_select_related = ("user",)
    fields = (
        "user",
        "label",
        "scopes",
        "api_key",
        "allowed_ips",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("apikeys.change_apikey")

    @admin.action(description="Revoke the selected API keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        active = list(queryset.filter(revoked_at__isnull=True))
        count = api_keys_revoke(queryset.filter(pk__in=[key.pk for key in active]))
        for key in active:
            self.log_change(request, key, "Revoked the API key.")
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
