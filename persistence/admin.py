"""The DB processor's dead-letter store in the admin: the list, a page per dead letter
with its error and the stream entry it holds, and the action "Retry" (the same retry as
``manage.py dead_letters retry``, persistence.deadletters). Dead letters are never
added or edited here; a successful retry is what removes one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.utils.html import format_html

from apikit.admin_base import NoWritesAdmin
from persistence.deadletters import payload, retry_dead_letter, sequence_range
from persistence.models import DeadLetter

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

ERROR_IN_LIST = 120  # characters of the error in the list


@admin.register(DeadLetter)
class DeadLetterAdmin(NoWritesAdmin):
    list_display = ("id", "shard", "sequences", "entry_id", "attempts", "created_at",
                    "short_error")  # fmt: skip
    list_filter = ("shard",)
    ordering = ("shard", "last_seq")
    actions = ("retry",)
    fields = ("shard", "sequences", "entry_id", "attempts", "created_at", "last_attempt_at",
              "error_text", "entry", "balances_before")  # fmt: skip
    readonly_fields = fields

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("engine_worker.change_deadletter"))

    @admin.display(description="sequences", ordering="last_seq")
    def sequences(self, dead: DeadLetter) -> str:
        return sequence_range(dead)

    @admin.display(description="error")
    def short_error(self, dead: DeadLetter) -> str:
        return dead.error[:ERROR_IN_LIST]

    @admin.display(description="error")
    def error_text(self, dead: DeadLetter) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", dead.error)

    @admin.display(description="stream entry")
    def entry(self, dead: DeadLetter) -> str:
        text = json.dumps(payload(dead), indent=2, sort_keys=True)
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)

    @admin.display(description="balances before it (user, asset, available, locked)")
    def balances_before(self, dead: DeadLetter) -> str:
        return format_html("<pre>{}</pre>", dead.before or "-")

    @admin.action(description="Retry the selected dead letters", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        for dead in queryset.order_by("shard", "last_seq"):
            ok, error = retry_dead_letter(dead.pk)
            where = f"dead letter {dead.pk} (shard {dead.shard}, seq {sequence_range(dead)})"
            if ok:
                self.message_user(request, f"{where} persisted", messages.SUCCESS)
            else:
                self.message_user(request, f"{where} failed again: {error}", messages.ERROR)
