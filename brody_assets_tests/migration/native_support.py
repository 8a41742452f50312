"""Run blob tests with the C extension and with the pure-Python path (engine/native.py).

The native side always uses the compiled module itself, so a build that did not make it fails
the test (ImportError) instead of quietly testing Python twice.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from brody_assets.migration.engine import native

PATHS = ("native", "python")


def extension() -> ModuleType:
    """The compiled ``_native`` module (ImportError when the install did not build it)."""
    return importlib.import_module("brody_assets.migration.engine._native")


class Counting:
    """The extension, counting the calls it answered (returned something, did not decline)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.answered: Counter[str] = Counter()

    def peh_dj0(self, buf: bytes) -> bytes | None:
        out = self.module.peh_dj0(buf)
        self.answered["peh_dj0"] += out is not None
        return out

    def event_text(self, sessid: int, buf: bytes) -> tuple[str, int] | None:
        out = self.module.event_text(sessid, buf)
        self.answered["event_text"] += out is not None
        return out


@contextmanager
def using(path: str) -> Iterator[Counting | None]:
    """``native.ext`` for ``path``: the counting extension ("native") or ``None`` ("python")."""
    saved = native.ext
    native.ext = Counting(extension()) if path == "native" else None
    try:
        yield native.ext
    finally:
        native.ext = saved
