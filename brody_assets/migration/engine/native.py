"""The optional C extension :mod:`._native` for the blob tables' two hot paths, or ``None``.

:func:`.pehfast.transcode_peh` and :func:`.eventload.session_event_text` ask :data:`ext` first
and run their Python code when it is ``None`` or declines (the Python code is the reference; the
extension returns the same result or none). The extension is built by ``pip install`` when a C
compiler is there; without one the install still works, only slower.

``BRODY_NATIVE=0`` in the environment forces the pure-Python paths (read once, at import). Tests
and benchmarks compare both paths in one process by setting :data:`ext` (``None`` for Python).
"""

from __future__ import annotations

import os
from types import ModuleType


def load() -> ModuleType | None:
    """The extension, unless ``BRODY_NATIVE=0`` or it was not built."""
    if os.environ.get("BRODY_NATIVE", "").strip() == "0":
        return None
    try:
        from . import _native
    except ImportError:
        return None
    return _native


ext: ModuleType | None = load()
