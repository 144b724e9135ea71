"""Compile the engine core (engine_worker/core) and its presenters (PRESENTERS: wire,
fold, shapes, units) with mypyc; `make venv` runs this.

The build goes to var/build/core/<digest>/ (engine_worker/core/, and the presenters under
engine_worker/ and marketdata/), where <digest> is engine_worker.core.source_digest() of
the sources it is built from; the packages prefer those directories on their __path__
(see engine_worker/core/__init__.py), and a checkout stays clean (var/ is ignored by git).
Skipped when a complete build for the current sources and the installed mypy exists.
Builds in a temporary directory and renames it into place, so a process never loads a
half-written build; older builds are removed afterwards.

Needs gcc and the Python headers (mypyc emits C), and setuptools (in every Python 3.11
venv). mypyc ships with mypy (requirements.txt pins it).

    .venv/bin/python scripts/build_core.py [--force]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ["ENGINE_CORE"] = "pure"  # this process only reads the package's constants
sys.path.insert(0, str(ROOT))

import engine_worker.core as core  # noqa: E402

# The C group (the shared library every compiled module links to) lives inside the
# package, so one directory on the package's __path__ holds the whole build.
GROUP = "engine_worker.core._native"
# mypy's view of the core: strict, as `make lint` checks it, without the Django plugins.
MYPY_CONFIG = "[mypy]\npython_version = 3.11\nstrict = True\nwarn_unused_ignores = True\n"


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def say(msg: str) -> None:
    print(f"==> core: {msg}", flush=True)


def mypy_version() -> str:
    from mypy.version import __version__

    return __version__


def build(target: Path, log: Path) -> None:
    """Compile into a fresh directory next to ``target``, then rename it to ``target``."""
    work = target.parent / f".tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    src = work / "src"
    pkg = src / "engine_worker" / "core"
    pkg.mkdir(parents=True)
    (src / "engine_worker" / "__init__.py").write_text("")
    for path in core._HERE.glob("*.py"):  # mypy reads them all; mypyc compiles MODULES
        shutil.copy2(path, pkg / path.name)
    for name in core.PRESENTERS + core.DEPENDENCIES:  # and the presenters, with their
        # packages (empty here), and the modules they import, for their types
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).parent.joinpath("__init__.py").touch()
        shutil.copy2(ROOT / name, src / name)
    (src / "mypy.ini").write_text(MYPY_CONFIG)
    out = work / "out"
    t0 = time.monotonic()
    cwd = Path.cwd()
    os.chdir(src)  # mypyc names modules and writes its C files relative to the cwd
    try:
        from mypyc.build import mypycify
        from setuptools import setup

        with log.open("w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
            try:
                exts = mypycify(
                    ["--config-file", "mypy.ini"]
                    + [f"engine_worker/core/{m}.py" for m in core.MODULES]
                    + list(core.PRESENTERS),
                    opt_level="3",
                    group_name=GROUP,
                )
            except SystemExit as e:  # mypyc exits on a type error
                raise RuntimeError(f"mypyc failed ({e.code}): see {rel(log)}") from None
        say(f"C generated in {time.monotonic() - t0:.1f}s; compiling it (gcc, ~30 s)")
        with log.open("a") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
            setup(
                name="engine-core-native",
                ext_modules=exts,
                script_args=["build_ext", "--build-lib", str(out), "--build-temp", "tmp", "-q"],
            )
    finally:
        os.chdir(cwd)
    so = sorted(str(p.relative_to(out)) for p in out.rglob("*.so"))
    want = {f"engine_worker/core/{m}" for m in [*core.MODULES, GROUP.rsplit(".", 1)[1] + "__mypyc"]}
    want |= {name.removesuffix(".py") for name in core.PRESENTERS}
    missing = want - {n.split(".", 1)[0] for n in so}
    if missing:
        raise RuntimeError(f"the build lacks {sorted(missing)}: see {rel(log)}")
    final = work / "final"
    shutil.move(str(out), final)
    info = {"mypy": mypy_version(), "python": sys.version, "modules": so,
            "seconds": round(time.monotonic() - t0, 1)}  # fmt: skip
    (final / "BUILD_INFO.json").write_text(json.dumps(info, indent=1) + "\n")
    (final / "engine_worker" / "core" / "COMPLETE").write_text(core.source_digest() + "\n")
    try:
        final.rename(target)
    except OSError:  # another build of the same sources got there first: keep that one
        if not (target / "engine_worker" / "core" / "COMPLETE").is_file():
            raise
    shutil.rmtree(work, ignore_errors=True)


def check(target: Path) -> None:
    """Import the build in a fresh interpreter (ENGINE_CORE=compiled) and apply a command."""
    code = (
        "import engine_worker.core as c, engine_worker.core.engine as e\n"
        "assert c.IMPLEMENTATION == 'compiled' and e.__file__.startswith(str(c.build_dir()))\n"
        "from engine_worker.core.commands import Deposit\n"
        "assert len(e.Engine().apply(Deposit('r', 0, 1, 'USDT', 5))) == 2\n"
        "import importlib, marketdata.units as u\n"
        f"for name in {[n.removesuffix('.py').replace('/', '.') for n in core.PRESENTERS]!r}:\n"
        "    m = importlib.import_module(name)\n"
        "    assert m.__file__.startswith(str(c.build_dir().parents[1])), m\n"
        "assert u.format_scaled(-1234, 2) == '-12.34'\n"
    )
    env = {**os.environ, "ENGINE_CORE": "compiled"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def missing_toolchain() -> str | None:
    """What the C build needs and this machine lacks (None: nothing)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return f"no Python headers (Python.h in {sysconfig.get_paths()['include']})"
    try:
        import setuptools  # noqa: F401
    except ImportError:
        return "no setuptools in the venv"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = ap.parse_args()
    digest = core.source_digest()
    root = core.BUILD_ROOT
    target = root / digest
    info_file = target / "BUILD_INFO.json"
    complete = (target / "engine_worker" / "core" / "COMPLETE").is_file()
    if complete and not args.force and info_file.is_file():
        info = json.loads(info_file.read_text())
        if info.get("mypy") == mypy_version():
            say(f"compiled build {digest} up to date (sources unchanged), skipping mypyc")
            return
    lack = missing_toolchain()
    if lack:
        say(
            f"NOT compiled: {lack}; the engine core runs as pure Python (slower). Install gcc "
            "and the Python headers (Debian: apt-get install -y gcc python3-dev) and rerun "
            "`make venv`; `make test` asks for the compiled core unless ENGINE_CORE=pure"
        )
        return
    root.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    log = root / f"build-{digest}.log"
    say(
        f"compiling engine_worker/core and {len(core.PRESENTERS)} presenters with mypyc "
        f"{mypy_version()} into {rel(target)}"
    )
    t0 = time.monotonic()
    build(target, log)
    check(target)
    for old in root.iterdir():  # earlier builds (other sources) and their logs
        if old.name not in (digest, log.name) and not old.name.startswith(".tmp-"):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    say(f"compiled in {time.monotonic() - t0:.0f}s (log: {rel(log)})")


if __name__ == "__main__":
    main()
