"""Legacy schema drift: the columns the registry reads, compared with the legacy server's own.

Before a table's stage reads a single legacy row, :func:`require_no_drift` looks up, in the legacy
server's ``information_schema.COLUMNS`` (through the read-only account), every legacy column the
entry reads (:func:`brody_assets.migration.reads.legacy_reads`) and checks that it exists with a
type of the expected family (:data:`brody_assets.migration.reads.LEGACY_TYPES`). A missing or
retyped column raises :class:`LegacyDriftError` naming the table and the column: nothing is
quarantined, no ledger reason is overwritten, and the table's asset fails, so nothing downstream
runs on it. ``brody-assets doctor`` runs the same comparison for every entry at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from brody_assets.migration.reads import FAMILY_WORDS, LEGACY_TYPES, family, legacy_reads
from brody_assets.migration.registry import TableEntry


class Queryable(Protocol):
    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple]: ...


class LegacyDriftError(RuntimeError):
    """A legacy column the registry reads is missing or has a type of another family."""


@dataclass(frozen=True)
class DriftProblem:
    """One legacy column (or whole table) that is not as the registry expects."""

    table: str  # "ratinfo.water" (without the site prefix)
    column: str | None  # None: the whole table is missing
    expected: str | None  # the expected family
    found: str | None  # the column's type on the server; None when missing
    entries: tuple[str, ...]  # the registry entries that read it
    present: tuple[str, ...] = ()  # the table's columns on the server (for a missing column)

    def describe(self, schema_prefix: str = "") -> str:
        schema, name = self.table.split(".")
        where = f"`{schema_prefix}{schema}`.`{name}`"
        readers = ", ".join(self.entries)
        if self.column is None:
            return (
                f"legacy table {where} does not exist or the read-only account cannot see it "
                f"(read by {readers}); check 'custom.legacy.schema_prefix' and the account's grants"
            )
        if self.found is None:
            return (
                f"legacy table {where}: column `{self.column}` is missing (read by {readers}; expected "
                f"{FAMILY_WORDS.get(self.expected or '', self.expected)}); the table has: "
                f"{', '.join(self.present)}"
            )
        return (
            f"legacy table {where}: column `{self.column}` is {self.found}, expected "
            f"{FAMILY_WORDS.get(self.expected or '', self.expected)} (read by {readers})"
        )


def server_columns(db: Queryable, schema_prefix: str, tables: Iterable[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """Per legacy table (unprefixed name), its columns on the server: ``{column: (data_type, column_type)}``."""
    wanted = sorted(set(tables))
    if not wanted:
        return {}
    pairs = " OR ".join("(TABLE_SCHEMA = %s AND TABLE_NAME = %s)" for _ in wanted)
    args: list[str] = []
    for table in wanted:
        schema, name = table.split(".")
        args += [f"{schema_prefix}{schema}", name]
    rows = db.query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
        f"WHERE {pairs} ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
        args,
    )
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for schema, name, column, data_type, column_type in rows:
        schema, name = _text(schema), _text(name)
        table = f"{schema[len(schema_prefix):]}.{name}"
        found.setdefault(table, {})[_text(column)] = (_text(data_type), _text(column_type))
    return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def find_drift(db: Queryable, schema_prefix: str, selected: Iterable[TableEntry]) -> list[DriftProblem]:
    """Every missing or retyped legacy column the ``selected`` entries read (one query)."""
    readers: dict[tuple[str, str], list[str]] = {}
    for e in selected:
        for table, columns in legacy_reads(e).items():
            for column in columns:
                readers.setdefault((table, column), []).append(e.name)
    found = server_columns(db, schema_prefix, {t for t, _ in readers})
    problems: list[DriftProblem] = []
    missing_tables: dict[str, set[str]] = {}
    for (table, column), names in sorted(readers.items()):
        columns = found.get(table)
        if columns is None:
            missing_tables.setdefault(table, set()).update(names)
            continue
        expected = LEGACY_TYPES.get(table, {}).get(column)
        # information_schema names are case-insensitive, as MariaDB's column names are
        actual = next((v for c, v in columns.items() if c.lower() == column.lower()), None)
        if actual is None:
            problems.append(DriftProblem(table, column, expected, None, tuple(names), tuple(columns)))
        elif expected is not None and family(actual[0]) != expected:
            problems.append(DriftProblem(table, column, expected, actual[1], tuple(names)))
    for table, names in sorted(missing_tables.items()):
        problems.insert(0, DriftProblem(table, None, None, None, tuple(sorted(names))))
    return problems


def drift_message(entry_name: str, problems: Sequence[DriftProblem], schema_prefix: str = "") -> str:
    lines = [f"{entry_name}: the legacy schema has drifted from what the migration reads; nothing was "
             "read, quarantined or migrated for this table:"]
    lines += [f"  - {p.describe(schema_prefix)}" for p in problems]
    lines.append(
        "Fix the legacy table, or update the registry entry (brody_assets/migration/entries/) and "
        "LEGACY_TYPES (brody_assets/migration/reads.py) to the new column, then run again."
    )
    return "\n".join(lines)


def require_no_drift(db: Queryable, schema_prefix: str, e: TableEntry) -> None:
    """Raise :class:`LegacyDriftError` when a legacy column entry ``e`` reads is missing or retyped."""
    problems = find_drift(db, schema_prefix, [e])
    if problems:
        raise LegacyDriftError(drift_message(e.name, problems, schema_prefix))
