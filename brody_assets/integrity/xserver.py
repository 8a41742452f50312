"""Integrity checks when the legacy database lives on another server (the *cross-server* layout).

On one server a check joins legacy tables with the shadow, new and ledger tables directly. When
legacy is elsewhere, the pipeline account cannot see it and the legacy account may only SELECT,
so no single server can run such a join. Here each check is run where its tables are:

* a check that reads only legacy tables runs on the legacy server, as the read-only account
  (the runner gives it to Great Expectations with ``connection: legacy``);
* a check that reads only pipeline tables runs on the pipeline server, as today;
* a check that joins both (a *mixed* check) is run by :func:`run_expectation`: the legacy rows it
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

Parts: :mod:`.xserver_db` (the two connections), :mod:`.xserver_rows` (the providers),
:mod:`.xserver_stage` (fetching into temporary tables), :mod:`.keydiff` (the bucket comparison).
None of them imports Dagster or Great Expectations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pymysql

from brody_assets.integrity.declarations import (
    CheckDeclaration,
    ExpectationSpec,
    render_sql,
    unformat,
)
from brody_assets.integrity.xserver_db import (
    FETCH_LIMIT,
    CrossServerError,
    Federation,
    connect,
    cross_server,
    open_federation,
)
from brody_assets.integrity.xserver_rows import (
    deleted_rows,
    drift_ids,
    entry_of,
    lost_ids,
    provider_where,
)
from brody_assets.integrity.xserver_stage import (
    INFO,
    information_schema,
    stage,
    stage_information_schema,
    temp_name,
)

_LEGACY_REF = re.compile(r"\{legacy\.([A-Za-z0-9_]+)\}\.`?([A-Za-z0-9_$]+)`?")
_LEGACY_ANY = re.compile(r"\{(?:name:)?legacy\.")
_PIPELINE_ANY = re.compile(r"\{(?:name:)?(?:new|shadow)\.[A-Za-z0-9_]+\}|\{migration\}")
_TOTAL = "_unexpected_total"


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
    if INFO.search(sql) and "{name:legacy." in text:
        stage_information_schema(fed)
        sql = information_schema(fed, unformat(sql))
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
            e = entry_of(d, deleted[0])
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
    except Exception as error:  # a check's own error fails that check, never the run
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
            or (INFO.search(relation) and "{name:legacy." in text)
        ):
            stage_information_schema(fed)
            relation = information_schema(fed, relation)
            conn = fed.pipeline
        else:
            conn = fed.legacy if reads_legacy(text) else fed.pipeline
        found = fed.values(conn, f"SELECT COUNT(*) FROM {relation} AS _b")
        return int(found[0])
    except Exception:  # the count is only the denominator: its expectations say what failed
        return None


def federated_declarations(
    declarations: Sequence[CheckDeclaration],
) -> tuple[list[int], list[int]]:
    """(indexes of mixed declarations, indexes of legacy-only ones)."""
    mixed = [i for i, d in enumerate(declarations) if needs_federation(d)]
    legacy = [i for i, d in enumerate(declarations) if legacy_only(d)]
    return mixed, legacy


__all__ = [
    "FETCH_LIMIT",
    "CrossServerError",
    "Federation",
    "connect",
    "cross_server",
    "drift_ids",
    "federated_declarations",
    "legacy_only",
    "lost_ids",
    "needs_federation",
    "open_federation",
    "run_expectation",
]
