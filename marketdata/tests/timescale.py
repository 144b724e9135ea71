"""The TimescaleDB server of the tests: TimescaleDB compiled into PGlite (WASM PostgreSQL),
served over the wire protocol by tools/timescaledb/server.mjs (npm ci on first use)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "timescaledb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TimescaleServer:
    """``node server.mjs --port P`` in a subprocess; ``url`` once it printed "ready"."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        # PGlite speaks no TLS and takes any password; it holds one database.
        return f"postgres://postgres:pglite@127.0.0.1:{self.port}/postgres?sslmode=disable"

    @staticmethod
    def install() -> None:
        if (TOOL / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install tools/timescaledb")
        subprocess.run(  # noqa: S603
            [npm, "ci", "--no-audit", "--no-fund"], cwd=TOOL, check=True, timeout=300
        )

    def start(self, timeout: float = 60) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is needed to run tools/timescaledb/server.mjs")
        self.install()
        self.proc = subprocess.Popen(  # noqa: S603
            [node, "server.mjs", "--port", str(self.port)],
            cwd=TOOL,
            stdin=subprocess.PIPE,  # the server stops when its stdin closes (with us)
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                if line.startswith("ready"):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("TimescaleDB (PGlite) did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
