"""Shared infrastructure. ``keys`` loads from the compiled core's build when the core is
compiled (engine_worker/core/__init__.py, PRESENTERS: the fold calls it natively), else
from here."""

import engine_worker.core as _core

_core.prefer_build(__path__, __name__)
