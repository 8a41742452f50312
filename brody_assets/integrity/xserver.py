"""Integrity checks when the legacy database lives on another server (the *cross-server* layout).

On one server a check joins legacy tables with the shadow, new and ledger tables directly. When
legacy is elsewhere, the pipeline account cannot see it and the legacy account may only SELECT,
so no single server can run such a join. Here each check is run where its tables are:

* a check that reads only legacy tables runs on the legacy server, as the read-only account
  (the runner gives it to Great Expectations with ``connection: legacy``);
* a check that reads only pipeline tables runs on the pipeline server, as today;
* a check that joins both (a *mixed* check) is run by :func:`run_declaration`: the legacy rows it
  can be about are fetched through the read-only account into ``TEMPORARY`` tables of the
  pipeline's connection (same column types, charsets and collations as in legacy), and the
  check's own SQL then runs unchanged on the pipeline server, legacy table names replaced by the
  temporary ones. The result is the same as on one server whenever the fetched rows include every
  legacy row the check could report.

Which legacy rows are fetched is said per expectation by its ``cross_server`` mapping (legacy
table -> *provider*); the default is the whole table, bounded by :data:`FETCH_LIMIT` rows (a check
that would fetch more fails with an error saying so). Providers:

``all``                        every row (small lookup tables: contacts, rats, riginfo)
``{lost: shadow|new}``         rows a run has handled (id at or below the high-water mark) whose
                               key is not in the entry's shadow (new) table, found by comparing
                               hashed key buckets computed by each server (:mod:`.keydiff`): only
                               the differing keys travel
``{drift: true}``              rows whose mapped values differ from their shadow row (same
                               bucket comparison, over key and values)
``{deleted: true}``            (replaces the expectation) shadow rows whose legacy row is gone:
                               the shadow-only keys of the bucket comparison, each confirmed
                               absent by the legacy server
``{window: column}``           rows of the last ``days_back`` days (the legacy server's today)
``{lost_window: column}``      rows of those days that hold a row ``lost`` finds (new table):
                               the per-day reconciliation reads whole failing days only
``{not_in: [column, SQL]}``    rows whose column is NULL or not among the values the pipeline
                               query returns (a small set, e.g. the new rats' names)
``{in: [column, SQL]}``        rows whose column is among the values the pipeline query returns
``{missing_in: [column, SQL]}`` rows whose column value the pipeline query does not return
                               (bucket comparison of the two value sets)
``{any: [providers]}``         rows any of them selects

Schema-comparison checks (``information_schema``) get the legacy server's own description of the
legacy schemas in temporary tables. Nothing here writes to the legacy server, and nothing but
``TEMPORARY`` tables (gone with the connection) is written on the pipeline server.

This module imports neither Dagster nor Great Expectations.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pymysql
import pymysql.cursors

from brody_assets.config import DatabaseSettings, Settings
from brody_assets.db.server import LEGACY_SQL_MODE
from brody_assets.integrity import keydiff
from brody_assets.integrity.declarations import (
    CheckDeclaration,
    ExpectationSpec,
    render_sql,
    schema_for,
    unformat,
)
from brody_assets.integrity.registry_sql import (
    bare_source_sql,
    check_sql,
    column_types,
    source_sql,
    table_ref,
)
from brody_assets.migration.registry import MigrationOptions, TableEntry, entry

FETCH_LIMIT = 500_000
LEGACY_SCHEMAS = ("bdata", "ratinfo", "protocol")
DAYS_BACK = MigrationOptions().days_back

_LEGACY_REF = re.compile(r"\{legacy\.([A-Za-z0-9_]+)\}\.`?([A-Za-z0-9_$]+)`?")
_LEGACY_ANY = re.compile(r"\{(?:name:)?legacy\.")
_PIPELINE_ANY = re.compile(r"\{(?:name:)?(?:new|shadow)\.[A-Za-z0-9_]+\}|\{migration\}")
_INFO = re.compile(r"\binformation_schema\.(COLUMNS|TABLES)\b")
_TOTAL = "_unexpected_total"


class CrossServerError(RuntimeError):
    """A mixed check cannot be run across the two servers (the message says why)."""


def cross_server(settings: Settings) -> bool:
    """Whether legacy lives on another server than the pipeline's schemas."""
    return (settings.legacy.host, settings.legacy.port) != (
        settings.database.host,
        settings.database.port,
    )


# -- which server a check needs ------------------------------------------------------------------


def _batch_text(d: CheckDeclaration) -> str:
    return d.table or d.query or ""


def expectation_text(d: CheckDeclaration, spec: ExpectationSpec) -> str:
    """Everything an expectation reads: its SQL and, when it uses it, the batch."""
    sql = spec.sql or ""
    if spec.kind != "unexpected_rows" or "{batch}" in sql:
        return f"{sql} {_batch_text(d)}"
    return sql


def reads_legacy(text: str) -> bool:
    return bool(_LEGACY_ANY.search(text))


def reads_pipeline(text: str) -> bool:
    return bool(_PIPELINE_ANY.search(text))


def legacy_only(d: CheckDeclaration) -> bool:
    """Every expectation and the batch read legacy tables only: the legacy server runs it."""
    texts = [_batch_text(d), *(expectation_text(d, s) for s in d.expectations)]
    return any(map(reads_legacy, texts)) and not any(map(reads_pipeline, texts))


def needs_federation(d: CheckDeclaration) -> bool:
    """Legacy and pipeline tables both take part (in one expectation, or batch vs expectation)."""
    texts = [_batch_text(d), *(expectation_text(d, s) for s in d.expectations)]
    return any(map(reads_legacy, texts)) and any(map(reads_pipeline, texts))


# -- connections ---------------------------------------------------------------------------------


def connect(account: DatabaseSettings) -> pymysql.Connection:
    """A connection with the permissive sql_mode the legacy zero dates need (both servers)."""
    return pymysql.connect(
        host=account.host,
        port=account.port,
        user=account.user,
        password=account.password.reveal(),
        autocommit=True,
        charset="utf8mb4",
        sql_mode=LEGACY_SQL_MODE,
        connect_timeout=10,
        **account.tls_options(),
    )


@dataclass
class Federation:
    """The two connections of a cross-server run and what it has fetched so far."""

    settings: Settings
    pipeline: Any
    legacy: Any
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    fetch_limit: int = FETCH_LIMIT
    staged: dict[str, tuple] = field(default_factory=dict)  # temp table -> (WHERE, columns)
    info_staged: bool = False
    watermarks: dict[str, Any] = field(default_factory=dict)
    found: dict[tuple, list[Any]] = field(default_factory=dict)  # (provider, entry) -> ids
    stats: dict[str, int] = field(
        default_factory=lambda: {"rows_fetched": 0, "keys_compared": 0, "queries": 0}
    )

    def close(self) -> None:
        """Close both connections (the temporary tables go with the pipeline's)."""
        with contextlib.suppress(Exception):
            self.stack.close()

    # -- small helpers -------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """Declaration SQL with schema placeholders filled, as the server sees it."""
        return unformat(render_sql(text, self.settings))

    def rows(self, conn, sql: str, args: Any = None) -> list[dict[str, Any]]:
        self.stats["queries"] += 1
        with conn.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(sql, args)
            return [dict(r) for r in cursor.fetchall()]

    def values(self, conn, sql: str) -> list[Any]:
        self.stats["queries"] += 1
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return [r[0] for r in cursor.fetchall()]

    def literal(self, value: Any) -> str:
        return self.pipeline.escape(value)

    def in_list(self, column: str, values: Iterable[Any]) -> str:
        values = list(dict.fromkeys(values))
        if not values:
            return "FALSE"
        return f"`{column}` IN ({', '.join(self.literal(v) for v in values)})"

    def watermark(self, e: TableEntry) -> Any:
        if e.name not in self.watermarks:
            found = self.values(
                self.pipeline,
                self.sql("SELECT w.high_key FROM {migration}.`watermark` w WHERE w.table_name = ")
                + self.literal(e.name),
            )
            self.watermarks[e.name] = found[0] if found else None
        return self.watermarks[e.name]

    def diff(self, left: keydiff.Side, right: keydiff.Side) -> keydiff.KeyDiff:
        result = keydiff.diff(left, right)
        self.stats["queries"] += result.queries
        self.stats["keys_compared"] += result.keys_fetched
        return result


def open_federation(
    settings: Settings, legacy_connect: Callable[[], Any] | None = None
) -> Federation:
    """Connect the pipeline account and the read-only legacy account (``legacy_connect``: a
    context manager giving the legacy connection, e.g. ``LegacyDatabaseResource.connect``)."""
    stack = contextlib.ExitStack()
    try:
        pipeline = stack.enter_context(contextlib.closing(connect(settings.database)))
        if legacy_connect is not None:
            legacy = stack.enter_context(legacy_connect())
        else:
            legacy = stack.enter_context(contextlib.closing(connect(settings.legacy)))
    except Exception:
        stack.close()
        raise
    return Federation(settings, pipeline, legacy, stack=stack)


# -- providers: which legacy rows a mixed expectation needs ---------------------------------------


def _entry_of(d: CheckDeclaration, arg: Any) -> TableEntry:
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
        e = _entry_of(d, provider)
        return fed.in_list(e.id_column, lost_ids(fed, e, arg))
    if kind == "drift":
        e = _entry_of(d, provider)
        return fed.in_list(e.id_column, drift_ids(fed, e))
    if kind == "window":
        return _window(arg)
    if kind == "lost_window":  # the window's days that hold a row missing from the new table
        e = _entry_of(d, provider)
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


# -- staging legacy rows on the pipeline server --------------------------------------------------


def temp_name(schema: str, table: str) -> str:
    return f"_xs_{schema}__{table}"


def _columns(fed: Federation, real_schema: str, table: str) -> list[dict[str, Any]]:
    return fed.rows(
        fed.legacy,
        "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, CHARACTER_SET_NAME AS cs, "
        "COLLATION_NAME AS co, COLUMN_KEY AS k FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (real_schema, table),
    )


def stage(
    fed: Federation, d: CheckDeclaration, schema: str, table: str, where: str, text: str
) -> None:
    """Copy the legacy rows of ``schema.table`` matching ``where`` into a temporary table."""
    name = temp_name(schema, table)
    real = fed.settings.legacy_schema(schema)
    columns = _columns(fed, real, table)
    if not columns:
        raise CrossServerError(
            f"{d.key}: legacy table {real}.{table} not found (or not readable) on the legacy "
            f"server as {fed.settings.legacy.user}"
        )
    # Blob columns travel only when the check names them (parsed_events.peh is most of legacy).
    kept = [
        c
        for c in columns
        if "blob" not in c["type"].lower() or re.search(rf"\b{re.escape(c['name'])}\b", text)
    ]
    holds = (where, tuple(c["name"] for c in kept))
    if fed.staged.get(name) == holds:
        return
    defs = []
    for c in kept:
        charset = f" CHARACTER SET {c['cs']} COLLATE {c['co']}" if c["cs"] else ""
        defs.append(f"`{c['name']}` {c['type']}{charset} NULL")
    primary = [c["name"] for c in columns if c["k"] == "PRI"]
    if primary and all(c in {k["name"] for k in kept} for c in primary):
        defs.append("PRIMARY KEY (" + ", ".join(f"`{c}`" for c in primary) + ")")
    target = f"`{schema_for('migration', fed.settings)}`.`{name}`"
    names = ", ".join(f"`{c['name']}`" for c in kept)
    with fed.pipeline.cursor() as cursor:
        cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {target}")
        cursor.execute(f"CREATE TEMPORARY TABLE {target} ({', '.join(defs)})")
    fed.staged.pop(name, None)
    total = 0
    insert = f"INSERT INTO {target} ({names}) VALUES ({', '.join(['%s'] * len(kept))})"
    with fed.legacy.cursor(pymysql.cursors.SSCursor) as source:
        source.execute(
            f"SELECT {names} FROM `{real}`.`{table}` WHERE {where} LIMIT {fed.fetch_limit + 1}"
        )
        while True:
            chunk = source.fetchmany(5000)
            if not chunk:
                break
            total += len(chunk)
            if total > fed.fetch_limit:
                source.fetchall()
                raise CrossServerError(
                    f"{d.key}: would fetch more than {fed.fetch_limit:,} rows of legacy "
                    f"{real}.{table} to compare across servers; give this expectation a "
                    "narrower cross_server provider"
                )
            with fed.pipeline.cursor() as cursor:
                cursor.executemany(insert, chunk)
    fed.stats["rows_fetched"] += total
    fed.staged[name] = holds


def stage_information_schema(fed: Federation) -> None:
    """The legacy server's description of the legacy schemas, as two temporary tables."""
    if fed.info_staged:
        return
    schema = schema_for("migration", fed.settings)
    names = [fed.settings.legacy_schema(s) for s in LEGACY_SCHEMAS]
    marks = ", ".join(["%s"] * len(names))
    tables = [
        ("TABLES", "TABLE_SCHEMA, TABLE_NAME", 2),
        ("COLUMNS", "TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE", 4),
    ]
    for view, cols, n in tables:
        with fed.legacy.cursor() as cursor:
            cursor.execute(
                f"SELECT {cols} FROM information_schema.{view} WHERE TABLE_SCHEMA IN ({marks})",
                names,
            )
            rows = list(cursor.fetchall())
        target = f"`{schema}`.`_xs_is_{view.lower()}`"
        defs = ", ".join(
            f"`{c.strip()}` {'LONGTEXT' if c.strip() == 'COLUMN_TYPE' else 'VARCHAR(64)'} "
            "CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci"
            for c in cols.split(",")
        )
        with fed.pipeline.cursor() as cursor:
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {target}")
            cursor.execute(f"CREATE TEMPORARY TABLE {target} ({defs})")
            if rows:
                cursor.executemany(f"INSERT INTO {target} VALUES ({', '.join(['%s'] * n)})", rows)
        fed.stats["rows_fetched"] += len(rows)
    fed.info_staged = True


def _information_schema(fed: Federation, text: str) -> str:
    """``information_schema.X`` read as: the pipeline server's, without any schema named like a
    legacy one, plus the legacy server's rows for the legacy schemas."""
    schema = schema_for("migration", fed.settings)
    names = ", ".join(fed.literal(fed.settings.legacy_schema(s)) for s in LEGACY_SCHEMAS)
    cols = {
        "TABLES": "TABLE_SCHEMA, TABLE_NAME",
        "COLUMNS": "TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE",
    }

    def swap(match: re.Match) -> str:
        view = match.group(1)
        return (
            f"(SELECT {cols[view]} FROM information_schema.{view} WHERE TABLE_SCHEMA NOT IN "
            f"({names}) UNION ALL SELECT {cols[view]} FROM `{schema}`.`_xs_is_{view.lower()}`)"
        )

    return _INFO.sub(swap, text)


# -- running a declaration -------------------------------------------------------------------------


@dataclass
class Ran:
    """One expectation's rows as the runner's wrapped SQL returned them (or its error)."""

    rows: list[dict[str, Any]]
    sql: str
    error: str | None = None


def _providers(spec: ExpectationSpec) -> dict[str, Any]:
    return dict(spec.cross_server or {})


def _federate(
    fed: Federation, d: CheckDeclaration, spec: ExpectationSpec, wrap: Callable
) -> tuple[str, str]:
    """(the SQL to run on the pipeline server, the SQL people read) for a mixed expectation."""
    providers = _providers(spec)
    text = expectation_text(d, spec)
    refs = dict.fromkeys(_LEGACY_REF.findall(text))
    table_form = d.table if d.table and _LEGACY_REF.fullmatch(d.table) else None
    for schema, table in refs:
        provider = providers.get(f"{schema}.{table}")
        real = f"`{fed.settings.legacy_schema(schema)}`.`{table}`"
        stage(fed, d, schema, table, provider_where(fed, d, provider, real), text)

    def local(sql: str | None) -> str | None:
        if sql is None:
            return None
        return _LEGACY_REF.sub(lambda m: "{migration}.`" + temp_name(*m.groups()) + "`", sql)

    moved = replace(
        d,
        table=(
            "{migration}." + temp_name(*_LEGACY_REF.fullmatch(table_form).groups())
            if table_form
            else d.table
        ),
        query=local(d.query),
    )
    spec_moved = replace(spec, sql=local(spec.sql))
    sql = wrap(spec_moved, moved)
    if _INFO.search(sql) and "{name:legacy." in text:
        stage_information_schema(fed)
        sql = _information_schema(fed, unformat(sql))
    return unformat(sql), unformat(wrap(spec, d))


def run_expectation(
    fed: Federation, d: CheckDeclaration, spec: ExpectationSpec, wrap: Callable, limit: int
) -> Ran:
    """Run one expectation where its tables are; mixed ones across both servers."""
    text = expectation_text(d, spec)
    shown = unformat(wrap(spec, d))
    try:
        deleted = [p for p in _providers(spec).values() if isinstance(p, dict) and p.get("deleted")]
        if deleted:
            e = _entry_of(d, deleted[0])
            rows = deleted_rows(fed, e)
            total = len(rows)
            return Ran([{**r, _TOTAL: total} for r in rows[:limit]], shown)
        legacy, pipeline = reads_legacy(text), reads_pipeline(text)
        if legacy and pipeline:
            sql, shown = _federate(fed, d, spec, wrap)
            conn = fed.pipeline
        else:
            sql = shown
            conn = fed.legacy if legacy else fed.pipeline
        return Ran(fed.rows(conn, sql), shown)
    except (pymysql.MySQLError, CrossServerError) as error:
        message = error.args[-1] if isinstance(error, pymysql.MySQLError) else str(error)
        return Ran([], shown, f"{message} (cross-server run)")


def batch_count(fed: Federation, d: CheckDeclaration, batch_sql: Callable) -> int | None:
    """The batch's row count, counted where the batch lives."""
    text = _batch_text(d)
    try:
        relation = unformat(render_sql(batch_sql(d), fed.settings))
        if (
            reads_legacy(text)
            and reads_pipeline(text)
            or (_INFO.search(relation) and "{name:legacy." in text)
        ):
            stage_information_schema(fed)
            relation = _information_schema(fed, relation)
            conn = fed.pipeline
        else:
            conn = fed.legacy if reads_legacy(text) else fed.pipeline
        found = fed.values(conn, f"SELECT COUNT(*) FROM {relation} AS _b")
        return int(found[0])
    except (pymysql.MySQLError, CrossServerError):
        return None


def federated_declarations(
    declarations: Sequence[CheckDeclaration],
) -> tuple[list[int], list[int]]:
    """(indexes of mixed declarations, indexes of legacy-only ones)."""
    mixed = [i for i, d in enumerate(declarations) if needs_federation(d)]
    legacy = [i for i, d in enumerate(declarations) if legacy_only(d)]
    return mixed, legacy


__all__ = [
    "CrossServerError",
    "Federation",
    "cross_server",
    "federated_declarations",
    "legacy_only",
    "needs_federation",
    "open_federation",
    "run_expectation",
]
