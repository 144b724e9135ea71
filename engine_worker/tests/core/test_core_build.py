"""The compiled core (scripts/build_core.py, run by `make venv`) is the one in use whenever
it is built for the current sources, with the presenters compiled beside it, and the
core's and the presenters' tests pass against both the compiled build and the pure source
(engine_worker/core/__init__.py chooses between them)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import engine_worker.core as core

ROOT = Path(__file__).resolve().parents[3]
SOURCE = Path(core.__file__).resolve().parent
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def _built() -> bool:
    return (core.build_dir() / "COMPLETE").is_file()


def _builds() -> list[str]:
    """The digests of every complete build on disk."""
    root = core.BUILD_ROOT
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "engine_worker/core/COMPLETE").is_file())


def _python(args: list[str], engine_core: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` in the repository, ENGINE_CORE=``engine_core``."""
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, *args], cwd=ROOT, env={**os.environ, "ENGINE_CORE": engine_core, **env},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def test_the_build_for_these_sources_is_the_one_in_use() -> None:
    files = {
        m: Path(importlib.import_module(f"{core.__name__}.{m}").__file__ or "")
        for m in core.MODULES
    }
    if _built() and os.environ.get("ENGINE_CORE") != "pure":
        assert core.IMPLEMENTATION == "compiled"
        wrong = {m: str(f) for m, f in files.items() if f != core.build_dir() / f"{m}{EXT_SUFFIX}"}
        assert not wrong, f"built, but these core modules did not load from the build: {wrong}"
    else:
        assert core.IMPLEMENTATION == "pure"
        wrong = {m: str(f) for m, f in files.items() if f != SOURCE / f"{m}.py"}
        assert not wrong, f"pure, but these core modules did not load from the source: {wrong}"
    # rules.py is never compiled (see MODULES)
    assert (
        Path(importlib.import_module(f"{core.__name__}.rules").__file__ or "")
        == SOURCE / "rules.py"
    )
    # the presenters load from the same build as the core, or from their source with it
    for name in core.PRESENTERS:
        module = name.removesuffix(".py")
        loaded = Path(importlib.import_module(module.replace("/", ".")).__file__ or "")
        if core.IMPLEMENTATION == "compiled":
            assert loaded == core.build_dir().parents[1] / f"{module}{EXT_SUFFIX}", name
        else:
            assert loaded == ROOT / name, name


def test_a_presenters_source_is_part_of_the_digest(tmp_path: Path, monkeypatch) -> None:
    """A changed presenter makes the build stale, as a changed core module does: the
    compiled presenter read the core's fields natively and must match its source."""
    for name in core.PRESENTERS + core.DEPENDENCIES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    monkeypatch.setattr(core, "_REPO", tmp_path)
    same = core.source_digest()
    assert same == core.source_digest()
    units = tmp_path / "marketdata/units.py"
    units.write_bytes(units.read_bytes() + b"\n# changed\n")
    changed = core.source_digest()
    assert changed != same
    # and so does a module they import (read by mypyc for its types)
    keys = tmp_path / "infra/keys.py"
    keys.write_bytes(keys.read_bytes() + b"\n# changed\n")
    assert core.source_digest() not in (same, changed)


def test_a_compiled_core_is_not_stale() -> None:
    """A build exists, but for other sources: the core changed since the last `make venv`,
    so this process runs the pure source (a stale build is never loaded) -- say so rather
    than let the compiled one go untested."""
    stale = [d for d in _builds() if d != core.source_digest()]
    assert _built() or not stale, (
        f"the compiled core in {core.BUILD_ROOT} ({', '.join(stale)}) was built from other "
        "sources than the current engine_worker/core: run `make venv` to rebuild it"
    )


def test_core_tests_pass_against_the_other_implementation() -> None:
    """The differential, property and unit tests of the core (this directory) in a fresh
    interpreter with the implementation this process does not run."""
    if os.environ.get("ENGINE_CORE_OTHER_RUN"):
        pytest.skip("this is that run")  # deselected below; never start a third interpreter
    if not _built():
        pytest.skip("no compiled core for these sources (make venv builds it): pure only")
    other = "pure" if core.IMPLEMENTATION == "compiled" else "compiled"
    here = Path(__file__).resolve().relative_to(ROOT)  # node ids are relative to the root
    this = f"{here}::test_core_tests_pass_against_the_other_implementation"
    # the core's tests, and the presenters' (compiled with it)
    presenters = ["engine_worker/tests/test_wire_shapes.py", "marketdata/tests/test_units.py"]
    args = ["-m", "pytest", str(here.parent), *presenters, "-q", "-p", "no:cacheprovider",
            f"--deselect={this}"]  # fmt: skip
    proc = _python(args, other, ENGINE_CORE_OTHER_RUN="1")
    assert proc.returncode == 0, f"ENGINE_CORE={other}:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout and " failed" not in proc.stdout, proc.stdout[-2000:]
    assert "1 deselected" in proc.stdout, proc.stdout[-2000:]


def test_engine_core_pure_forces_the_source() -> None:
    code = "import engine_worker.core as c, engine_worker.core.engine as e\n"
    code += "print(c.IMPLEMENTATION, e.__file__)"
    proc = _python(["-c", code], "pure")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["pure", str(SOURCE / "engine.py")]


def test_engine_core_compiled_refuses_a_missing_build(tmp_path: Path) -> None:
    proc = _python(["-c", "import engine_worker.core"], "compiled",
                   ENGINE_CORE_BUILD_ROOT=str(tmp_path))  # fmt: skip
    assert proc.returncode != 0
    assert "ENGINE_CORE=compiled but there is no compiled core" in proc.stderr
