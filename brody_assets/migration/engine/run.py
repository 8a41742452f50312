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
from collections.abc import Callable, Sequence

from brody_assets.config import Settings
from brody_assets.migration.registry import MigrationOptions, TableEntry, select

from . import ledger, pystage, sqlstage, staging
from .context import EngineContext, Invariant, StageResult, TableResult, open_context
from .drift import require_no_drift
from .scope import plan

log = logging.getLogger(__name__)
SAMPLES = 5
Progress = Callable[[str], None]


def _noop(_message: str) -> None:
    pass


class _Ticker:
    """Reports batch progress: the first and last batch, and at most one line every ``every_s``."""

    def __init__(self, progress: Progress, e: TableEntry, stage: str, total: int, t0: float,
                 every_s: float = 5.0) -> None:
        self.progress, self.e, self.stage, self.total, self.t0 = progress, e, stage, total, t0
        self.every_s, self.last = every_s, t0

    def tick(self, number: int, part: str, inserted: int) -> None:
        now = time.perf_counter()
        if number in (1, self.total) or now - self.last >= self.every_s:
            self.last = now
            self.progress(f"{self.e.name} {self.stage}: batch {number}/{self.total} ({part}) done, "
                          f"{inserted:,} rows inserted so far, {now - self.t0:.1f} s")


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
    counts = {k: v for k, v in result.as_dict().items()
              if k not in ("table", "stage", "mode", "scope", "scope_words", "samples")}
    ledger.log_run(ctx.db, ctx.names, ctx.run_id, e.name, result.stage, started, result.seconds, ctx.mode,
                   result.scope, counts)
    return result


def to_shadow(ctx: EngineContext, e: TableEntry, progress: Progress | None = None) -> StageResult:
    """Legacy -> shadow for one table (no-op for the computed behavior events).

    ``progress`` (optional) receives a line per step: scope planned, each batch, done.
    """
    progress = progress or _noop
    started, t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None), time.perf_counter()
    result = StageResult(e.name, "shadow", ctx.mode)
    if e.kind == "computed":
        result.skipped = "computed table: no shadow layer"
        return result
    require_no_drift(ctx.legacy, ctx.names.legacy_prefix, e)  # before any row is read or ledgered
    with ctx.db.lock(ctx.lock_name(e), ctx.options.lock_timeout_s):
        scope = plan(ctx.legacy, ctx.db, ctx.names, e, ctx.options, "shadow", ctx.windows)
        result.scope, result.batches = scope.describe(), len(scope.batches)
        result.scope_words = scope.words()
        progress(f"{e.name} shadow: scope planned in {time.perf_counter() - t0:.1f} s: {result.scope_words}; "
                 f"{len(scope.batches)} batch(es)")
        ticker = _Ticker(progress, e, result.stage, len(scope.batches), t0)
        staging.stage_lookups(ctx, e)
        for number, batch in enumerate(scope.batches, 1):
            if e.kind == "python":
                result.inserted += pystage.shadow_blob_batch(ctx, e, scope, batch)
            else:
                staging.stage_batch(ctx, e, batch.predicate(f"l.`{e.id_column}`", scope))
                result.inserted += sqlstage.run_bisected(ctx, e, scope, batch, "shadow", sqlstage.shadow_batch)
            ticker.tick(number, batch.part, result.inserted)
        return _finish(ctx, e, result, started, t0)


def to_new(ctx: EngineContext, e: TableEntry, progress: Progress | None = None) -> StageResult:
    """Shadow -> new for one table (for behavior events: compute from the new parsed events).

    ``progress`` (optional) receives a line per step: scope planned, each batch, done.
    """
    progress = progress or _noop
    started, t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None), time.perf_counter()
    result = StageResult(e.name, "new", ctx.mode)
    invariant = Invariant()
    require_no_drift(ctx.legacy, ctx.names.legacy_prefix, e)  # the new stage reads legacy too
    with ctx.db.lock(ctx.lock_name(e), ctx.options.lock_timeout_s):
        scope = plan(ctx.legacy, ctx.db, ctx.names, e, ctx.options, "new", ctx.windows)
        result.scope, result.batches = scope.describe(), len(scope.batches)
        result.scope_words = scope.words()
        progress(f"{e.name} new: scope planned in {time.perf_counter() - t0:.1f} s: {result.scope_words}; "
                 f"{len(scope.batches)} batch(es)")
        ticker = _Ticker(progress, e, result.stage, len(scope.batches), t0)
        staging.stage_lookups(ctx, e)
        for number, batch in enumerate(scope.batches, 1):
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
            ticker.tick(number, batch.part, result.inserted)
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
