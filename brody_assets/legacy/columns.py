"""The legacy tables' columns from their DDL (:mod:`.ddl`), for the column schema the UI shows on
each legacy asset's page before and between observations.

The lab's DDL carries no column comments, so each column's description says what the pipeline
knows of it: the primary key, the date the migration's window and the observation read, and the
DDL's own remarks (``AUTO_INCREMENT``, ``ZEROFILL``, defaults).
"""

from __future__ import annotations

import re

from brody_assets.db.columns import Column
from brody_assets.legacy.catalog import LegacyTable
from brody_assets.legacy.ddl import LEGACY_TABLES_DDL

_COLUMN = re.compile(r"^\s*`(?P<name>[^`]+)`\s+(?P<rest>.+?),?\s*$")
_TYPE = re.compile(r"^[A-Za-z]+(\([^)]*\))?(\s+(UNSIGNED|ZEROFILL))*", re.IGNORECASE)
_PRIMARY = re.compile(r"PRIMARY KEY \(([^)]*)\)")
_DEFAULT = re.compile(r"DEFAULT\s+('[^']*'|\S+)", re.IGNORECASE)
WINDOW_DATE = "the date the migration's days_back window and the newest date read"


def remarks(table: LegacyTable, name: str, comment: str = "", extra: tuple[str, ...] = ()) -> str:
    """A column's description: its comment, then what the pipeline knows of it."""
    notes = [comment] if comment else []
    if name in table.primary_key:
        notes.append("primary key")
    if name == table.date_column:
        notes.append(WINDOW_DATE)
    return "; ".join([*notes, *extra])


def ddl_columns(table: LegacyTable) -> list[Column]:
    """The columns of a legacy table as its DDL declares them (empty when no DDL is known)."""
    ddl = LEGACY_TABLES_DDL.get(table.label)
    if ddl is None:
        return []
    primary = _PRIMARY.search(ddl)
    key = {c.strip(" `") for c in primary.group(1).split(",")} if primary else set(table.primary_key)
    columns = []
    for line in ddl.splitlines():
        match = _COLUMN.match(line)
        if not match:
            continue
        name, rest = match.group("name"), match.group("rest")
        upper = rest.upper()
        extra = tuple(word.lower() for word in ("AUTO_INCREMENT",) if word in upper)
        default = _DEFAULT.search(rest)
        if default and default.group(1).upper() != "NULL":
            extra += (f"default {default.group(1)}",)
        col_type = _TYPE.match(rest).group(0).lower()
        columns.append(Column(name, col_type, remarks(table, name, extra=extra), name in key, "NOT NULL" not in upper))
    return columns
