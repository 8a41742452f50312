"""Run integrity check declarations as Great Expectations 1.x suites on the MariaDB server.

One ephemeral GX context per call of :func:`run_checks`; one SQL datasource per connection (on
one server the pipeline account reads legacy, shadow, new and migration schemas; ``connection:
legacy`` uses the read-only account; when legacy lives on another server, checks that read only
legacy run on the read-only account and checks that join legacy with pipeline tables are run
across both servers by :mod:`.xserver`, outside GX, which reaches one server per batch); one table or query asset per *batch* (the relation a check counts rows of).
Every expectation runs server-side: column expectations become aggregate SQL (``BOOLEAN_ONLY``
result format, bundled per batch), and only the ones that fail run again for their ``LIMIT``-ed
samples (``SUMMARY``); unexpected-rows SQL is wrapped so the server counts the violations
(``COUNT(*) OVER ()``) and returns at most :data:`SAMPLE_ROWS` of them (``COMPLETE`` result format,
which is the only one in which GX returns the rows), and runs once (GX's own expectation runs it
twice, see :func:`_rows_expectation`). Compound uniqueness is such a query too (``GROUP BY`` the
columns, see :func:`_by_query`). No table is read into pandas.

Results come back out of suite order, so every expectation carries ``meta`` naming its check and
position. An expectation that raises is a *failed* outcome carrying the error text (GX reports it
only in ``exception_info``); a batch whose table cannot be read fails the checks on that batch and
no others.

Great Expectations is imported inside :func:`run_checks` only (it costs seconds and ~240 MB).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import quote_plus

from brody_assets.config import DatabaseSettings, Settings
from brody_assets.db.server import LEGACY_SQL_MODE
from brody_assets.integrity.declarations import (
    SAMPLE_ROWS,
    CheckDeclaration,
    ExpectationSpec,
    render_sql,
    render_table,
    schema_for,
    unformat,
)
from brody_assets.integrity.ledger_fallback import tolerate_missing_ledger

log = logging.getLogger(__name__)

TOTAL_COLUMN = "_unexpected_total"
_ROW_COUNT = "row_count"


@dataclass
class ExpectationOutcome:
    """The result of one expectation of a check."""

    kind: str
    description: str
    severity: str
    passed: bool
    unexpected_count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    sql: str = ""
    error: str | None = None


@dataclass
class CheckOutcome:
    """The result of one check: what the Dagster asset check and the report show."""

    name: str
    asset: tuple[str, ...]
    spec: str
    passed: bool
    severity: str
    blocking: bool
    unexpected_count: int
    unexpected_percent: float | None
    element_count: int | None
    failing_rows: str
    sql: str
    error: str | None = None
    duration_s: float = 0.0
    expectations: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{'/'.join(self.asset)}:{self.name}"


# -- entry point -----------------------------------------------------------------------------


def run_checks(
    settings: Settings,
    declarations: Sequence[CheckDeclaration],
    selected: Iterable[str] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    today: date | None = None,
    legacy_connect: Callable[[], Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CheckOutcome]:
    """Run the declarations (or the ``selected`` ones, by name or ``asset/path:name``).

    Returns one :class:`CheckOutcome` per declaration run, in declaration order. Never raises for
    a check's own failure or error; raises only if Great Expectations itself cannot start.

    When legacy lives on another server (:func:`.xserver.cross_server`), checks that read only
    legacy tables run on the legacy server as the read-only account (``legacy_connect``: a
    context manager giving its connection, e.g. ``LegacyDatabaseResource.connect``; default: a
    connection as ``settings.legacy``), and checks that join legacy with pipeline tables are run
    across both servers by :mod:`.xserver`.

    ``progress`` (optional) receives a line when GX is ready and after each batch (one relation
    and the checks on it), with the elapsed seconds.
    """
    from brody_assets.integrity import xserver

    if selected is not None:
        wanted = set(selected)
        declarations = [d for d in declarations if d.name in wanted or d.key in wanted]
    if not declarations:
        return []
    declarations = tolerate_missing_ledger(declarations, settings)  # before the first migration
    today = today or date.today()
    if not xserver.cross_server(settings):
        return _run_gx(settings, declarations, sample_rows, today, progress)
    mixed, legacy = xserver.federated_declarations(declarations)
    routed = [
        replace(d, connection="legacy") if i in set(legacy) else d
        for i, d in enumerate(declarations)
    ]
    out: dict[int, CheckOutcome] = {}
    plain = [i for i in range(len(routed)) if i not in set(mixed)]
    if plain:
        ran = _run_gx(settings, [routed[i] for i in plain], sample_rows, today, progress)
        out.update(zip(plain, ran, strict=True))
    if mixed:
        try:
            federation = xserver.open_federation(settings, legacy_connect)
        except Exception as error:  # a server cannot be reached: these checks fail, saying why
            message = _clean_error(error, [s.password.reveal() for s in (settings.database, settings.legacy)])
            for i in mixed:
                d = routed[i]
                parts = [_errored(d, spec, message) for spec in d.expectations]
                out[i] = _outcome(d, parts, None, 0.0, settings)
            return [out[i] for i in range(len(routed))]
        try:
            for i in mixed:
                started = time.perf_counter()
                out[i] = _run_federated(federation, routed[i], settings, sample_rows)
                if progress is not None:
                    progress(f"{routed[i].name}: legacy (other server) joined with pipeline tables, "
                             f"{time.perf_counter() - started:.1f} s")
        finally:
            federation.close()
        log.info(
            "%d checks joined legacy (other server) with pipeline tables: %s",
            len(mixed),
            ", ".join(f"{k} {v:,}" for k, v in federation.stats.items()),
        )
    return [out[i] for i in range(len(routed))]


def _run_gx(
    settings: Settings,
    declarations: Sequence[CheckDeclaration],
    sample_rows: int,
    today: date,
    progress: Callable[[str], None] | None = None,
) -> list[CheckOutcome]:
    """Run declarations through Great Expectations, each batch on its own connection."""
    secrets = [s.password.reveal() for s in (settings.database, settings.legacy)]
    report = progress or (lambda _message: None)
    t0 = time.perf_counter()
    gx = _import_gx()
    context = gx.get_context(mode="ephemeral")
    _quiet(context)
    batches = _batches(declarations)
    report(f"Great Expectations ready in {time.perf_counter() - t0:.1f} s; {len(declarations)} check(s) "
           f"on {len(batches)} relation(s)")

    results: dict[int, list[ExpectationOutcome | None]] = {
        i: [None] * len(d.expectations) for i, d in enumerate(declarations)
    }
    element_counts: dict[int, int | None] = {}
    durations: dict[int, float] = {}
    datasources: dict[str, Any] = {}

    for number, (batch_key, members) in enumerate(batches.items()):
        started = time.perf_counter()
        connection = batch_key[0]
        try:
            if connection not in datasources:
                datasources[connection] = context.data_sources.add_sql(
                    name=f"brody_{connection}",
                    connection_string=_url(_account(settings, connection)),
                    kwargs={
                        "connect_args": {
                            "charset": "utf8mb4",
                            "sql_mode": LEGACY_SQL_MODE,
                            "connect_timeout": 10,
                        }
                    },
                )
            batch_definition = _batch_definition(
                datasources[connection], f"batch{number}", declarations[members[0]], settings
            )
        except Exception as error:  # the datasource or the batch table cannot be read
            message = _clean_error(error, secrets)
            for i in members:
                results[i] = [
                    _errored(declarations[i], spec, message)
                    for spec in declarations[i].expectations
                ]
                element_counts[i] = None
                durations[i] = time.perf_counter() - started
            report(f"relation {number + 1}/{len(batches)} ({_relation_label(declarations[members[0]])}) "
                   f"cannot be read: {message.splitlines()[0][:200]}")
            continue

        count = _run_batch(
            gx,
            context,
            batch_definition,
            f"batch{number}",
            declarations,
            members,
            settings,
            results,
            sample_rows,
            today,
            secrets,
        )
        for i in members:
            element_counts[i] = count
            durations[i] = time.perf_counter() - started
        report(f"relation {number + 1}/{len(batches)} ({_relation_label(declarations[members[0]])}): "
               f"{', '.join(declarations[i].name for i in members)} in {time.perf_counter() - started:.1f} s "
               f"({time.perf_counter() - t0:.1f} s so far)")

    return [
        _outcome(d, results[i], element_counts.get(i), durations.get(i, 0.0), settings)
        for i, d in enumerate(declarations)
    ]


# -- GX plumbing -----------------------------------------------------------------------------


_ROWS_EXPECTATION: Any = None


def _import_gx():
    # GX logs usage-statistics and progress chatter at INFO; keep the run log readable.
    for name in ("great_expectations", "great_expectations.core"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import great_expectations as gx

    _rows_expectation(gx)
    return gx


def _rows_expectation(gx):
    """``UnexpectedRowsExpectation`` that runs its query once.

    GX's own resolves two metrics on the same query: ``unexpected_rows_query.table`` (the rows)
    and ``unexpected_rows_query.row_count`` (``SELECT COUNT(*) FROM (query)``), so every check
    query runs twice on the server. Our queries are wrapped to return at most ``SAMPLE_ROWS`` rows
    and carry the server's total in a column (:func:`_wrapped_sql`), so the rows alone decide: no
    row back is a pass, exactly when GX's ``COUNT(*)`` of the same query is 0. Registered with GX
    (as ``brody_unexpected_rows_expectation``) once per process.
    """
    global _ROWS_EXPECTATION
    if _ROWS_EXPECTATION is not None:
        return _ROWS_EXPECTATION
    from typing import ClassVar

    base = gx.expectations.UnexpectedRowsExpectation

    class BrodyUnexpectedRowsExpectation(base):
        metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

        def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
            rows = metrics["unexpected_rows_query.table"]
            count = len(rows)
            return {
                "success": count == 0,
                "result": {"observed_value": count, "details": {"unexpected_rows": rows}},
            }

    _ROWS_EXPECTATION = BrodyUnexpectedRowsExpectation
    return _ROWS_EXPECTATION


def _quiet(context) -> None:
    """Progress bars off: otherwise every metric computation writes a tqdm bar to the run log."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def _account(settings: Settings, connection: str) -> DatabaseSettings:
    return settings.legacy if connection == "legacy" else settings.database


def _url(account: DatabaseSettings) -> str:
    return (
        f"mysql+pymysql://{quote_plus(account.user)}:{quote_plus(account.password.reveal())}"
        f"@{account.host}:{account.port}/?{account.tls_query()}"
    )


def _relation_label(declaration: CheckDeclaration) -> str:
    return declaration.table or "query"


def _batches(declarations: Sequence[CheckDeclaration]) -> dict[tuple, list[int]]:
    """Declarations grouped by the relation they run on (one GX asset and batch each)."""
    groups: dict[tuple, list[int]] = {}
    for i, d in enumerate(declarations):
        groups.setdefault((d.connection, d.table, d.query, d.key_columns), []).append(i)
    return groups


def _batch_definition(datasource, name: str, declaration: CheckDeclaration, settings: Settings):
    if declaration.table is not None:
        schema, table = render_table(declaration.table, settings)
        asset = datasource.add_table_asset(name=name, table_name=table, schema_name=schema)
    else:
        query = unformat(render_sql(declaration.query or "", settings))
        asset = datasource.add_query_asset(name=name, query=query)
    return asset.add_batch_definition_whole_table(f"{name}_all")


def _batch_sql(declaration: CheckDeclaration, settings: Settings) -> str:
    """What ``{batch}`` stands for: `schema`.`table`, or the batch query in parentheses.

    We substitute it ourselves (GX's own substitution leaves a query batch unaliased when the SQL
    contains JOIN, which MariaDB rejects); check SQL always aliases it: ``FROM {batch} AS b``.
    """
    if declaration.table is not None:
        schema, table = render_table(declaration.table, settings)
        return f"`{schema}`.`{table}`"
    return f"({render_sql(declaration.query or '', settings)})"


def _by_query(spec: ExpectationSpec) -> bool:
    """Whether GX runs the expectation as an unexpected-rows query (rather than a column one).

    Compound uniqueness is one: GX's ``ExpectCompoundColumnsToBeUnique`` counts with
    ``COUNT(*) OVER (PARTITION BY ...)`` over every column of the batch (on MariaDB a sort of the
    whole wide table: 23 s on the lab-scale behavior events, against 3 s for ``GROUP BY`` on the
    key). The query (:func:`_duplicates_sql`) asserts the same thing and counts the same rows.
    """
    return spec.kind in ("unexpected_rows", "row_count_equal_query") or (
        spec.kind == "unique" and len(spec.columns) > 1
    )


def _duplicates_sql(
    spec: ExpectationSpec, declaration: CheckDeclaration, settings: Settings
) -> str:
    """Groups of rows that share the key columns, with their size in ``rows``.

    The same rows as GX's compound uniqueness: rows whose columns are all NULL are ignored
    (GX's ``ignore_row_if="all_values_are_missing"``), NULLs otherwise group together (as in
    ``PARTITION BY``); the count is the number of rows in those groups, not of groups.
    """
    cols = [f"b.`{c}`" for c in spec.columns]
    all_null = " AND ".join(f"{c} IS NULL" for c in cols)
    return (
        f"SELECT {', '.join(cols)}, COUNT(*) AS `rows` FROM {_batch_sql(declaration, settings)} AS b "
        f"WHERE NOT ({all_null}) GROUP BY {', '.join(cols)} HAVING COUNT(*) > 1"
    )


def _check_sql(spec: ExpectationSpec, declaration: CheckDeclaration, settings: Settings) -> str:
    """The SQL of an unexpected-rows style expectation, placeholders filled (GX brace rules)."""
    sql = render_sql((spec.sql or "").strip().rstrip(";"), settings)
    return sql.replace("{batch}", _batch_sql(declaration, settings))


def _wrapped_sql(
    spec: ExpectationSpec, declaration: CheckDeclaration, settings: Settings, n: int
) -> str:
    """Server counts all violations, returns at most ``n`` (GX would otherwise buffer them all)."""
    sql = _check_sql(spec, declaration, settings)
    if spec.kind == "row_count_equal_query":
        return (
            "SELECT _a.actual_rows, _e.expected_rows, "
            "CAST(_a.actual_rows AS SIGNED) - CAST(_e.expected_rows AS SIGNED) AS difference, "
            f"1 AS {TOTAL_COLUMN}\n"
            f"FROM (SELECT COUNT(*) AS actual_rows FROM {_batch_sql(declaration, settings)} AS _b) AS _a,\n"
            f"     (SELECT (\n{sql}\n) AS expected_rows) AS _e\n"
            "WHERE NOT (_a.actual_rows <=> _e.expected_rows)"
        )
    if spec.kind == "unique":
        sql = _duplicates_sql(spec, declaration, settings)
        order = ", ".join(f"_v.`{c}`" for c in spec.columns)
        return (
            f"SELECT _v.*, SUM(_v.`rows`) OVER () AS {TOTAL_COLUMN} FROM (\n{sql}\n) AS _v "
            f"ORDER BY _v.`rows` DESC, {order} LIMIT {int(n)}"
        )
    order = f" ORDER BY {spec.order_by}" if spec.order_by else ""
    return f"SELECT _v.*, COUNT(*) OVER () AS {TOTAL_COLUMN} FROM (\n{sql}\n) AS _v{order} LIMIT {int(n)}"


def _severity(spec: ExpectationSpec, declaration: CheckDeclaration) -> str:
    return spec.severity or declaration.severity


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bounds(spec: ExpectationSpec, today: date) -> tuple[Any, Any]:
    """``today`` means the end of the run's day. GX parses date strings and compares min with max
    in Python, so when one bound is a datetime both must be (``date`` vs ``datetime`` raises)."""
    low, high = spec.min, spec.max
    if not any(isinstance(v, str) and v.strip().lower() == "today" for v in (low, high)):
        return low, high

    def as_datetime(value: Any, end_of_day: bool) -> Any:
        if isinstance(value, str) and value.strip().lower() == "today":
            value = today.isoformat()
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(value, str) and _DATE.match(value.strip()):
            return f"{value.strip()} {'23:59:59' if end_of_day else '00:00:00'}"
        return value

    return as_datetime(low, False), as_datetime(high, True)


def _gx_expectations(gx, spec: ExpectationSpec, declaration, settings, meta, sample_rows, today):
    """(suite, expectation) pairs for one spec: 'summary' suites for column kinds, 'complete' else."""
    E = gx.expectations
    severity = "critical" if _severity(spec, declaration) == "ERROR" else "warning"
    common = {"meta": meta, "severity": severity}
    if _by_query(spec):
        query = _wrapped_sql(spec, declaration, settings, sample_rows)
        with contextlib.redirect_stdout(io.StringIO()):  # GX prints when {batch} is not in the SQL
            return "complete", _rows_expectation(gx)(unexpected_rows_query=query, **common)
    if spec.kind == "unique":
        return "summary", E.ExpectColumnValuesToBeUnique(column=spec.column, **common)
    if spec.kind == "not_null":
        return "summary", E.ExpectColumnValuesToNotBeNull(column=spec.column, **common)
    if spec.kind == "values_between":
        low, high = _bounds(spec, today)
        return "summary", E.ExpectColumnValuesToBeBetween(
            column=spec.column, min_value=low, max_value=high, **common
        )
    if spec.kind == "in_set":
        return "summary", E.ExpectColumnValuesToBeInSet(
            column=spec.column, value_set=list(spec.values), **common
        )
    raise ValueError(f"unknown expectation kind {spec.kind!r}")


def _run_batch(
    gx,
    context,
    batch_definition,
    name,
    declarations,
    members,
    settings,
    results,
    sample_rows,
    today,
    secrets,
) -> int | None:
    """Run the expectations of the checks on one batch; fill ``results``; return the row count.

    Up to three validation runs on the batch, each one GX suite:

    ``complete``  the batch's row count and the unexpected-rows expectations (``COMPLETE``: the
                  only format in which GX returns their rows; each query runs once, LIMIT-ed)
    ``columns``   the column expectations, ``BOOLEAN_ONLY``: GX bundles their unexpected counts
                  into aggregate queries on the batch and fetches no samples
    ``samples``   only the column expectations that failed, again, ``SUMMARY`` with the key
                  columns: their counts and sample rows (GX's sample queries are ``LIMIT``-ed, but
                  on a passing expectation each is one more full scan that finds nothing)
    """
    suites: dict[str, Any] = {
        "complete": gx.ExpectationSuite(name=f"{name}_complete"),
        "columns": gx.ExpectationSuite(name=f"{name}_columns"),
    }
    # The batch's row count: the denominator of every unexpected percent on it.
    suites["complete"].add_expectation(
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=0, meta={"brody": _ROW_COUNT})
    )
    specs: dict[tuple[int, int], tuple[ExpectationSpec, str]] = {}
    for i in members:
        declaration = declarations[i]
        for j, spec in enumerate(declaration.expectations):
            sql = _describe_sql(spec, declaration, settings, sample_rows)
            specs[(i, j)] = (spec, sql)
            try:
                suite_name, expectation = _gx_expectations(
                    gx, spec, declaration, settings, {"brody": [i, j]}, sample_rows, today
                )
            except Exception as error:  # a bad declaration value GX refuses: fail this one only
                results[i][j] = _errored(declaration, spec, _clean_error(error, secrets), sql)
                continue
            suites["columns" if suite_name == "summary" else suite_name].add_expectation(
                expectation
            )

    key_columns = list(declarations[members[0]].key_columns)
    formats = {
        # Only COMPLETE returns UnexpectedRowsExpectation's rows; the SQL is LIMIT-ed (see above).
        "complete": {"result_format": "COMPLETE"},
        "columns": {"result_format": "BOOLEAN_ONLY"},
        "samples": {
            "result_format": "SUMMARY",
            "partial_unexpected_count": sample_rows,
            **({"unexpected_index_column_names": key_columns} if key_columns else {}),
        },
    }
    row_count: int | None = None

    def validate(suite_name: str, suite) -> list:
        """Run one suite; its results, or [] after marking its expectations errored."""
        if not suite.expectations:
            return []
        try:
            # GX prints (to stdout) a hint for SQL without {batch}: we substitute it ourselves.
            with contextlib.redirect_stdout(io.StringIO()):
                suite = context.suites.add(suite)
                validation = context.validation_definitions.add(
                    gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
                )
                return list(validation.run(result_format=formats[suite_name]).results)
        except Exception as error:
            message = _clean_error(error, secrets)
            for e in suite.expectations:
                if e.meta["brody"] != _ROW_COUNT:
                    i, j = e.meta["brody"]
                    spec, sql = specs[(i, j)]
                    results[i][j] = _errored(declarations[i], spec, message, sql)
            return []

    for result in validate("complete", suites["complete"]):
        tag = result.expectation_config.meta.get("brody")
        if tag == _ROW_COUNT:
            if _exception_text(result.exception_info, secrets) is None:
                row_count = _int((result.result or {}).get("observed_value"))
            continue
        i, j = tag
        spec, sql = specs[(i, j)]
        results[i][j] = _expectation_outcome(declarations[i], spec, sql, result, secrets)

    samples = gx.ExpectationSuite(name=f"{name}_samples")
    for result in validate("columns", suites["columns"]):
        i, j = result.expectation_config.meta.get("brody")
        spec, sql = specs[(i, j)]
        if result.success or _exception_text(result.exception_info, secrets) is not None:
            results[i][j] = _expectation_outcome(declarations[i], spec, sql, result, secrets)
            continue
        _, expectation = _gx_expectations(
            gx, spec, declarations[i], settings, {"brody": [i, j]}, sample_rows, today
        )
        samples.add_expectation(expectation)
    for result in validate("samples", samples):
        i, j = result.expectation_config.meta.get("brody")
        spec, sql = specs[(i, j)]
        results[i][j] = _expectation_outcome(declarations[i], spec, sql, result, secrets)

    for i, j in specs:
        if results[i][j] is None:  # GX dropped it silently: never let that read as a pass
            spec, sql = specs[(i, j)]
            results[i][j] = _errored(declarations[i], spec, "no result came back from GX", sql)
    return row_count


def _describe_sql(
    spec: ExpectationSpec, declaration: CheckDeclaration, settings: Settings, n: int
) -> str:
    if _by_query(spec):
        return unformat(_wrapped_sql(spec, declaration, settings, n))
    where = (
        "`{}`.`{}`".format(*render_table(declaration.table, settings))
        if declaration.table
        else "(batch query)"
    )
    return f"{spec.kind}: {spec.describe()} on {where}"


# -- results ---------------------------------------------------------------------------------


def _run_federated(
    federation, declaration: CheckDeclaration, settings: Settings, sample_rows: int
) -> CheckOutcome:
    """A check joining legacy and pipeline tables, run across both servers (:mod:`.xserver`)."""
    from brody_assets.integrity import xserver

    started = time.perf_counter()
    secrets = [s.password.reveal() for s in (settings.database, settings.legacy)]
    count = xserver.batch_count(federation, declaration, lambda d: _batch_sql(d, settings))
    parts = []
    for spec in declaration.expectations:
        if not _by_query(spec):
            parts.append(
                _errored(
                    declaration,
                    spec,
                    f"a {spec.kind} expectation on a check that joins legacy and pipeline tables "
                    "cannot run across two servers; declare it as unexpected_rows",
                )
            )
            continue
        ran = xserver.run_expectation(
            federation,
            declaration,
            spec,
            lambda s, d: _wrapped_sql(s, d, settings, sample_rows),
            sample_rows,
        )
        if ran.error is not None:
            parts.append(_errored(declaration, spec, _clean_error(ran.error, secrets), ran.sql))
            continue
        rows = [dict(r) for r in ran.rows]
        if spec.kind == "row_count_equal_query":
            unexpected = sum(abs(_int(r.get("difference")) or 0) for r in rows)
        else:
            unexpected = _int(rows[0].get(TOTAL_COLUMN)) if rows else 0
        for row in rows:
            row.pop(TOTAL_COLUMN, None)
        parts.append(
            ExpectationOutcome(
                kind=spec.kind,
                description=spec.describe(),
                severity=_severity(spec, declaration),
                passed=not rows,
                unexpected_count=int(unexpected or 0),
                rows=rows,
                sql=ran.sql,
            )
        )
    return _outcome(declaration, parts, count, time.perf_counter() - started, settings)


def _expectation_outcome(declaration, spec, sql, result, secrets) -> ExpectationOutcome:
    severity = _severity(spec, declaration)
    error = _exception_text(result.exception_info, secrets)
    if error is not None:
        return _errored(declaration, spec, error, sql)
    body = result.result or {}
    if _by_query(spec):
        rows = [dict(r) for r in (body.get("details") or {}).get("unexpected_rows") or []]
        if spec.kind == "row_count_equal_query":
            count = sum(abs(_int(r.get("difference")) or 0) for r in rows)
        else:
            count = _int(rows[0].get(TOTAL_COLUMN)) if rows else 0
        for row in rows:
            row.pop(TOTAL_COLUMN, None)
    else:
        count = _int(body.get("unexpected_count")) or 0
        rows = _sample_rows(spec, body)
    passed = bool(result.success) and count == 0
    if not result.success and count == 0:
        count = _int(body.get("observed_value")) or 0
    return ExpectationOutcome(
        kind=spec.kind,
        description=spec.describe(),
        severity=severity,
        passed=passed,
        unexpected_count=int(count or 0),
        rows=rows,
        sql=sql,
    )


def _sample_rows(spec: ExpectationSpec, body: dict) -> list[dict[str, Any]]:
    """Failing rows of a column expectation: legacy keys + value, else values (+ counts)."""
    indexed = body.get("partial_unexpected_index_list")
    if indexed:
        return [dict(r) for r in indexed]
    counts = body.get("partial_unexpected_counts")
    if counts:
        rows = []
        for entry in counts:
            value = entry.get("value")
            if isinstance(value, (list, tuple)) and len(value) == len(spec.columns):
                row = dict(zip(spec.columns, value, strict=True))
            elif isinstance(value, dict):
                row = dict(value)
            else:
                row = {spec.columns[0] if spec.columns else "value": value}
            row["rows"] = entry.get("count")
            rows.append(row)
        return rows
    return [
        (dict(v) if isinstance(v, dict) else {spec.columns[0] if spec.columns else "value": v})
        for v in body.get("partial_unexpected_list") or []
    ]


def _errored(declaration, spec, message, sql: str = "") -> ExpectationOutcome:
    return ExpectationOutcome(
        kind=spec.kind,
        description=spec.describe(),
        severity=_severity(spec, declaration),
        passed=False,
        unexpected_count=0,
        sql=sql,
        error=message,
    )


def _outcome(declaration, parts, element_count, duration, settings) -> CheckOutcome:
    parts = [p for p in parts if p is not None]
    failed = [p for p in parts if not p.passed]
    severities = {p.severity for p in (failed or parts)}
    severity = "ERROR" if "ERROR" in severities else "WARN"
    count = sum(p.unexpected_count for p in parts)
    if element_count:
        percent: float | None = round(100.0 * count / element_count, 4)
    else:
        percent = 0.0 if count == 0 and element_count == 0 else None
    errors = [f"{p.description}: {p.error}" for p in parts if p.error]
    return CheckOutcome(
        name=declaration.name,
        asset=declaration.asset,
        spec=declaration.spec,
        passed=not failed,
        severity=severity,
        blocking=declaration.blocking,
        unexpected_count=count,
        unexpected_percent=percent,
        element_count=element_count,
        failing_rows=_markdown(parts),
        sql="\n\n".join(p.sql for p in parts if p.sql),
        error="\n".join(errors) or None,
        duration_s=round(duration, 3),
        expectations=parts,
    )


def _int(value: Any) -> int | None:
    """GX's SQL counts can be floats (or Decimals): counts are whole numbers."""
    if value is None:
        return None
    try:
        return int(round(float(value)))
    except (TypeError, ValueError):
        return None


_BACKGROUND = re.compile(r"\(Background on this error at: [^)]*\)")


def _clean_error(error: BaseException | str, secrets: Sequence[str] = ()) -> str:
    """The server's message, without SQLAlchemy's help link or any password."""
    text = str(error) if not isinstance(error, str) else error
    if isinstance(error, BaseException) and not text:
        text = type(error).__name__
    text = _BACKGROUND.sub("", text).strip()
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********").replace(quote_plus(secret), "********")
    return text[:4000]


def _exception_text(info: Any, secrets: Sequence[str]) -> str | None:
    """GX puts an expectation's error only in ``exception_info``, in one of two shapes."""
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        if not info.get("raised_exception"):
            return None
        return _clean_error(info.get("exception_message") or "expectation raised an error", secrets)
    messages: list[str] = []
    seen: set[str] = set()
    if isinstance(info, dict):
        for value in info.values():
            if isinstance(value, dict) and (value.get("raised_exception", True)):
                message = value.get("exception_message") or ""
                if not message and value.get("exception_traceback"):
                    message = value["exception_traceback"].strip().splitlines()[-1]
                # The same server error comes back once per metric (rows, count): say it once.
                server_error = message.split("\n[SQL:")[0]
                if message and server_error not in seen:
                    seen.add(server_error)
                    messages.append(message)
    if not messages:
        return None
    return _clean_error("\n".join(messages), secrets)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray)):
        value = f"<{len(value)} bytes>"
    text = str(value).replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-style markdown table of dict rows (columns in first-seen order)."""
    if not rows:
        return ""
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows)
    return "\n".join(lines)


def _markdown(parts: Sequence[ExpectationOutcome]) -> str:
    blocks = []
    for part in parts:
        if part.passed:
            continue
        if part.error:
            blocks.append(f"**{part.description}**: error: `{_cell(part.error)}`")
            continue
        grouped = (
            bool(part.rows)
            and all("rows" in r for r in part.rows)
            and part.kind != "unexpected_rows"
        )
        shown = sum(_int(r.get("rows")) or 0 for r in part.rows) if grouped else len(part.rows)
        head = f"**{part.description}** ({part.severity}): {part.unexpected_count:,} unexpected"
        if part.rows and shown < part.unexpected_count:
            head += f", {shown} shown"
        blocks.append(head + ("\n\n" + markdown_table(part.rows) if part.rows else ""))
    return "\n\n".join(blocks)


__all__ = [
    "CheckOutcome",
    "ExpectationOutcome",
    "markdown_table",
    "run_checks",
    "schema_for",
]
