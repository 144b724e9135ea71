"""`manage.py build_static`: `collectstatic --noinput` into STATIC_ROOT, skipped when
nothing it would collect changed since the last build. `make run`, `make test` and the test
stacks call it; WhiteNoise serves the result (settings: STORAGES, WHITENOISE_*).

collectstatic alone copies only changed files but post-processes (hashes, compresses) all
of them each time, about 2 s here; the fingerprint (every source file's name, size and
modification time, and the storage) takes a fraction of that."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand

STAMP = ".build-hash"
IGNORE = ["CVS", ".*", "*~"]  # collectstatic's default ignore patterns


def fingerprint() -> str:
    """A hash over what collectstatic would collect, and how it would store it."""
    digest = hashlib.sha256(repr(settings.STORAGES["staticfiles"]).encode())
    entries = []
    for finder in get_finders():
        for path, storage in finder.list(IGNORE):
            prefix = getattr(storage, "prefix", None) or ""
            stat = Path(storage.path(path)).stat()
            entries.append(f"{prefix}/{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


class Command(BaseCommand):
    help = "collectstatic --noinput into STATIC_ROOT, unless nothing changed since the last run."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="collect even if unchanged")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.STATIC_ROOT)
        stamp = root / STAMP
        want = fingerprint()
        manifest = root / "staticfiles.json"
        if not options["force"] and manifest.is_file() and stamp.is_file():
            if stamp.read_text().strip() == want:
                self.stdout.write(f"==> static files: up to date ({root}), skipping")
                return
        self.stdout.write(f"==> static files: collectstatic into {root}")
        call_command("collectstatic", interactive=False, verbosity=0)
        stamp.write_text(want + "\n")
        self.stdout.write(f"==> static files: ready ({root})")
