"""Which legacy rows a mixed check needs, per legacy table: the ``cross_server`` providers.

Each provider gives the ``WHERE`` (on the legacy table's own columns) of the rows to fetch; the
reconciling ones find them by comparing hashed key buckets computed by each server
(:mod:`.keydiff`). See :mod:`brody_assets.integrity.xserver` for the list.
"""

from __future__ import annotations

from typing import Any

from brody_assets.integrity import keydiff
from brody_assets.integrity.declarations import CheckDeclaration
from brody_assets.integrity.registry_sql import (
    bare_source_sql,
    check_sql,
    column_types,
    source_sql,
    table_ref,
)
from brody_assets.integrity.xserver_db import CrossServerError, Federation
from brody_assets.migration.registry import MigrationOptions, TableEntry, entry

DAYS_BACK = MigrationOptions().days_back


def entry_of(d: CheckDeclaration, arg: Any) -> TableEntry:
    """The migrated table a provider is about: its ``entry``, else the check's asset."""
    if isinstance(arg, dict) and arg.get("entry"):
        return entry(arg["entry"])
    if d.asset[0] == "migrated" and len(d.asset) == 3:
        return entry(f"{d.asset[1]}.{d.asset[2]}")
    raise CrossServerError(f"{d.key}: cannot tell which migrated table the provider is about")


def _key_types(e: TableEntry) -> list[str]:
    """The declared types of the entry's match columns (shadow, else new; '' when unknown)."""
    shadow, new = column_types("shadow", e), column_types("new", e)
    return [shadow.get(sc) or new.get(nc) or "" for sc, nc, _ in e.match]


def _mapped_keys(fed: Federation, e: TableEntry) -> list[str]:
    """Canonical text of the legacy row's mapped key (what the shadow/new match columns hold)."""
    return [
        keydiff.canonical_value(fed.sql(check_sql(expr, e)), kind)
        for (_, _, expr), kind in zip(e.match, _key_types(e), strict=True)
    ]


def _stage_keys(e: TableEntry, column: int) -> tuple[str, ...]:
    """Canonical text of a shadow (``column`` 0) or new (1) row's match columns."""
    return tuple(
        keydiff.canonical_value(f"s.`{m[column]}`", kind)
        for m, kind in zip(e.match, _key_types(e), strict=True)
    )


def lost_ids(fed: Federation, e: TableEntry, stage: str) -> list[Any]:
    """Legacy ids (at or below the watermark) whose key is not in the entry's ``stage`` table
    (computed once per run of checks: several checks ask the same)."""
    if ("lost", stage, e.name) not in fed.found:
        fed.found[("lost", stage, e.name)] = _lost_ids(fed, e, stage)
    return fed.found[("lost", stage, e.name)]


def _lost_ids(fed: Federation, e: TableEntry, stage: str) -> list[Any]:
    high = fed.watermark(e)
    if high is None:
        return []
    column = 0 if stage == "shadow" else 1
    left = keydiff.Side(
        fed.legacy,
        f"{fed.sql(bare_source_sql(e))} WHERE l.`{e.id_column}` <= {fed.literal(high)}",
        tuple(_mapped_keys(fed, e)),
        carry=(f"l.`{e.id_column}`",),
    )
    right = keydiff.Side(
        fed.pipeline,
        f"{fed.sql(table_ref(stage, e))} AS s",
        _stage_keys(e, column),
    )
    return [carry[0] for carry in fed.diff(left, right).left_only.values()]


def _compared(e: TableEntry) -> list[tuple[str, str, str]]:
    types = column_types("shadow", e)
    return [
        (c, expr, types[c])
        for c, expr in e.columns.items()
        if c in types and "blob" not in types[c]
    ]


def drift_ids(fed: Federation, e: TableEntry) -> list[Any]:
    """Legacy ids (at or below the watermark) whose mapped values differ from their shadow row,
    or that have no shadow row."""
    high = fed.watermark(e)
    if high is None:
        return []
    compared = _compared(e)
    left = keydiff.Side(
        fed.legacy,
        f"{fed.sql(source_sql(e))} WHERE l.`{e.id_column}` <= {fed.literal(high)}",
        tuple(_mapped_keys(fed, e)),
        tuple(keydiff.canonical_value(fed.sql(check_sql(x, e)), t) for _, x, t in compared),
        carry=(f"l.`{e.id_column}`",),
    )
    right = keydiff.Side(
        fed.pipeline,
        f"{fed.sql(table_ref('shadow', e))} AS s",
        _stage_keys(e, 0),
        tuple(keydiff.canonical_value(f"s.`{c}`", t) for c, _, t in compared),
    )
    found = fed.diff(left, right)
    return [c[0] for c in (*found.left_only.values(), *found.changed.values())]


def deleted_rows(fed: Federation, e: TableEntry) -> list[dict[str, Any]]:
    """Shadow rows (their match columns) whose legacy row no longer exists."""
    left = keydiff.Side(fed.legacy, fed.sql(bare_source_sql(e)), tuple(_mapped_keys(fed, e)))
    right = keydiff.Side(
        fed.pipeline,
        f"{fed.sql(table_ref('shadow', e))} AS s",
        _stage_keys(e, 0),
        carry=tuple(f"s.`{sc}`" for sc, _, _ in e.match),
    )
    candidates = list(fed.diff(left, right).right_only.values())
    if not candidates:
        return []
    names = [sc for sc, _, _ in e.match]
    gone: list[tuple] = []
    for start in range(0, len(candidates), 2000):
        chunk = candidates[start : start + 2000]
        literal = " UNION ALL ".join(
            "SELECT "
            + ", ".join(
                [
                    f"{i} AS _i",
                    *(f"{fed.literal(v)} AS `{n}`" for n, v in zip(names, row, strict=True)),
                ]
            )
            for i, row in enumerate(chunk)
        )
        cond = " AND ".join(
            f"({fed.sql(check_sql(expr, e))}) = c.`{sc}`" for sc, _, expr in e.match
        )
        present = set(
            fed.values(
                fed.legacy,
                f"SELECT c._i FROM ({literal}) AS c WHERE EXISTS (SELECT 1 FROM "
                f"{fed.sql(bare_source_sql(e))} WHERE {cond})",
            )
        )
        gone.extend(row for i, row in enumerate(chunk) if i not in present)
    return [dict(zip(names, row, strict=True)) for row in sorted(gone, key=_sort_key)]


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in row)


def _pair(d: CheckDeclaration, kind: str, arg: Any) -> tuple[str, str]:
    if not (isinstance(arg, (list, tuple)) and len(arg) == 2):
        raise CrossServerError(f"{d.key}: provider {kind} takes [column, pipeline SQL]")
    return str(arg[0]), str(arg[1])


def provider_where(fed: Federation, d: CheckDeclaration, provider: Any, table: str) -> str:
    """The ``WHERE`` (on the legacy table's own columns) of the rows a provider selects."""
    if provider in (None, "all"):
        return "TRUE"
    if not isinstance(provider, dict) or len(provider) not in (1, 2):
        raise CrossServerError(f"{d.key}: unknown cross_server provider {provider!r}")
    kind = next(k for k in provider if k != "entry")
    arg = provider[kind]
    if kind == "any":
        return " OR ".join(f"({provider_where(fed, d, p, table)})" for p in arg) or "FALSE"
    if kind == "lost":
        e = entry_of(d, provider)
        return fed.in_list(e.id_column, lost_ids(fed, e, arg))
    if kind == "drift":
        e = entry_of(d, provider)
        return fed.in_list(e.id_column, drift_ids(fed, e))
    if kind == "window":
        return _window(arg)
    if kind == "lost_window":  # the window's days that hold a row missing from the new table
        e = entry_of(d, provider)
        ids = lost_ids(fed, e, "new")
        if not ids:
            return "FALSE"
        days = fed.values(
            fed.legacy,
            f"SELECT DISTINCT DATE(`{arg}`) FROM {table} WHERE {fed.in_list(e.id_column, ids)} "
            f"AND {_window(arg)}",
        )
        days = [day for day in days if day is not None]
        if not days:
            return "FALSE"
        return f"{_window(arg)} AND DATE(`{arg}`) IN ({', '.join(map(fed.literal, days))})"
    if kind in ("in", "not_in", "missing_in"):
        column, query = _pair(d, kind, arg)
        if kind == "missing_in":
            return _missing_in(fed, table, column, query)
        found = [v for v in fed.values(fed.pipeline, fed.sql(query)) if v is not None]
        if kind == "in":
            return fed.in_list(column, found)
        if not found:
            return "TRUE"
        # byte-wise: whatever collation the check compares under, no row it reports is left out
        return f"(`{column}` IS NULL OR NOT BINARY {fed.in_list(column, found)})"
    raise CrossServerError(f"{d.key}: unknown cross_server provider {kind!r}")


def _window(column: str) -> str:
    """The last ``days_back`` days, a day wider each side (the servers' CURDATE() may differ)."""
    return (
        f"`{column}` >= CURDATE() - INTERVAL {DAYS_BACK + 1} DAY "
        f"AND `{column}` < CURDATE() + INTERVAL 2 DAY"
    )


def _missing_in(fed: Federation, table: str, column: str, query: str) -> str:
    left = keydiff.Side(
        fed.legacy,
        f"{table} AS l",
        (keydiff.canonical_value(f"l.`{column}`"),),
        carry=(f"l.`{column}`",),
    )
    right = keydiff.Side(
        fed.pipeline,
        f"({fed.sql(query)}) AS p",
        (keydiff.canonical_value("p.`" + column + "`"),),
    )
    return fed.in_list(column, [c[0] for c in fed.diff(left, right).left_only.values()])
