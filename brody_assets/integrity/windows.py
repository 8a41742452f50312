"""Spec checks I20-I22, generated per table from the migration registry (spec §4, implied checks).

The upstream pipeline copied "the last N days" by date windows seeded from the shadow, and never
looked at a legacy row again once copied (spec §3.4-3.5, §3.8 #1). Our engine scans legacy ids
above a high-water mark plus the last ``days_back`` days, so the same three questions become:

``window_count_reconciliation`` (I20)  per day of the last ``days_back`` days, legacy rows a run
                                       has handled = migrated + quarantined (ERROR when not)
``mirror_drift`` (I21)                 legacy rows edited after they were migrated (their mapped
                                       values, computed now with the registry's own SQL, differ
                                       from the shadow row the new row was copied from) or
                                       deleted (shadow/new row without its legacy row) (WARN)
``shadow_window_seeded`` (I22)         when legacy has rows in [today - days_back, today], at
                                       least one of them reached the shadow or the ledger, i.e.
                                       ingestion has not silently stopped (WARN)

Everything runs server-side as aggregate SQL; drift returns a bounded sample of keys with the
names of the changed columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from brody_assets.integrity.declarations import CheckDeclaration, declarations_from_dicts
from brody_assets.integrity.generic import asset_of, batch_of
from brody_assets.integrity.registry_sql import (
    bare_source_sql,
    check_sql,
    column_types,
    handled,
    in_shadow,
    ledgered,
    legacy_key_columns,
    migrated,
    source_sql,
    table_ref,
)
from brody_assets.migration.registry import MigrationOptions, TableEntry, entries

DAYS_BACK = MigrationOptions().days_back
_SCALE = re.compile(r"^(?:float|double|decimal|numeric)\s*\(\s*\d+\s*,\s*(\d+)\s*\)")


def windowed(e: TableEntry) -> bool:
    return e.date_column is not None and e.kind == "sql" and e.master is None


def _window(e: TableEntry) -> str:
    col = f"l.`{e.date_column}`"
    return f"{col} >= CURDATE() - INTERVAL {DAYS_BACK} DAY AND {col} < CURDATE() + INTERVAL 1 DAY"


def _base(e: TableEntry, name: str, spec: str, severity: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "asset": asset_of(e),
        "spec": spec,
        "severity": severity,
        "blocking": False,
        "description": description,
        "tags": {"generated": "registry"},
        **batch_of(e),
        "key_columns": list(e.legacy_key),
    }


def window_count_reconciliation(e: TableEntry) -> dict[str, Any]:
    day = f"DATE(l.`{e.date_column}`)"
    sql = (
        f"SELECT {day} AS day, COUNT(*) AS legacy_rows, SUM({migrated(e)}) AS migrated, "
        f"SUM({ledgered(e)}) AS quarantined, SUM(NOT {migrated(e)} AND NOT {ledgered(e)}) AS unaccounted "
        f"FROM {bare_source_sql(e)} WHERE {_window(e)} AND {handled(e)} GROUP BY {day} "
        f"HAVING SUM(NOT {migrated(e)} AND NOT {ledgered(e)}) > 0"
    )
    return {
        **_base(
            e,
            "window_count_reconciliation",
            "I20",
            "ERROR",
            f"Per day of the last {DAYS_BACK} days ({e.date_column}): legacy rows = migrated + quarantined.",
        ),
        "expectations": [
            {
                "kind": "unexpected_rows",
                "order_by": "day",
                "sql": sql,
                # legacy elsewhere: whole days only where the bucket compare finds a lost row
                "cross_server": {e.legacy: {"lost_window": e.date_column}},
            }
        ],
    }


def shadow_window_seeded(e: TableEntry) -> dict[str, Any]:
    sql = (
        f"SELECT x.legacy_in_window, x.reached_shadow_or_ledger FROM (SELECT COUNT(*) AS legacy_in_window, "
        f"IFNULL(SUM({in_shadow(e)} OR {ledgered(e)}), 0) AS reached_shadow_or_ledger "
        f"FROM {bare_source_sql(e)} WHERE {_window(e)}) AS x "
        "WHERE x.legacy_in_window > 0 AND x.reached_shadow_or_ledger = 0"
    )
    return {
        **_base(
            e,
            "shadow_window_seeded",
            "I22",
            "WARN",
            f"Legacy rows of the last {DAYS_BACK} days reach the shadow or the ledger (ingestion not stalled).",
        ),
        "expectations": [
            {
                "kind": "unexpected_rows",
                "sql": sql,
                "cross_server": {e.legacy: {"window": e.date_column}},
            }
        ],
    }


def _same(expr: str, column: str, kind: str) -> str:
    """SQL true when the legacy value (``expr``) still equals the shadow column (NULL-safe)."""
    scale = _SCALE.match(kind)
    if scale:
        tol = 0.5 * 10 ** -int(scale.group(1)) + 1e-9
        return (
            f"(({expr}) <=> s.`{column}` OR IFNULL(ABS(({expr}) - s.`{column}`) <= {tol!r}, FALSE))"
        )
    if kind.startswith(("float", "double", "real")):
        rel = "1e-5" if kind.startswith("float") else "1e-9"
        return (
            f"(({expr}) <=> s.`{column}` OR IFNULL(ABS(({expr}) - s.`{column}`) <= "
            f"{rel} * GREATEST(1, ABS(s.`{column}`)), FALSE))"
        )
    return f"(({expr}) <=> s.`{column}`)"


def mirror_drift(e: TableEntry) -> dict[str, Any] | None:
    if e.kind != "sql" or not e.columns:
        return None
    types = column_types("shadow", e)
    compared = [(c, expr) for c, expr in e.columns.items() if c in types and "blob" not in types[c]]
    same = [(c, _same(check_sql(expr, e), c, types[c])) for c, expr in compared]
    join = " AND ".join(f"s.`{sc}` = {check_sql(expr, e)}" for sc, _, expr in e.match)
    changed = "CONCAT_WS(', ', " + ", ".join(f"IF({cmp}, NULL, '{c}')" for c, cmp in same) + ")"
    edited = (
        f"SELECT {legacy_key_columns(e)}, {changed} AS changed_columns FROM {source_sql(e)} "
        f"JOIN {table_ref('shadow', e)} s ON {join} WHERE NOT ({' AND '.join(cmp for _, cmp in same)})"
    )
    gone_cond = " AND ".join(f"l2.`{sc}` = s.`{sc}`" for sc, _, _ in e.match)
    shadow_cols = ", ".join(f"s.`{sc}`" for sc, _, _ in e.match)
    # The legacy side, projected onto the shadow's match columns (alias l2).
    legacy_keys = ", ".join(f"{check_sql(expr, e)} AS `{sc}`" for sc, _, expr in e.match)
    deleted = (
        f"SELECT {shadow_cols} FROM {table_ref('shadow', e)} s WHERE NOT EXISTS (SELECT 1 FROM "
        f"(SELECT {legacy_keys} FROM {bare_source_sql(e)}) AS l2 WHERE {gone_cond})"
    )
    return {
        **_base(
            e,
            "mirror_drift",
            "I21",
            "WARN",
            "Legacy rows edited or deleted after they were migrated (the old pipeline was insert-only).",
        ),
        "expectations": [
            {
                "kind": "unexpected_rows",
                "description": "legacy rows whose mapped values changed since they were migrated",
                "order_by": ", ".join(f"`{c}`" for c in e.legacy_key),
                "sql": edited,
                # legacy elsewhere: keys whose hashed values differ from the shadow's travel
                "cross_server": {e.legacy: {"drift": True}},
            },
            {
                "kind": "unexpected_rows",
                "description": "migrated rows whose legacy row was deleted",
                "sql": deleted,
                "cross_server": {e.legacy: {"deleted": True}},
            },
        ],
    }


def window_dicts(selected: Iterable[TableEntry] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in selected if selected is not None else entries():
        if windowed(e):
            out.append(window_count_reconciliation(e))
            out.append(shadow_window_seeded(e))
        drift = mirror_drift(e)
        if drift is not None:
            out.append(drift)
    return out


def window_declarations(selected: Iterable[TableEntry] | None = None) -> list[CheckDeclaration]:
    """I20 and I22 for every windowed table, I21 for every table migrated by SQL."""
    return declarations_from_dicts(window_dicts(selected), source="windows.py")


__all__ = ["DAYS_BACK", "window_declarations", "window_dicts"]
