"""The registry entries, one module per schema family; ``ENTRIES`` is in dependency order."""

from __future__ import annotations

from brody_assets.migration.registry import TableEntry

from .acquisition import ACQUISITION
from .action import ACTION_EARLY, ACTION_RATS
from .lab import LAB
from .subject import SUBJECT

ENTRIES: tuple[TableEntry, ...] = (*LAB, *ACTION_EARLY, *SUBJECT, *ACTION_RATS, *ACQUISITION)


def _check_order() -> None:
    seen: set[str] = set()
    for e in ENTRIES:
        missing = [d for d in e.depends if d not in seen]
        if missing:
            raise AssertionError(f"registry order: {e.name} comes before its parents {missing}")
        seen.add(e.name)


_check_order()
