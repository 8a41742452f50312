"""Benchmark of the integrity checks on the migrated `lab` scale demo database (issue 5).

In one run, on this machine: every shipped check run through Great Expectations (the runner the
Dagster checks use) vs the same assertions written as hand-made SQL aggregates (one ``COUNT(*)``
per expectation, straight on MariaDB), target ≤ 3×; and the peak RSS of the GX run.

    .venv/bin/python benchmarks/integrity.py [--scale lab]

Writes the results to benchmarks/RESULTS.md ("Integrity checks").
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    END_DATE,
    bootstrap_both,
    build_legacy,
    drop_prefix,
    machine,
    record,
    server,
    settings_for,
    timed,
)
from brody_assets.integrity.declarations import (  # noqa: E402
    CheckDeclaration,
    ExpectationSpec,
    render_sql,
    render_table,
    unformat,
)

PREFIX = "bi_"


def _batch(d: CheckDeclaration, settings) -> str:
    if d.table:
        schema, name = render_table(d.table, settings)
        return f"`{schema}`.`{name}`"
    return f"({unformat(render_sql(d.query, settings))})"  # declarations alias {batch} themselves


def _literal(value) -> str:
    if value == "today":
        return f"'{dt.date.today().isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def hand_sql(d: CheckDeclaration, spec: ExpectationSpec, settings) -> str:
    """The same assertion as one SQL aggregate: the number of violating rows."""
    batch = _batch(d, settings)
    if spec.kind in ("unexpected_rows", "row_count_equal_query"):
        sql = unformat(render_sql(spec.sql, settings)).replace("{batch}", batch)
        if spec.kind == "unexpected_rows":
            return f"SELECT COUNT(*) FROM ({sql}) AS _v"
        return f"SELECT (SELECT COUNT(*) FROM {batch} AS _b) - ({sql})"
    cols = ", ".join(f"`{c}`" for c in spec.columns)
    if spec.kind == "unique":
        return (f"SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM {batch} AS _b "
                f"GROUP BY {cols} HAVING COUNT(*) > 1) AS _d")
    column = f"`{spec.columns[0]}`"
    if spec.kind == "not_null":
        return f"SELECT COUNT(*) FROM {batch} AS _b WHERE {column} IS NULL"
    if spec.kind == "values_between":
        conditions = []
        if spec.min is not None:
            conditions.append(f"{column} < {_literal(spec.min)}")
        if spec.max is not None:
            conditions.append(f"{column} > {_literal(spec.max)}")
        return f"SELECT COUNT(*) FROM {batch} AS _b WHERE {' OR '.join(conditions) or 'FALSE'}"
    if spec.kind == "in_set":
        values = ", ".join(_literal(v) for v in spec.values)
        return f"SELECT COUNT(*) FROM {batch} AS _b WHERE {column} NOT IN ({values})"
    raise ValueError(spec.kind)


def run_hand(settings, declarations) -> tuple[int, int]:
    import pymysql

    from brody_assets.db.server import LEGACY_SQL_MODE

    conns = {}
    for name, account in (("database", settings.database), ("legacy", settings.legacy)):
        conns[name] = pymysql.connect(host=account.host, port=account.port, user=account.user,
                                      password=account.password.reveal(), sql_mode=LEGACY_SQL_MODE)
    ran = errors = 0
    try:
        for d in declarations:
            with conns[d.connection].cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {_batch(d, settings)} AS _b")
                cursor.fetchall()
                for spec in d.expectations:
                    try:
                        cursor.execute(hand_sql(d, spec, settings))
                        cursor.fetchall()
                        ran += 1
                    except pymysql.MySQLError as error:
                        errors += 1
                        print(f"  hand SQL error in {d.key} ({spec.kind}): {error.args[-1]}", flush=True)
    finally:
        for conn in conns.values():
            conn.close()
    return ran, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="lab")
    args = parser.parse_args()
    from brody_assets.integrity.checks import all_declarations
    from brody_assets.integrity.runner import run_checks
    from brody_assets.migration.engine import declare_tables, migrate
    from brody_assets.migration.registry import MigrationOptions

    t: dict[str, float] = {}
    srv = server("new", 33417)
    settings = settings_for(srv, srv, PREFIX)
    print(f"building and migrating the '{args.scale}' database …", flush=True)
    with timed("build legacy", t):
        manifest = build_legacy(srv, PREFIX, args.scale, settings)
    bootstrap_both(srv, srv, settings)
    declare_tables(settings)
    with timed("migration", t):
        migrate(settings, MigrationOptions(full_backfill=True, today=END_DATE))
    declarations = all_declarations()
    expectations = sum(len(d.expectations) for d in declarations)

    with timed("import great_expectations (once per process)", t):
        import great_expectations  # noqa: F401
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with timed(f"hand-made SQL aggregates ({expectations} assertions)", t):
        ran, hand_errors = run_hand(settings, declarations)
    started = time.perf_counter()
    outcomes = run_checks(settings, declarations)
    t["gx"] = time.perf_counter() - started
    print(f"  all checks through GX: {t['gx']:.2f} s", flush=True)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    failing = sum(1 for o in outcomes if not o.passed)
    errored = sum(1 for o in outcomes if o.error)
    drop_prefix(srv, PREFIX)
    srv.stop()

    hand = t[f"hand-made SQL aggregates ({expectations} assertions)"]
    body = "\n".join([
        f"Run {dt.datetime.now():%Y-%m-%d %H:%M}, {machine()}, scale `{args.scale}` "
        f"({sum(manifest['row_counts'].values()):,} legacy rows, migrated in {t['migration']:.0f} s).",
        "",
        "| figure | measured | ratio | target |",
        "|---|---|---|---|",
        f"| {len(declarations)} checks ({expectations} expectations) through GX vs the same assertions as hand-made SQL aggregates | {t['gx']:.1f} s vs {hand:.1f} s ({ran} queries, {hand_errors} errors) | **{t['gx'] / hand:.2f}×** | ≤ 3× |",
        f"| (importing GX, once per process: {t['import great_expectations (once per process)']:.1f} s, not counted above) | | | |",
        f"| peak RSS of the process, before vs after the GX run | {rss_before:.0f} MiB vs {rss_after:.0f} MiB | +{rss_after - rss_before:.0f} MiB | flat |",
        "",
        f"Outcomes on the demo data: {failing} checks failing (the injected defects), {errored} errored.",
    ])
    record("Integrity checks (`benchmarks/integrity.py`)", body)
    print(body)


if __name__ == "__main__":
    main()
