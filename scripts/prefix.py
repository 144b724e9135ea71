#!/usr/bin/env python3
"""Run a command and prefix every line of its output with ``[NAME] ``.

Usage: prefix.py NAME CMD [ARG...]

Used by deploy/supervisord.conf so that all services can share supervisord's stdout
and still be told apart. The wrapper

* starts CMD in its own process group, stdout and stderr merged into one pipe,
  with PYTHONUNBUFFERED=1 so Python children do not hold lines back;
* writes each line to its own stdout as ``[NAME] line`` (a line that already starts
  with ``[NAME]`` is left alone, and so is a JSON object when ``LOG_FORMAT=json``: the
  services' JSON log lines carry their service as a field and stay one object per line);
* forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the child's
  process group exactly once (the child is in its own group, so a signal sent to
  our group by supervisord's stopasgroup does not reach it twice);
* on Linux asks the kernel to SIGTERM the wrapper if its parent (supervisord) dies
  and to SIGKILL the child if the wrapper dies, so nothing is left behind;
* exits with the child's exit code, or dies of the same signal the child died of.

Standard library only: it may run under any Python 3.8+.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
PR_SET_PDEATHSIG = 1


def _load_prctl():  # -> callable or None
    """Linux only: libc's prctl, looked up once (never between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _set_parent_death_signal(sig: int) -> None:
    """Ask the kernel to deliver ``sig`` to this process when its parent exits."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _child_setup() -> None:
    # Runs in the child between fork and exec: die with the wrapper.
    _set_parent_death_signal(signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: prefix.py NAME CMD [ARG...]\n")
        return 2
    name, cmd = argv[1], argv[2:]
    prefix = f"[{name}] ".encode()
    marker = f"[{name}]".encode()
    json_lines = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"

    parent = os.getppid()
    _set_parent_death_signal(signal.SIGTERM)
    orphaned = os.getppid() != parent  # parent died before prctl took effect

    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    stdin = subprocess.DEVNULL if sys.stdin is None or sys.stdin.isatty() else None
    try:
        child = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own session and process group
            preexec_fn=_child_setup,  # single-threaded here, so safe
        )
    except OSError as exc:
        sys.stdout.write(f"[{name}] prefix.py: cannot start {cmd[0]!r}: {exc}\n")
        sys.stdout.flush()
        return 127

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    if orphaned:
        forward(signal.SIGTERM, None)

    out = sys.stdout.buffer
    stdout_ok = True
    assert child.stdout is not None
    for line in iter(child.stdout.readline, b""):
        if not stdout_ok:
            continue  # keep draining so the child never blocks on a full pipe
        if not line.endswith(b"\n"):
            line += b"\n"
        try:
            keep = line.startswith(marker) or (json_lines and line.startswith(b"{"))
            out.write(line if keep else prefix + line)
            out.flush()
        except (BrokenPipeError, OSError):
            stdout_ok = False
    code = child.wait()

    if code < 0:  # killed by a signal: die the same way so supervisord reports it
        sig = -code
        with contextlib.suppress(Exception):
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        return 128 + sig
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
