"""The engine's run context (connections, names, options) and its result types."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from brody_assets.config import Settings
from brody_assets.migration.registry import MigrationOptions, TableEntry, entries

from . import ledger
from .db import PERMISSIVE_MODE, Db
from .names import Names


@dataclass
class EngineContext:
    """Everything one migration run needs: settings, options, both connections, names, run id."""

    settings: Settings
    options: MigrationOptions
    names: Names
    db: Db  # pipeline account on the new server (strict sql_mode)
    legacy: Db  # read-only account on the legacy server
    run_id: str
    streamed: bool
    staged_lookups: set[str] = field(default_factory=set)
    transform_pool: Any = None  # the Python transforms' process pool (pystage), closed with the context
    event_loader: Any = None  # behavior events' bulk writer (eventload.EventLoader), made on first use
    writers: Any = None  # the Python-transform tables' write connections (writers.Writers), closed with it
    windows: dict = field(default_factory=dict)  # the shadow stages' window batches (scope.plan)
    _new_columns: dict[str, list[str]] = field(default_factory=dict)
    _new_pk: dict[str, list[str]] = field(default_factory=dict)
    _shadow_pk: dict[str, list[str]] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "stream" if self.streamed else "server"

    def render(self, sql: str, e: TableEntry) -> str:
        return self.names.render(sql, e, self.options)

    def lock_name(self, e: TableEntry) -> str:
        return f"brody_migrate:{self.names.new_prefix}:{e.name}"

    def _columns(self, e: TableEntry, layer: str) -> list[tuple[str, str]]:
        prefix = self.names.new_prefix if layer == "new" else self.names.shadow_prefix
        from brody_assets.migration.schemas.naming import TABLE_NAMES

        return [(r[0], r[1]) for r in self.db.query(
            "SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (f"{prefix}{e.family}", TABLE_NAMES[(layer, e.family, e.new_class)]),
        )]

    def new_columns(self, e: TableEntry) -> list[str]:
        """Columns of the new table (read from the server once per run)."""
        if e.name not in self._new_columns:
            cols = self._columns(e, "new")
            if not cols:
                raise MissingTablesError(
                    f"{self.names.new(e)} does not exist: declare the tables first "
                    "(brody_assets.migration.engine.declare_tables)"
                )
            self._new_columns[e.name] = [c for c, _ in cols]
            self._new_pk[e.name] = [c for c, k in cols if k == "PRI"]
        return self._new_columns[e.name]

    def new_pk(self, e: TableEntry) -> list[str]:
        self.new_columns(e)
        return self._new_pk[e.name]

    def shadow_pk(self, e: TableEntry) -> list[str]:
        """Primary-key columns of the shadow table (read from the server once per run)."""
        if e.name not in self._shadow_pk:
            self._shadow_pk[e.name] = [c for c, k in self._columns(e, "shadow") if k == "PRI"]
        return self._shadow_pk[e.name]

    def close(self) -> None:
        if self.transform_pool is not None:
            pool, self.transform_pool = self.transform_pool, None
            pool.close()
        if self.writers is not None:
            writers, self.writers = self.writers, None
            writers.close()
        self.db.close()
        self.legacy.close()


class MissingTablesError(RuntimeError):
    """The new/shadow tables have not been declared on the server."""


@dataclass
class Invariant:
    """legacy rows in scope = migrated + quarantined (+ ``no_events`` for behavior events)."""

    legacy_rows: int = 0
    migrated: int = 0
    quarantined: int = 0
    no_events: int = 0

    @property
    def unaccounted(self) -> int:
        return self.legacy_rows - self.migrated - self.quarantined - self.no_events

    @property
    def holds(self) -> bool:
        return self.unaccounted == 0

    def add(self, other: Invariant) -> None:
        self.legacy_rows += other.legacy_rows
        self.migrated += other.migrated
        self.quarantined += other.quarantined
        self.no_events += other.no_events


@dataclass
class StageResult:
    """What one stage (``shadow`` or ``new``) did for one table."""

    table: str
    stage: str
    mode: str
    scope: str = ""  # compact, for the run_log table
    scope_words: str = ""  # the same for a person (Scope.words)
    batches: int = 0
    in_scope: int = 0
    inserted: int = 0
    already_present: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    invariant: Invariant | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.invariant is not None:
            out["invariant"] = {**asdict(self.invariant), "unaccounted": self.invariant.unaccounted,
                                "holds": self.invariant.holds}
        return out


@dataclass
class TableResult:
    """Both stages of one table."""

    table: str
    shadow: StageResult
    new: StageResult

    @property
    def invariant(self) -> Invariant | None:
        return self.new.invariant


def same_server(settings: Settings) -> bool:
    return (settings.legacy.host, settings.legacy.port) == (settings.database.host, settings.database.port)


def open_context(settings: Settings, options: MigrationOptions | None = None,
                 run_id: str | None = None) -> EngineContext:
    """Connect both accounts and create the ledger schema; the caller closes the context."""
    from brody_assets.scratch import sweep

    sweep()  # load files left by a killed run
    options = options or MigrationOptions()
    streamed = options.mode == "stream" or (options.mode == "auto" and not same_server(settings))
    names = Names(settings.legacy_schema_prefix, settings.new_prefix, settings.shadow_prefix, streamed)
    # LOAD DATA LOCAL (behavior events) only on the pipeline's own server, never the legacy one
    db = Db(settings.database, max_retries=options.max_retries, label="pipeline", local_infile=True)
    legacy = Db(settings.legacy, sql_mode=PERMISSIVE_MODE, max_retries=options.max_retries, label="legacy")
    ledger.ensure(db, names)
    db.use(names.ledger_schema)
    run_id = run_id or f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    return EngineContext(settings, options, names, db, legacy, run_id, streamed)


__all__ = ["EngineContext", "Invariant", "StageResult", "TableResult", "entries", "open_context"]
