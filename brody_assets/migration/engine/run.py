"""Entry points: :func:`to_shadow` and :func:`to_new` per table (the Dagster assets call these),
:func:`migrate` for a whole run, :func:`declare_tables` to create the schemas.

Each stage first compares the legacy columns it reads with the legacy server's
(:mod:`.drift`): a missing or retyped column raises before any row is read or ledgered. Each
stage then holds the table's named lock for its whole duration (overlapping runs wait, they
never interleave on one table), plans its scope (:mod:`.scope`), processes batch after batch
(one transaction each) and records a ``run_log`` row. The new-table stage also cleans the
ledger of rows that migrated or left legacy, counts the invariant per batch and, when done,
moves the table's high-water mark.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence

from brody_assets.config import Settings
from brody_assets.migration.registry import MigrationOptions, TableEntry, select

from . import ledger, pystage, sqlstage, staging
from .context import EngineContext, Invariant, StageResult, TableResult, open_context
from .drift import require_no_drift
from .scope import plan

log = logging.getLogger(__name__)
SAMPLES = 5


def _finish(ctx: EngineContext, e: TableEntry, result: StageResult, started: dt.datetime, t0: float) -> StageResult:
    rows = ctx.db.query(
        f"SELECT reason, COUNT(*), SUBSTRING_INDEX(GROUP_CONCAT(legacy_key ORDER BY key_int SEPARATOR '\\n'), "
        f"'\\n', {SAMPLES}) FROM {ctx.names.ledger} WHERE table_name = %s AND run_id = %s AND stage = %s "
        "GROUP BY reason ORDER BY reason",
        (e.name, ctx.run_id, result.stage),
    )
    result.quarantined = {r[0]: int(r[1]) for r in rows}
    result.samples = {r[0]: r[2].split("\n") for r in rows}
    result.seconds = round(time.perf_counter() - t0, 3)
    counts = {k: v for k, v in result.as_dict().items() if k not in ("table", "stage", "mode", "scope", "samples")}
    ledger.log_run(ctx.db, ctx.names, ctx.run_id, e.name, result.stage, started, result.seconds, ctx.mode,
                   result.scope, counts)
    return result


def to_shadow(ctx: EngineContext, e: TableEntry) -> StageResult:
    """Legacy -> shadow for one table (no-op for the computed behavior events)."""
    started, t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None), time.perf_counter()
    result = StageResult(e.name, "shadow", ctx.mode)
    if e.kind == "computed":
        result.skipped = "computed table: no shadow layer"
        return result
    require_no_drift(ctx.legacy, ctx.names.legacy_prefix, e)  # before any row is read or ledgered
    with ctx.db.lock(ctx.lock_name(e), ctx.options.lock_timeout_s):
        scope = plan(ctx.legacy, ctx.db, ctx.names, e, ctx.options, "shadow", ctx.windows)
        result.scope, result.batches = scope.describe(), len(scope.batches)
        staging.stage_lookups(ctx, e)
        for batch in scope.batches:
            if e.kind == "python":
                result.inserted += pystage.shadow_blob_batch(ctx, e, scope, batch)
            else:
                staging.stage_batch(ctx, e, batch.predicate(f"l.`{e.id_column}`", scope))
                result.inserted += sqlstage.run_bisected(ctx, e, scope, batch, "shadow", sqlstage.shadow_batch)
        return _finish(ctx, e, result, started, t0)


def to_new(ctx: EngineContext, e: TableEntry) -> StageResult:
    """Shadow -> new for one table (for behavior events: compute from the new parsed events)."""
    started, t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None), time.perf_counter()
    result = StageResult(e.name, "new", ctx.mode)
    invariant = Invariant()
    require_no_drift(ctx.legacy, ctx.names.legacy_prefix, e)  # the new stage reads legacy too
    with ctx.db.lock(ctx.lock_name(e), ctx.options.lock_timeout_s):
        scope = plan(ctx.legacy, ctx.db, ctx.names, e, ctx.options, "new", ctx.windows)
        result.scope, result.batches = scope.describe(), len(scope.batches)
        staging.stage_lookups(ctx, e)
        for batch in scope.batches:
            if e.kind == "computed":
                inserted, counted = pystage.events_batch(ctx, e, scope, batch)
                result.inserted += inserted
            elif e.kind == "python":
                result.inserted += sqlstage.run_bisected(ctx, e, scope, batch, "new", sqlstage.new_batch)
                counted = pystage.count_blob_batch(ctx, e, scope, batch)
            else:
                staging.stage_batch(ctx, e, batch.predicate(f"l.`{e.id_column}`", scope))
                result.inserted += sqlstage.run_bisected(ctx, e, scope, batch, "new", sqlstage.new_batch)
                counted = sqlstage.cleanup_and_count(ctx, e, scope, batch)
            invariant.add(counted)
        result.invariant = invariant
        result.in_scope = invariant.legacy_rows
        result.already_present = invariant.migrated - result.inserted
        ledger.commit_watermark(ctx.db, ctx.names, e.name, scope.upper)
        return _finish(ctx, e, result, started, t0)


def migrate_table(ctx: EngineContext, e: TableEntry) -> TableResult:
    return TableResult(e.name, to_shadow(ctx, e), to_new(ctx, e))


def migrate(settings: Settings, options: MigrationOptions | None = None,
            tables: Sequence[str] | None = None, run_id: str | None = None) -> list[TableResult]:
    """Migrate ``tables`` (all when None) in dependency order: shadow, then new, per table."""
    ctx = open_context(settings, options, run_id)
    try:
        results = []
        for e in select(tables):
            results.append(migrate_table(ctx, e))
            log.info("%s: %s", e.name, results[-1].new.invariant)
        return results
    finally:
        ctx.close()


def declare_tables(settings: Settings) -> None:
    """Create the new and shadow schemas and tables (idempotent).

    DataJoint binds its table classes to one schema name per process, so the declaration runs in a
    child process (see :mod:`brody_assets.migration.declare`); this process stays unbound and can
    serve any prefixes. The engine writes with plain SQL and never needs the classes.
    """
    from brody_assets.migration.declare import ensure_declared

    ensure_declared(settings)
