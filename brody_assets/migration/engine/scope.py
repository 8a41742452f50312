"""Which legacy rows a run looks at, split into bounded batches.

A full backfill (or a table without a window, or a first run) covers every legacy row. An
incremental run covers the union of three disjoint parts:

* ``new``: ids above the high-water mark already handled (a primary-key range scan);
* ``window``: ids at or below it whose date column is within the last ``days_back`` days (for
  the session-id tables: ids within the min..max sessid of the sessions started in the window,
  max included, spec §3.8 #11 fixed);
* ``retry``: ids currently in the quarantine ledger that are in neither of the above.

Each part is cut into batches of at most ``batch_rows`` rows (``batch.keys`` lists the ids of a
``retry`` batch). Batches are described as SQL predicates over the legacy alias ``l``.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

from brody_assets.migration.registry import MigrationOptions, TableEntry

from . import ledger
from .db import Db
from .names import Names


@dataclass(frozen=True)
class Batch:
    part: str  # "full" | "new" | "window" | "retry"
    lo: int
    hi: int
    keys: tuple[int, ...] | None = None

    def predicate(self, id_sql: str, scope: Scope, window: bool = True) -> str:
        """SQL selecting this batch's rows, given the SQL of the id column (``window=False``:
        the id range only, for aliases other than the legacy ``l``)."""
        pred = f"{id_sql} BETWEEN {int(self.lo)} AND {int(self.hi)}"
        if self.keys is not None:
            pred += f" AND {id_sql} IN ({', '.join(str(int(k)) for k in self.keys)})"
        if window and self.part == "window" and scope.window_sql:
            pred += f" AND {scope.window_sql}"
        return pred


@dataclass
class Scope:
    """The planned scope of one table in one run."""

    full: bool
    high: int | None  # high-water mark before this run
    upper: int | None  # highest legacy id planned in this run
    window_sql: str = ""  # the extra predicate of "window" batches (alias l)
    batches: list[Batch] = field(default_factory=list)
    ledgered: tuple[int, ...] = ()  # the table's ledgered legacy ids when planned, sorted
    why_full: str = ""  # why every row is in scope: "backfill" | "no window" | "first run"
    window_text: str = ""  # the window in words, e.g. "rows dated on or after 2026-12-01 (...)"

    def ledgered_in(self, batch: Batch) -> bool:
        """Whether a row ledgered before this stage may lie in ``batch`` (its id range and keys)."""
        i = bisect.bisect_left(self.ledgered, batch.lo)
        inside = self.ledgered[i : bisect.bisect_right(self.ledgered, batch.hi, lo=i)]
        return bool(inside) and (batch.keys is None or not set(inside).isdisjoint(batch.keys))

    def describe(self) -> str:
        parts: dict[str, int] = {}
        for b in self.batches:
            parts[b.part] = parts.get(b.part, 0) + 1
        what = "full" if self.full else f"incremental (ids > {self.high}, window: {self.window_sql or '-'})"
        return f"{what}; batches {parts}"

    def words(self) -> str:
        """The scope for a person: which legacy rows this run looked at, and why."""
        retried = sum(len(b.keys or ()) for b in self.batches if b.part == "retry")
        retry = (f"{retried:,} quarantined row(s) retried from the ledger" if retried
                 else "no quarantined rows to retry")
        if self.upper is None:
            return f"the legacy table is empty; {retry}"
        if self.full:
            why = {
                "backfill": "full backfill (full_backfill = true): every legacy row",
                "no window": "every legacy row (this table has no date window: it is copied in full each run)",
                "first run": "first run: every legacy row",
            }.get(self.why_full, "every legacy row")
            upto = f" up to id {self.upper}" if self.upper is not None else ""
            return f"{why}{upto}; {retry}"
        parts = []
        if self.upper is not None and self.high is not None and self.upper > self.high:
            parts.append(f"new legacy rows (ids {self.high + 1} to {self.upper})")
        else:
            parts.append(f"no new legacy rows (none above id {self.high})")
        parts.append(self.window_text or "no date window")
        return f"incremental: {'; '.join(parts)}; {retry}"


def _walk(db: Db, table_sql: str, id_col: str, pred: str, size: int, part: str) -> list[Batch]:
    """Cut the rows matching ``pred`` into id ranges of at most ``size`` rows (index walk)."""
    batches: list[Batch] = []
    last: int | None = None
    while True:
        cond = pred if last is None else f"({pred}) AND l.`{id_col}` > {last}"
        lo, hi, n = db.query(
            f"SELECT MIN(x.id), MAX(x.id), COUNT(*) FROM (SELECT l.`{id_col}` AS id FROM {table_sql} AS l "
            f"WHERE {cond} ORDER BY l.`{id_col}` LIMIT {int(size)}) AS x"
        )[0]
        if not n:
            return batches
        batches.append(Batch(part, int(lo), int(hi)))
        if n < size:
            return batches
        last = int(hi)


def _chunks(lo: int, hi: int, size: int, part: str) -> list[Batch]:
    """Inclusive id chunks covering lo..hi (hi included: no off-by-one, one id works)."""
    return [Batch(part, start, min(start + size - 1, hi)) for start in range(lo, hi + 1, size)]


def plan(db_legacy: Db, db: Db, names: Names, e: TableEntry, options: MigrationOptions, stage: str,
         windows: dict | None = None) -> Scope:
    """Plan the scope of entry ``e`` for ``stage`` ("shadow" or "new").

    The shadow stage fixes the id bound (``pending_high`` in the watermark table); the new-table
    stage of the same run reuses it, so both stages see the same rows even while legacy grows.
    ``windows`` (one dict per run) keeps the shadow stage's window batches for the new stage of
    the same bounds: finding them scans the legacy table's unindexed date column, once is enough.
    Scope queries read the real legacy tables (also on the streamed path).
    """
    table = names.legacy(e.legacy, staged=False)
    id_col = e.id_column
    high, pending = ledger.watermark(db, names, e.name)
    upper = pending if stage == "new" else None
    if upper is None:
        (upper,) = db_legacy.query(f"SELECT MAX(`{id_col}`) FROM {table}")[0]
    if stage == "shadow":
        ledger.set_pending(db, names, e.name, upper)
    windowed = e.date_column is not None or e.sessid_chunks
    full = options.full_backfill or not windowed or high is None
    size = options.blob_batch_rows if e.kind != "sql" else options.batch_rows
    retry_ids = ledger.ledger_ids(db, names, e.name)
    scope = Scope(full=full, high=high, upper=upper, ledgered=tuple(sorted(retry_ids)))
    if full:
        scope.why_full = ("backfill" if options.full_backfill else "no window" if not windowed
                          else "first run")
    if upper is None:
        scope.batches = _key_batches(retry_ids, size, "retry")
        return scope
    upper = int(upper)
    step = options.sessid_chunk if e.sessid_chunks else size
    if full:
        if e.sessid_chunks:
            (lo,) = db_legacy.query(f"SELECT MIN(`{id_col}`) FROM {table}")[0]
            scope.batches = _chunks(int(lo), upper, step, "full")
        else:
            scope.batches = _walk(db_legacy, table, id_col, f"l.`{id_col}` <= {upper}", size, "full")
        scope.batches += _key_batches([k for k in retry_ids if k > upper], size, "retry")
        return scope
    high = int(high)
    days = f"days_back = {options.days_back}"
    if e.sessid_chunks:
        scope.window_sql = _sessid_window(db_legacy, names, options)
        scope.window_text = (
            f"sessions started on or after {options.since.isoformat()} ({days}): none"
            if scope.window_sql == "FALSE"
            else f"sessions started on or after {options.since.isoformat()} ({days}; session ids "
            f"{scope.window_sql.split('BETWEEN ')[1].replace(' AND ', ' to ')})"
        )
    else:
        scope.window_sql = f"l.`{e.date_column}` >= '{options.since.isoformat()}'"
        scope.window_text = f"rows dated on or after {options.since.isoformat()} (`{e.date_column}`, {days})"
    if upper > high:
        new_pred = f"l.`{id_col}` > {high} AND l.`{id_col}` <= {upper}"
        scope.batches += (_chunks(high + 1, upper, step, "new") if e.sessid_chunks
                          else _walk(db_legacy, table, id_col, new_pred, size, "new"))
    if scope.window_sql != "FALSE":
        window_pred = f"l.`{id_col}` <= {high} AND {scope.window_sql}"
        key = (e.name, window_pred, size)
        found = windows.get(key) if windows is not None and stage == "new" else None
        if found is None:
            found = _walk(db_legacy, table, id_col, window_pred, size, "window")
            if windows is not None and stage == "shadow":
                windows[key] = found
        scope.batches += found
    retry = [k for k in retry_ids if k <= high or k > upper]
    if retry and scope.window_sql != "FALSE":
        in_window: set[int] = set()
        for i in range(0, len(retry), 5000):
            ids = ", ".join(str(k) for k in retry[i : i + 5000])
            in_window |= {int(r[0]) for r in db_legacy.query(
                f"SELECT l.`{id_col}` FROM {table} AS l WHERE l.`{id_col}` IN ({ids}) "
                f"AND l.`{id_col}` <= {high} AND {scope.window_sql}")}
        retry = [k for k in retry if k not in in_window]
    scope.batches += _key_batches(retry, size, "retry")
    return scope


def _key_batches(keys: list[int], size: int, part: str) -> list[Batch]:
    keys = sorted(set(keys))
    return [Batch(part, chunk[0], chunk[-1], tuple(chunk))
            for chunk in (keys[i : i + size] for i in range(0, len(keys), size))]


def _sessid_window(db_legacy: Db, names: Names, options: MigrationOptions) -> str:
    """``sessid BETWEEN m AND M`` over the sessions started in the window (legacy sess_started)."""
    table = names.legacy("bdata.sess_started", staged=False)
    lo, hi = db_legacy.query(
        f"SELECT MIN(sessid), MAX(sessid) FROM {table} WHERE sessiondate >= %s", (options.since,)
    )[0]
    if lo is None:
        return "FALSE"
    return f"l.`sessid` BETWEEN {int(lo)} AND {int(hi)}"


def today(options: MigrationOptions) -> dt.date:
    return options.today or dt.date.today()
