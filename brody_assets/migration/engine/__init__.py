"""The migration engine: plain Python + SQL, no Dagster (transforms, copy, windows, ledger).

Public API (see :mod:`.run`): :func:`open_context`, :func:`to_shadow`, :func:`to_new`,
:func:`migrate`, :func:`declare_tables`; results :class:`StageResult`, :class:`TableResult`,
:class:`Invariant`. Blob transforms live in :mod:`.blobs` and :mod:`.events`.

The names are imported on first use, so a light module of the package (:mod:`.db`,
:mod:`.drift`) can be used without loading the transforms and DataJoint (``brody-assets doctor``).
"""

from __future__ import annotations

import importlib
from typing import Any

_FROM = {
    "EngineContext": ".context",
    "Invariant": ".context",
    "StageResult": ".context",
    "TableResult": ".context",
    "open_context": ".context",
    "declare_tables": ".run",
    "migrate": ".run",
    "migrate_table": ".run",
    "to_new": ".run",
    "to_shadow": ".run",
}

__all__ = sorted(_FROM)


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(_FROM[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
