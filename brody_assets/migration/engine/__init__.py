"""The migration engine: plain Python + SQL, no Dagster (transforms, copy, windows, ledger).

Public API (see :mod:`.run`): :func:`open_context`, :func:`to_shadow`, :func:`to_new`,
:func:`migrate`, :func:`declare_tables`; results :class:`StageResult`, :class:`TableResult`,
:class:`Invariant`. Blob transforms live in :mod:`.blobs` and :mod:`.events`.
"""

from .context import EngineContext, Invariant, StageResult, TableResult, open_context
from .run import declare_tables, migrate, migrate_table, to_new, to_shadow

__all__ = [
    "EngineContext",
    "Invariant",
    "StageResult",
    "TableResult",
    "declare_tables",
    "migrate",
    "migrate_table",
    "open_context",
    "to_new",
    "to_shadow",
]
