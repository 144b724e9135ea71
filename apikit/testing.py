"""Helpers for tests that run real servers of their own (not imported by the app)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
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
