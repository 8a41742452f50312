"""Dagster's own conventions for table assets, in one place: kinds, owners, table names, column
schemas and code references, so every domain labels its assets the same way.

* ``kinds``: the storage and tools behind an asset (icons on the graph, filters in the catalog).
  The lab's server is **MariaDB**: never labelled ``mysql``.
* ``dagster/table_name``, ``dagster/row_count``, ``dagster/column_schema``: the standard metadata
  keys (``TableMetadataSet``) the UI shows as the table's name, its row count and its columns.
* code references (``dagster/code_references``): where an asset is declared, e.g. a migrated
  table's registry entry (file and line), shown as "Source" links in the UI.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from dagster import (
    BetaWarning,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableConstraints,
    TableSchema,
)

from brody_assets.db.columns import Column

KINDS_MIGRATED = frozenset({"mariadb", "datajoint"})
KINDS_LEGACY = frozenset({"mariadb"})


def column_schema(columns: Iterable[Column]) -> TableSchema:
    """The ``dagster/column_schema`` of a server table: type, comment as description, keys."""
    columns = list(columns)
    key = [c.name for c in columns if c.primary_key]
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=c.type,
                description=(c.comment or None),
                constraints=TableColumnConstraints(
                    nullable=c.nullable, other=["primary key"] if c.primary_key else []
                ),
            )
            for c in columns
        ],
        constraints=TableConstraints(other=[f"PRIMARY KEY ({', '.join(key)})"]) if key else None,
    )


def table_metadata(
    table_name: str, row_count: int | None = None, columns: Iterable[Column] | None = None
) -> dict[str, Any]:
    """The standard table keys (Dagster's ``TableMetadataSet``): ``dagster/table_name``, and
    ``dagster/row_count`` and ``dagster/column_schema`` when given."""
    meta: dict[str, Any] = {"dagster/table_name": MetadataValue.text(table_name)}
    if row_count is not None:
        meta["dagster/row_count"] = MetadataValue.int(int(row_count))
    if columns is not None:
        meta["dagster/column_schema"] = MetadataValue.table_schema(column_schema(columns))
    return meta


@cache
def _source_lines(path: str) -> tuple[str, ...]:
    return tuple(Path(path).read_text(encoding="utf-8").splitlines())


def source_location(path: str | Path, *needles: str) -> tuple[str, int | None]:
    """(file, line) of the first line containing the last of ``needles``, each searched after the
    line of the one before (e.g. ``"class Rats("``, ``"class Contact("``: the part of that
    master); line None when one is not found."""
    path = str(Path(path).resolve())
    lines, start = _source_lines(path), 0
    for needle in needles:
        found = next((i for i in range(start, len(lines)) if needle in lines[i]), None)
        if found is None:
            return path, None
        start = found + 1
    return path, start


def registry_entry_location(module_name: str, *needles: str) -> tuple[str, int | None]:
    """(file, line) of ``needles`` in an imported module's source, e.g. a registry entry's name."""
    return source_location(sys.modules[module_name].__file__, *needles)


def code_references(*locations: tuple[str, int | None, str]) -> Mapping[str, Any]:
    """``dagster/code_references`` pointing at ``(file, line, label)`` locations.

    Code references are marked beta in Dagster 1.13; we rely on them deliberately.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return {
            "dagster/code_references": CodeReferencesMetadataValue(
                code_references=[
                    LocalFileCodeReference(file_path=path, line_number=line, label=label)
                    for path, line, label in locations
                ]
            )
        }
