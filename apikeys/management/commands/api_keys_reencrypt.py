"""Encrypt every API key's secret again under the first of API_KEY_ENCRYPTION_KEYS (after a
new key was put first; apikeys/crypto.py). Keys no configured key opens are reported and
left as they are."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from apikeys import crypto
from apikeys.models import ApiKey


class Command(BaseCommand):
    help = "Encrypt every API key secret again under the first API_KEY_ENCRYPTION_KEYS key."

    def handle(self, *args: object, **options: object) -> None:
        done = unreadable = 0
        total = ApiKey.objects.count()
        for key in ApiKey.objects.order_by("pk").iterator(chunk_size=500):
            if crypto.decrypt(key.secret_encrypted) is None:
                unreadable += 1
                self.stderr.write(f"api key {key.pk}: no configured key opens its secret")
                continue
            with transaction.atomic():
                ApiKey.objects.filter(pk=key.pk).update(
                    secret_encrypted=crypto.reencrypt(key.secret_encrypted)
                )
            done += 1
            if done % 1000 == 0:
                self.stdout.write(f"{done}/{total} re-encrypted")
        self.stdout.write(
            f"re-encrypted {done} of {total} API key secrets; {unreadable} unreadable"
        )
