"""The streamed path: legacy rows copied in bounded batches into ``{new_prefix}staging``.

When the legacy schemas live on another server, the set-based SQL cannot join across servers.
The engine then copies each batch's legacy rows (and, once per run, the small lookup tables such
as contacts and rats) into staging tables with the legacy DDL, ``{new_prefix}staging.
<schema>__<table>``, and runs exactly the same SQL against them. A batch is mirrored exactly:
the staging rows matching the batch predicate are replaced by the legacy ones in one
transaction. Zero dates survive because these writes use the permissive legacy sql_mode.
"""

from __future__ import annotations

import re

from brody_assets.migration.registry import TableEntry

from .context import EngineContext
from .names import legacy_tables_in


def ensure_table(ctx: EngineContext, legacy_table: str) -> None:
    """Create the staging copy of ``legacy_table`` from the legacy server's DDL (if missing)."""
    ctx.db.execute(f"CREATE DATABASE IF NOT EXISTS `{ctx.names.staging_schema}` CHARACTER SET latin1")
    ddl = ctx.legacy.query(f"SHOW CREATE TABLE {ctx.names.legacy(legacy_table, staged=False)}")[0][1]
    target = ctx.names.legacy(legacy_table, staged=True)
    ddl = re.sub(r"^CREATE TABLE `[^`]+`", f"CREATE TABLE IF NOT EXISTS {target}", ddl, count=1)
    ddl = re.sub(r" AUTO_INCREMENT=\d+", "", ddl)
    ctx.db.execute(ddl)


def copy_rows(ctx: EngineContext, legacy_table: str, pred: str) -> int:
    """Mirror the legacy rows matching ``pred`` (alias ``l``) into staging, in one transaction."""
    ensure_table(ctx, legacy_table)
    source = ctx.names.legacy(legacy_table, staged=False)
    target = ctx.names.legacy(legacy_table, staged=True)
    with ctx.legacy.conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {source} AS l WHERE {pred}")
        columns = [d[0] for d in cur.description]
        rows = list(cur.fetchall())
    cols = ", ".join(f"`{c}`" for c in columns)
    marks = ", ".join(["%s"] * len(columns))

    def work(cur) -> int:
        cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
        try:
            cur.execute(f"DELETE l FROM {target} AS l WHERE {pred}")
            if rows:
                cur.executemany(f"INSERT INTO {target} ({cols}) VALUES ({marks})", rows)
        finally:
            cur.execute("SET SESSION sql_mode = %s", (ctx.db.sql_mode,))
        return len(rows)

    return ctx.db.transaction(work)


def stage_lookups(ctx: EngineContext, e: TableEntry) -> None:
    """Copy in full, once per run, every legacy table the entry's SQL reads besides its own."""
    if not ctx.streamed:
        return
    texts = [e.source, e.shadow_source, *e.joins, *e.columns.values(), *(p.legacy_id for p in e.parents),
             *(r.predicate for r in e.rejects), *(r.detail for r in e.rejects)]
    wanted = set().union(*(legacy_tables_in(t) for t in texts)) - {e.legacy}
    for table in sorted(wanted - ctx.staged_lookups):
        copy_rows(ctx, table, "TRUE")
        ctx.staged_lookups.add(table)


def stage_batch(ctx: EngineContext, e: TableEntry, pred: str) -> None:
    """Mirror one batch of the entry's own legacy table into staging (streamed path only)."""
    if ctx.streamed:
        copy_rows(ctx, e.legacy, pred)
