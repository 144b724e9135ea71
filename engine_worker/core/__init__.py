"""Pure matching core: commands in, events out.

Imports only the standard library (a test enforces it). Everything inside is an
integer: prices in ticks, quantities in lots, balances in each asset's smallest unit.

The same source runs two ways (docs/architecture.md, "The same core, compiled"):

* compiled with mypyc by ``make venv`` (scripts/build_core.py) into
  ``var/build/core/<digest>/engine_worker/core/``, where ``<digest>`` is
  :func:`source_digest` of the sources it was built from. This package puts that
  directory first on its ``__path__``, so ``engine_worker.core.engine`` and the other
  modules load as extension modules;
* as plain Python from this directory, when there is no build for the current sources
  (never built, or the sources changed since: a stale build is never loaded), or when
  ``ENGINE_CORE=pure`` asks for it.

``ENGINE_CORE``: ``auto`` (the default: compiled if built for these sources), ``pure``,
or ``compiled`` (an ImportError if the build is missing: ``make test`` sets it, so a
missing build cannot pass silently). ``ENGINE_CORE_BUILD_ROOT`` moves ``var/build/core``
(the tests point it at an empty directory). ``IMPLEMENTATION`` says which one this process
runs. This file itself is never compiled (and is not part of the digest).
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from pathlib import Path

#: The modules mypyc compiles: all but this one and ``rules``. ``MarketRules`` stays a
#: plain dataclass: the edge and the tests build it with plain strings for its status,
#: copy and deepcopy it and read its ``__slots__``, which a compiled (native) dataclass
#: does not allow; the engine reads it only when a market is added or changed.
MODULES = ("balances", "book", "commands", "engine", "events", "stops", "types")
#: Modules outside this package compiled in the same build, by their path in the
#: repository: the presenters the engine worker renders every event with. Compiled with
#: the core, they read its classes' fields natively, so they load only from the build of
#: the core in use (:func:`prefer_build`), and as plain Python otherwise.
PRESENTERS = (
    "engine_worker/wire.py",
    "engine_worker/fold.py",
    "marketdata/shapes.py",
    "marketdata/units.py",
    "infra/keys.py",  # the fold names about four keys a command: native calls, compiled
)
#: Modules the presenters import that are not compiled: mypyc reads them for their types
#: (so the compiled code checks what they return), and they are part of the digest.
DEPENDENCIES: tuple[str, ...] = ()
#: Bumped when scripts/build_core.py changes how it builds, so old builds are not loaded.
BUILD_FORMAT = 3

_HERE = Path(__file__).resolve().parent
#: Where scripts/build_core.py puts its builds (one directory per source digest).
_REPO = _HERE.parents[1]
BUILD_ROOT = Path(os.environ.get("ENGINE_CORE_BUILD_ROOT") or _REPO / "var/build/core")


def source_digest() -> str:
    """What a build must have been made from: the package's sources (this file aside), the
    presenters' and their dependencies', the modules compiled, the interpreter's
    extension-module ABI and the build format (sha256, 16 hex digits)."""
    what = (BUILD_FORMAT, sysconfig.get_config_var("EXT_SUFFIX"), MODULES, PRESENTERS, DEPENDENCIES)
    h = hashlib.sha256(repr(what).encode())
    for path in sorted(_HERE.glob("*.py")):
        if path.name != "__init__.py":
            h.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    for name in PRESENTERS + DEPENDENCIES:
        h.update(b"\0" + name.encode() + b"\0" + (_REPO / name).read_bytes())
    return h.hexdigest()[:16]


def build_dir() -> Path:
    """The package directory of the build for the current sources (it may not exist)."""
    return BUILD_ROOT / source_digest() / "engine_worker" / "core"


def prefer_build(path: list[str], package: str) -> None:
    """Put the build in use's directory of ``package`` (its compiled presenters) first on
    that package's ``__path__`` (``path``); nothing when the core runs as pure Python."""
    if _LOADED is not None:
        path.insert(0, str(_LOADED.parents[1] / package))


def _choose() -> str:
    mode = os.environ.get("ENGINE_CORE", "auto")
    if mode not in ("auto", "pure", "compiled"):
        raise ImportError(f"ENGINE_CORE={mode!r}: expected auto, pure or compiled")
    if mode == "pure":
        return "pure"
    global _LOADED
    built = build_dir()
    if (built / "COMPLETE").is_file():  # written last, after every module is in place
        __path__.insert(0, str(built))
        _LOADED = built
        return "compiled"
    if mode == "compiled":
        raise ImportError(
            f"ENGINE_CORE=compiled but there is no compiled core for these sources at {built}: "
            "run `make venv` (scripts/build_core.py), or set ENGINE_CORE=pure"
        )
    return "pure"


_LOADED: Path | None = None  # the build directory in use (this package's), if compiled
#: "compiled" (the mypyc build) or "pure" (this directory's source), for this process.
IMPLEMENTATION = _choose()
