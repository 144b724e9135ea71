"""Helpers for tests that run real servers of their own (not imported by the app)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScratchRedis:
    """A redis-server of the test's own on a free port, in a temporary directory, with
    AOF on and fsync on every write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@contextlib.contextmanager
def scratch_database(suffix: str) -> Iterator[str]:
    """A database of the test's own, named after the test database, on its server; yields
    its URL and drops it after. Migrate it with ``manage.py migrate`` in a subprocess."""
    import psycopg
    from django.db import connection

    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_{suffix}"
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    server = f"postgresql://{settings_dict['USER'] or 'postgres'}@{host}:{port}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_bin() -> Path:
    """The newest installed PostgreSQL server's binaries (initdb, pg_ctl, pg_dump, ...)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("no PostgreSQL server installed (apt-get install -y postgresql)")
    return found[-1].parent


class ScratchPostgres:
    """A PostgreSQL server of the test's own: initdb in a temporary directory, a free port on
    127.0.0.1, trust authentication for ``postgres``. As root, it runs as the ``postgres``
    user (initdb refuses root), in a directory of its own outside root's private ones."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.directory = Path(tempfile.mkdtemp(prefix="scratch-postgres-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.directory, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, stdout=subprocess.DEVNULL)  # noqa: S603

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Scrape:
    """A Prometheus text exposition, parsed (prometheus-client's parser), for tests."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        families = list(text_string_to_metric_families(text))
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in families
            for sample in family.samples
        ]
        # family name (a counter's without _total) -> (type, its samples' label names)
        self.families = {
            family.name: (
                family.type,
                {k for sample in family.samples for k in sample.labels if k != "le"},
            )
            for family in families
        }

    @classmethod
    def get(cls, url: str, timeout: float = 5) -> Scrape:
        import urllib.request

        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local
            return cls(response.read().decode())

    def names(self) -> set[str]:
        """Every sample name (a histogram's _bucket, _sum and _count, a counter's _total)."""
        return {name for name, _, _ in self.samples}

    def matching(self, name: str, **labels: str) -> list[float]:
        return [
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(self.matching(name, **labels))
