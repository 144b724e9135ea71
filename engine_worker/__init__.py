"""The engine worker. Its presenters (``wire``) load from the compiled core's build when
the core is compiled (engine_worker/core/__init__.py, PRESENTERS), else from here."""

import engine_worker.core as _core

if (_built := _core.compiled_package_dir("engine_worker")) is not None:
    __path__.insert(0, _built)
