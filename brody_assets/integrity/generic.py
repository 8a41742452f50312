"""Generic checks every migrated table gets, generated from the migration registry.

Per registry entry, on ``migrated/<family>/<table>``:

``pk_unique``               the legacy identity carried by the new table (its match columns, e.g.
                            ``mass_id``, ``contacts_old_id``) is unique: no legacy row was copied
                            twice under two new keys (the new primary key itself is a constraint)
``keys_not_null``           those columns and every foreign-key column are present
``fk_resolves``             every foreign key resolves in its parent new table
``dates_in_range``          date columns lie between 1990-01-01 and a year from today (WARN)
``reconciles_with_legacy``  every legacy row a run has handled (id at or below the table's
                            high-water mark) is migrated or in the quarantine ledger (ERROR:
                            data lost; the computed behavior events are reconciled by
                            ``behavior_event_complete`` instead)

All of them are :class:`~brody_assets.integrity.declarations.CheckDeclaration` built from plain
dicts through :func:`declarations_from_dicts`, like the YAML ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from brody_assets.integrity.declarations import CheckDeclaration, declarations_from_dicts
from brody_assets.integrity.registry_sql import (
    bare_source_sql,
    batch_table,
    check_sql,
    handled,
    ledgered,
    legacy_key_columns,
    migrated,
    table_ref,
)
from brody_assets.migration.registry import TableEntry, entries, entry

GENERIC_CHECKS = (
    "pk_unique",
    "keys_not_null",
    "fk_resolves",
    "dates_in_range",
    "reconciles_with_legacy",
)
EARLIEST_DATE = "1990-01-01"
_DATE_COLUMN = re.compile(r"(date|logtime)")


def asset_of(e: TableEntry) -> str:
    return f"migrated/{e.family}/{e.table}"


def identity_columns(e: TableEntry) -> tuple[str, ...]:
    """New-table columns that identify the legacy row (behavior events: their own key)."""
    if e.match:
        return tuple(nc for _, nc, _ in e.match)
    return ("sessid", "id_event")


def fk_columns(e: TableEntry) -> tuple[str, ...]:
    seen: list[str] = []
    for parent in e.parents:
        seen.extend(c for c, _ in parent.columns if c not in seen)
    return tuple(seen)


def date_columns(e: TableEntry) -> tuple[str, ...]:
    return tuple(c for c in e.columns if _DATE_COLUMN.search(c))


def _base(
    e: TableEntry, name: str, severity: str, blocking: bool, description: str
) -> dict[str, Any]:
    return {
        "name": name,
        "asset": asset_of(e),
        "spec": "generic",
        "severity": severity,
        "blocking": blocking,
        "description": description,
        "tags": {"generated": "registry"},
    }


def pk_unique(e: TableEntry) -> dict[str, Any]:
    cols = list(identity_columns(e))
    return {
        **_base(
            e,
            "pk_unique",
            "ERROR",
            True,
            f"({', '.join(cols)}) identifies one new row: no legacy row copied twice.",
        ),
        "table": batch_table("new", e),
        "key_columns": cols,
        "expectations": [{"kind": "unique", "columns": cols}],
    }


def keys_not_null(e: TableEntry) -> dict[str, Any]:
    cols = list(dict.fromkeys([*identity_columns(e), *fk_columns(e)]))
    return {
        **_base(
            e,
            "keys_not_null",
            "ERROR",
            True,
            f"Key and foreign-key columns present: {', '.join(cols)}.",
        ),
        "table": batch_table("new", e),
        "key_columns": list(identity_columns(e)),
        "expectations": [{"kind": "not_null", "column": c} for c in cols],
    }


def fk_resolves(e: TableEntry) -> dict[str, Any] | None:
    if not e.parents:
        return None
    expectations = []
    ident = ", ".join(f"c.`{c}`" for c in identity_columns(e))
    for p in e.parents:
        parent = entry(p.entry)
        cols = ", ".join(f"c.`{cc}`" for cc, _ in p.columns if cc not in identity_columns(e))
        shown = ", ".join(x for x in (ident, cols) if x)
        present = " AND ".join(f"c.`{cc}` IS NOT NULL" for cc, _ in p.columns)
        cond = " AND ".join(f"x.`{pc}` = c.`{cc}`" for cc, pc in p.columns)
        expectations.append(
            {
                "kind": "unexpected_rows",
                "description": f"{', '.join(c for c, _ in p.columns)} resolves in {parent.name}",
                "sql": f"SELECT {shown} FROM {{batch}} AS c WHERE {present} AND NOT EXISTS "
                f"(SELECT 1 FROM {table_ref('new', parent)} x WHERE {cond})",
            }
        )
    return {
        **_base(
            e, "fk_resolves", "ERROR", True, "Every foreign key resolves in its parent new table."
        ),
        "table": batch_table("new", e),
        "expectations": expectations,
    }


def dates_in_range(e: TableEntry) -> dict[str, Any] | None:
    cols = date_columns(e)
    if not cols:
        return None
    ident = ", ".join(f"b.`{c}`" for c in identity_columns(e))
    return {
        **_base(
            e,
            "dates_in_range",
            "WARN",
            False,
            f"Dates between {EARLIEST_DATE} and a year from today: {', '.join(cols)}.",
        ),
        "table": batch_table("new", e),
        "expectations": [
            {
                "kind": "unexpected_rows",
                "description": f"{c} between {EARLIEST_DATE} and a year from today",
                "sql": f"SELECT {ident}, b.`{c}` FROM {{batch}} AS b WHERE b.`{c}` < '{EARLIEST_DATE}' "
                f"OR b.`{c}` >= CURDATE() + INTERVAL 1 YEAR",
            }
            for c in cols
        ],
    }


def batch_of(e: TableEntry) -> dict[str, str]:
    """The legacy relation of an entry as a declaration batch: its table, or its source query."""
    if e.source == f"{{L:{e.legacy}}} AS l":
        schema, name = e.legacy.split(".")
        return {"table": f"{{legacy.{schema}}}.{name}"}
    return {"query": f"SELECT * FROM {bare_source_sql(e)}"}


def reconciles_with_legacy(e: TableEntry) -> dict[str, Any] | None:
    if e.kind == "computed":
        return None
    source = bare_source_sql(e)
    return {
        **_base(
            e,
            "reconciles_with_legacy",
            "ERROR",
            True,
            f"Every legacy `{e.legacy}` row a run has handled is migrated or quarantined (nothing lost).",
        ),
        **batch_of(e),
        "key_columns": list(e.legacy_key),
        "expectations": [
            {
                "kind": "unexpected_rows",
                "description": "legacy rows neither migrated nor quarantined",
                "order_by": f"`{e.id_column}`",
                # legacy elsewhere: only keys missing from the new table travel (bucket compare)
                "cross_server": {e.legacy: {"lost": "new"}},
                "sql": f"SELECT {legacy_key_columns(e)} FROM {source} WHERE {handled(e)} "
                f"AND NOT {migrated(e)} AND NOT {ledgered(e)}",
            }
        ],
    }


def generic_dicts(selected: Iterable[TableEntry] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in selected if selected is not None else entries():
        for make in (pk_unique, keys_not_null, fk_resolves, dates_in_range, reconciles_with_legacy):
            raw = make(e)
            if raw is not None:
                out.append(raw)
    return out


def generic_declarations(selected: Iterable[TableEntry] | None = None) -> list[CheckDeclaration]:
    """The generic checks of every registry entry (or of ``selected``)."""
    return declarations_from_dicts(generic_dicts(selected), source="generic.py")


__all__ = ["GENERIC_CHECKS", "check_sql", "generic_declarations", "generic_dicts"]
