"""In-memory rows of the legacy tables while a build is assembled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .ddl import LEGACY_TABLES_DDL

_COLUMN = re.compile(r"^\s*`(\w+)`\s", re.MULTILINE)
_PRIMARY = re.compile(r"PRIMARY KEY \(([^)]*)\)")


def table_columns(table: str) -> tuple[str, ...]:
    """Column names of a legacy table, in DDL order."""
    ddl = LEGACY_TABLES_DDL[table]
    body = ddl.split("(", 1)[1]
    return tuple(m.group(1) for m in _COLUMN.finditer(body))


def table_primary_key(table: str) -> tuple[str, ...]:
    """Primary-key column names of a legacy table."""
    found = _PRIMARY.search(LEGACY_TABLES_DDL[table])
    assert found, table
    return tuple(c.strip(" `") for c in found.group(1).split(","))


@dataclass
class Table:
    """Rows of one legacy table as mutable lists in DDL column order."""

    name: str
    columns: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    rows: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.columns = table_columns(self.name)
        self.key = table_primary_key(self.name)
        self._pos = {c: i for i, c in enumerate(self.columns)}

    def i(self, column: str) -> int:
        """Position of ``column`` in a row."""
        return self._pos[column]

    def add(self, **values: Any) -> list[Any]:
        """Append a row given by column name (missing columns are NULL)."""
        row = [values.pop(c, None) for c in self.columns]
        if values:
            raise KeyError(f"{self.name}: unknown columns {sorted(values)}")
        self.rows.append(row)
        return row

    def get(self, row: list[Any], column: str) -> Any:
        """Value of ``column`` in ``row``."""
        return row[self._pos[column]]

    def set(self, row: list[Any], column: str, value: Any) -> None:
        """Set ``column`` of ``row``."""
        row[self._pos[column]] = value

    def key_of(self, row: list[Any]) -> dict[str, Any]:
        """Primary-key dict of ``row`` (legacy column names)."""
        return {c: row[self._pos[c]] for c in self.key}


def new_tables() -> dict[str, Table]:
    """One empty :class:`Table` per legacy table, in creation order."""
    return {name: Table(name) for name in LEGACY_TABLES_DDL}
