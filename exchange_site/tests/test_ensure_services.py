"""scripts/ensure_services.py's Redis: the one it starts keeps an append-only file (so
a kill -9 of it keeps what was written a second before), and one already running without
AOF gets a loud warning with the fix."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from apikit.testing import ScratchRedis, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@pytest.fixture
def services(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "ensure_services", ROOT / "scripts" / "ensure_services.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ensure_services", module)  # for its dataclasses
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "VAR", tmp_path)
    return module


def _kill(pidfile: Path) -> None:
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def test_the_redis_it_starts_keeps_an_append_only_file(services, tmp_path, capsys):
    port = free_port()
    target = services.parse_redis(f"redis://127.0.0.1:{port}/0")
    pidfile = tmp_path / f"redis-{port}.pid"
    try:
        services.ensure_redis(target)  # not running: started
        client = redis.Redis.from_url(target.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert "append-only file on (appendfsync everysec)" in capsys.readouterr().out
        client.set("acknowledged", "1")
        time.sleep(1.5)  # everysec: on disk within a second
        _kill(pidfile)  # a crash, not a clean shutdown
        services.ensure_redis(target)  # down: started again, on the same files
        assert client.get("acknowledged") == b"1"
        assert list(tmp_path.glob("appendonlydir/*.aof"))
    finally:
        if pidfile.exists():
            _kill(pidfile)


def test_start_command_turns_aof_on(services):
    target = services.parse_redis("redis://:secret@127.0.0.1:6390/0")
    cmd = services.redis_start_command(target, "redis-server")
    options = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] in ("everysec", "always")
    assert options["--port"] == "6390" and options["--requirepass"] == "secret"


def test_a_running_redis_without_aof_gets_a_warning_with_the_fix(services, tmp_path, capsys):
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(tmp_path), "--appendonly", "no", "--save", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        target = services.parse_redis(f"redis://127.0.0.1:{port}/0")
        deadline = time.monotonic() + 10
        while services.redis_probe(target)[0] != "ok":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        services.ensure_redis(target)
        err = capsys.readouterr().err
        assert f"WARNING: Redis at 127.0.0.1:{port} keeps no append-only file" in err
        assert f"redis-cli -h 127.0.0.1 -p {port} CONFIG SET appendonly yes" in err
    finally:
        proc.kill()
        proc.wait(10)


def test_a_running_redis_with_aof_gets_no_warning(services, tmp_path, capsys):
    scratch = ScratchRedis(tmp_path)
    scratch.start()
    try:
        services.ensure_redis(services.parse_redis(scratch.url))
        captured = capsys.readouterr()
        assert "WARNING" not in captured.err
        assert "append-only file on (appendfsync always)" in captured.out
    finally:
        scratch.kill()
