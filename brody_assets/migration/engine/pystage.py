"""Tables whose transform is Python: legacy blobs (parsed events, protocol data) and the
computed behavior events.

Blobs are streamed from the legacy server in bounded batches (``blob_batch_rows`` sessions),
transformed in Python, and written — good rows to the shadow with ``executemany`` (behavior
events to the new table with ``LOAD DATA``, :mod:`.eventload`) and rejections to the ledger in
the same transaction. The shadow -> new copy of the blob tables is the set-based SQL of
:mod:`.sqlstage`. Counts for the invariant are made from key sets, so the same code serves the
server-side and streamed paths.

The transforms run in the run's :class:`.parallel.TransformPool` (forked workers,
``MigrationOptions.transform_workers``; 1 = in this process): while the workers transform one
batch, this process fetches the next, and the run's :class:`.writers.Writers` write the
previous ones, each batch in its own transaction on one of ``MigrationOptions.load_connections``
connections (so the server writes on that many threads). A worker failure raises
:class:`.parallel.TransformWorkerError` before its batch is written; the batches before it are
written in full (every write in flight ends before the stage returns or raises), none after.
"""

from __future__ import annotations

import functools
import importlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pymysql

from brody_assets.migration.registry import TableEntry

from . import ledger
from .blobs import TransformResult
from .context import EngineContext, Invariant
from .db import Db
from .eventload import EventLoader, session_event_text
from .parallel import TransformPool
from .scope import Batch, Scope
from .writers import Writers


def load_transform(e: TableEntry) -> Callable[..., Any]:
    module, _, name = (e.transform or "").partition(":")
    return getattr(importlib.import_module(module), name)


def _blob_column(e: TableEntry) -> str:
    return next(c for c in e.columns if c != "sessid")


def _ids(db, sql: str, args: tuple = ()) -> list[int]:
    return [int(r[0]) for r in db.query(sql, args)]


def legacy_ids(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> list[int]:
    """Legacy session ids of the batch (read from the legacy server on both paths)."""
    src = ctx.names.render(e.source, e, ctx.options).replace(
        ctx.names.legacy(e.legacy), ctx.names.legacy(e.legacy, staged=False))
    return _ids(ctx.legacy, f"SELECT l.sessid FROM {src} WHERE {batch.predicate('l.sessid', scope)} ORDER BY 1")


def _range_ids(ctx: EngineContext, table: str, batch: Batch, scope: Scope) -> set[int]:
    return set(_ids(ctx.db, f"SELECT DISTINCT s.sessid FROM {table} s WHERE "
                            f"{batch.predicate('s.sessid', scope, window=False)}"))


def _ledgered(ctx: EngineContext, e: TableEntry, batch: Batch, scope: Scope) -> set[int]:
    return set(_ids(ctx.db, f"SELECT q.key_int FROM {ctx.names.ledger} q WHERE q.table_name = %s AND "
                            f"{batch.predicate('q.key_int', scope, window=False)}", (e.name,)))


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def transform_pool(ctx: EngineContext) -> TransformPool:
    """The run's transform pool (created on first use, closed with the context)."""
    if ctx.transform_pool is None:
        ctx.transform_pool = TransformPool(ctx.options.transform_workers, ctx.options.pool_min_rows)
    return ctx.transform_pool


def batch_writers(ctx: EngineContext) -> Writers:
    """The run's batch writers (``MigrationOptions.load_connections``; closed with the context)."""
    if ctx.writers is None:
        def connect() -> Db:
            db = Db(ctx.settings.database, max_retries=ctx.options.max_retries, label="pipeline-writer",
                    local_infile=True)
            db.use(ctx.names.ledger_schema)
            return db

        ctx.writers = Writers(ctx.options.load_connections, connect, ctx.db)
    return ctx.writers


def _merge_results(parts: list[TransformResult]) -> TransformResult:
    merged = TransformResult()
    for part in parts:
        merged.good += part.good
        merged.rejected += part.rejected
    return merged


def _label(e: TableEntry, part: list[int]) -> str:
    return f"{e.name} sessions {part[0]}..{part[-1]} ({len(part)})"


def _rejection_rows(ctx: EngineContext, e: TableEntry, stage: str, rejected: Iterable) -> list[tuple]:
    return [(e.name, {"sessid": int(r[0])}, int(r[0]), stage, r[1], r[2], 21, ctx.run_id) for r in rejected]


def shadow_blob_batch(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> int:
    """Transform one batch of legacy blobs into the shadow; returns rows inserted."""
    transform = load_transform(e)
    column = _blob_column(e)
    shadow, new = ctx.names.shadow(e), ctx.names.new(e)
    ids = legacy_ids(ctx, e, scope, batch)
    retry = _ledgered(ctx, e, batch, scope) - _range_ids(ctx, new, batch, scope)
    refreshed = 0
    if retry:  # re-transform ledgered rows: the legacy blob may have been fixed
        refreshed = ctx.db.transaction(lambda cur: cur.execute(
            f"DELETE FROM {shadow} WHERE sessid IN ({', '.join(map(str, sorted(retry)))})"))
    todo = sorted(set(ids) - _range_ids(ctx, shadow, batch, scope))
    inserted = -refreshed
    pool = transform_pool(ctx)
    src = ctx.names.legacy(e.legacy, staged=False)
    sql = f"INSERT INTO {shadow} (sessid, `{column}`) VALUES (%s, %s)"

    writers = batch_writers(ctx)

    def write(pending) -> int:
        result = pending.result()  # raises TransformWorkerError: nothing of the batch is written
        good = [(int(r["sessid"]), r[column]) for r in result.good]
        bad = _rejection_rows(ctx, e, "shadow", result.rejected)
        return writers.submit(lambda db: _write(ctx, e, sql, good, bad, "shadow", db=db))

    running: deque = deque()  # at most two batches: one transforming while the next is fetched
    try:
        for part in _chunks(todo, ctx.options.blob_batch_rows):
            with ctx.legacy.conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(f"SELECT sessid, `{column}` FROM {src} WHERE sessid IN ({', '.join(map(str, part))})")
                rows = list(cur.fetchall())
            running.append(pool.submit(transform, rows, _merge_results, label=_label(e, part)))
            if len(running) > 1:
                inserted += write(running.popleft())
        while running:
            inserted += write(running.popleft())
    except BaseException:
        writers.drain(raise_errors=False)  # the batches before a failure are written, none after
        raise
    return inserted + writers.drain()


def _write(ctx: EngineContext, e: TableEntry, sql: str, good: list[tuple], bad: list[tuple], stage: str,
           key_of: Callable[[tuple], int] = lambda row: row[0],
           insert: Callable[[Any, str, list[tuple]], Any] | None = None, db: Db | None = None) -> int:
    """Insert ``good`` and ledger ``bad`` in one transaction; on an insert error, split by session.

    ``insert(cursor, sql, rows)`` writes the rows and returns how many it wrote (default:
    ``cursor.executemany``, one row per item). ``db``: the connection (default: the run's).
    """
    db = db or ctx.db

    def work(cur) -> int:
        written = 0
        if good:
            if insert is None:
                cur.executemany(sql, good)
                written = len(good)
            else:
                written = insert(cur, sql, good)
        ledger.upsert_rows(cur, ctx.names, bad)
        return written

    try:
        return db.transaction(work)
    except pymysql.MySQLError as error:
        sessions = sorted({key_of(row) for row in good})
        if len(sessions) <= 1:
            message = f"{stage} stage: server error {error.args[0] if error.args else ''}: {error.args[-1]}"
            errors = [(e.name, {"sessid": s}, s, stage, "insert_error", message, None, ctx.run_id) for s in sessions]
            return _write(ctx, e, sql, [], bad + errors, stage, key_of, insert, db)
        half = set(sessions[: len(sessions) // 2])
        first = [r for r in good if key_of(r) in half]
        second = [r for r in good if key_of(r) not in half]
        return (_write(ctx, e, sql, first, bad, stage, key_of, insert, db)
                + _write(ctx, e, sql, second, [], stage, key_of, insert, db))


def count_blob_batch(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> Invariant:
    """Ledger cleanup and invariant of one batch, from key sets."""
    ids = set(legacy_ids(ctx, e, scope, batch))
    migrated = _range_ids(ctx, ctx.names.new(e), batch, scope)
    ledgered = _ledgered(ctx, e, batch, scope)
    stale = (ledgered & migrated) | (ledgered - ids)
    if stale:
        ctx.db.execute(f"DELETE FROM {ctx.names.ledger} WHERE table_name = %s AND key_int IN "
                       f"({', '.join(map(str, sorted(stale)))})", (e.name,))
    ledgered -= stale
    return Invariant(len(ids), len(ids & migrated), len(ids & ledgered))


# --- behavior events (computed from the new parsed_events) ------------------------------------


def _sessions(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> list[int]:
    from brody_assets.migration.registry import entry as entry_named

    parsed = ctx.names.new(entry_named("acquisition.parsed_events"))
    return _ids(ctx.db, f"SELECT l.sessid FROM {parsed} l WHERE {batch.predicate('l.sessid', scope)} ORDER BY 1")


def expand_sessions(transform: str, rows: Sequence[tuple[Any, bytes]]) -> list[tuple]:
    """Behavior events of fetched ``(sessid, peh)`` rows, one outcome per row, in row order.

    Each outcome is ``(sessid, lines, row count)`` with the rows as ``LOAD DATA`` lines
    (:func:`.eventload.session_event_text`), or ``(sessid, None, (reason, detail))``. Runs in
    the transform workers (module level: pickled by name).
    """
    module, _, name = transform.partition(":")
    expand = getattr(importlib.import_module(module), name)
    out: list[tuple] = []
    for sessid, peh in rows:
        sessid = int(sessid)
        try:
            text, info = session_event_text(expand, sessid, peh)
        except Exception as error:  # noqa: BLE001 - any failure quarantines the session
            text, info = None, ("event_error", f"{type(error).__name__}: {error}")
        out.append((sessid, text, info))
    return out


def _concat(parts: list[list]) -> list:
    return [item for part in parts for item in part]


def events_batch(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> tuple[int, Invariant]:
    """Compute and insert the events of the batch's sessions that have none yet."""
    from brody_assets.migration.registry import entry as entry_named

    parsed = ctx.names.new(entry_named("acquisition.parsed_events"))
    sessions = _sessions(ctx, e, scope, batch)
    done = _range_ids(ctx, ctx.names.new(e), batch, scope)
    inserted = 0
    table = ctx.names.new(e)
    pool = transform_pool(ctx)
    expand = functools.partial(expand_sessions, e.transform)
    if ctx.event_loader is None:
        ctx.event_loader = EventLoader(parent=parsed)

    writers = batch_writers(ctx)

    def write(pending) -> int:
        good: list[tuple] = []
        bad: list[tuple] = []
        for sessid, text, info in pending.result():  # raises before anything is written
            if text is None:
                reason, detail = info
                bad.append((e.name, {"sessid": sessid}, sessid, "new", reason, detail, 13, ctx.run_id))
            else:
                good.append((sessid, text, info))
        return writers.submit(lambda db: _write(ctx, e, table, good, bad, "new", insert=ctx.event_loader, db=db))

    running: deque = deque()
    try:
        for part in _chunks([s for s in sessions if s not in done], ctx.options.blob_batch_rows):
            rows = ctx.db.query(f"SELECT sessid, peh FROM {parsed} WHERE sessid IN ({', '.join(map(str, part))})")
            running.append(pool.submit(expand, list(rows), _concat, label=_label(e, part)))
            if len(running) > 1:
                inserted += write(running.popleft())
        while running:
            inserted += write(running.popleft())
    except BaseException:
        writers.drain(raise_errors=False)  # no write outlives the stage (and its table lock)
        raise
    inserted += writers.drain()
    ids = set(sessions)
    with_events = _range_ids(ctx, ctx.names.new(e), batch, scope)
    ledgered = _ledgered(ctx, e, batch, scope)
    stale = (ledgered & with_events) | (ledgered - ids)
    if stale:
        ctx.db.execute(f"DELETE FROM {ctx.names.ledger} WHERE table_name = %s AND key_int IN "
                       f"({', '.join(map(str, sorted(stale)))})", (e.name,))
    ledgered -= stale
    migrated = len(ids & with_events)
    quarantined = len(ids & ledgered)
    return inserted, Invariant(len(ids), migrated, quarantined, len(ids) - migrated - quarantined)
