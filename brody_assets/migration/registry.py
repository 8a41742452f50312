"""The declarative registry of migrated tables: one :class:`TableEntry` per table (spec §2).

An entry says, for one new-layer table, everything the copy engine needs and nothing about *how*
the engine copies:

* where the rows come from (``legacy``: ``"ratinfo.mass"``; ``source``: the SQL relation over it,
  alias ``l``) and which legacy columns form the key (``legacy_key``);
* the SQL expression of every shadow column over the legacy row (``columns``), with the lookup
  joins those expressions need (``joins``, e.g. the contact lookup by initials);
* the reject rules, in order (:class:`Reject`: reason code, SQL predicate, SQL detail, spec
  problem): the first rule that matches is the reason written to the quarantine ledger;
* how shadow rows match new rows (``match``: ``(shadow column, new column, legacy expression)``
  triples identifying a legacy row in both layers);
* the new table's foreign-key parents (:class:`Parent`), used by the new-table stage and by the
  Dagster asset graph;
* the window: ``date_column`` (legacy column for the "last N days" window, spec §3.5), or
  ``None`` for the small tables that are copied in full every run, or ``sessid`` chunking;
* ``kind``: ``"sql"`` (set-based, server-side), ``"python"`` (a Python transform of blobs, named
  by ``transform``), ``"computed"`` (behavior events).

SQL placeholders, filled by the engine: ``{L:ratinfo.mass}`` a legacy table (or its staging copy
on the streamed path), ``{S}``/``{N}`` this entry's shadow/new table, ``{N:subject.rats}`` another
entry's new table, ``{S:...}`` another entry's shadow table. Lab decisions the old code
hard-coded are :class:`MigrationOptions`, with the old values as defaults.

Adding a table is one entry in ``brody_assets/migration/entries/<family>.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Rats resolution fallbacks (spec §2.11 step 2-3) and the extra rat_history ones (§2.12).
RATS_NETID_ALIASES: Mapping[str, str] = MappingProxyType(
    {"pbibawi": "pbibawi", "abondy": "abondy", "velliott": "velliott", "Peter Bibawi": "pbibawi"}
)
RAT_HISTORY_EXTRA_ALIASES: Mapping[str, str] = MappingProxyType(
    {"lb6": "lb6", "jtb3": "jtb3", "Nick Horbelt": "nhorbelt", "Sarah Jo": "venditto"}
)

# Reason codes written to the ledger (the ``reason`` column).
REASONS: Mapping[str, str] = MappingProxyType(
    {
        "excluded_by_config": "the row is excluded by configuration (e.g. stale duplicate contacts)",
        "missing_value": "a value the new table requires is NULL in legacy",
        "zero_date": "a date is 0000-00-00 or partial (day or month 00)",
        "unresolved_contact": "the experimenter / initials match no usable contact",
        "ambiguous_contact": "the experimenter / initials match several contacts",
        "unparsable_rig": "no rig number can be derived (hostname / rig_id not numeric)",
        "too_wide": "a value does not fit its new column (text too long, number out of range)",
        "missing_parent": "a foreign-key parent is absent from the new tables",
        "duplicate_new_key": "another legacy row already holds (or wins) the same new key",
        "blob_missing": "the legacy blob is NULL or its row is absent",
        "blob_undecodable": "the legacy mYm blob cannot be decoded",
        "blob_unexpected_shape": "the blob decodes, but not to the structure the table expects",
        "events_odd_count": "a trial has an odd number of event times (in/out pairing would shift)",
        "event_type_too_long": "an event type is longer than varchar(16)",
        "event_name_too_long": "an event name is longer than varchar(32)",
        "event_time_invalid": "an event time is not a finite number",
        "event_error": "behavior events of the session cannot be computed",
        "insert_error": "the server refused the row (message in detail)",
    }
)


@dataclass(frozen=True)
class Reject:
    """A reject rule: rows where ``predicate`` is true go to the ledger with ``reason``."""

    reason: str
    predicate: str
    detail: str
    problem: int | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason code {self.reason!r}")


@dataclass(frozen=True)
class Parent:
    """A foreign key of the new table: ``columns`` maps child (new) columns to parent columns.

    ``legacy_id`` is SQL giving the parent's legacy key from the child's values (alias ``s``),
    used to say in the ledger whether the parent itself is quarantined.
    """

    entry: str
    columns: tuple[tuple[str, str], ...]
    legacy_id: str


@dataclass(frozen=True)
class TableEntry:
    """One migrated table (see the module docstring for the fields)."""

    name: str  # "<family>.<new table>", e.g. "action.mass"
    new_class: str  # DataJoint class path, e.g. "Mass" or "Rats.Contact"
    legacy: str  # legacy table whose rows this entry accounts for, e.g. "ratinfo.mass"
    legacy_key: tuple[str, ...]
    columns: Mapping[str, str] = field(default_factory=dict)
    match: tuple[tuple[str, str, str], ...] = ()
    source: str = ""
    joins: tuple[str, ...] = ()
    rejects: tuple[Reject, ...] = ()
    parents: tuple[Parent, ...] = ()
    date_column: str | None = None
    sessid_chunks: bool = False
    kind: str = "sql"
    transform: str | None = None
    master: str | None = None
    shadow_source: str = "{S} s"
    shadow_id: str = ""  # integer expression over the shadow source: the legacy (master) id
    shadow_key_json: str = ""  # JSON_OBJECT over the shadow source: the ledger key
    natural_key: bool = False  # new primary key differs from the legacy key: duplicates possible
    lookups: tuple[str, ...] = ()  # legacy tables read as lookups (staged in full when streaming)
    description: str = ""

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def id_column(self) -> str:
        """The integer legacy column that orders rows and bounds batches (``l.<id>``)."""
        return self.legacy_key[0]

    @property
    def key_json(self) -> str:
        """SQL for the ledger key of a legacy row (alias ``l``): canonical JSON text."""
        return "JSON_OBJECT(" + ", ".join(f"'{c}', l.`{c}`" for c in self.legacy_key) + ")"

    @property
    def depends(self) -> tuple[str, ...]:
        """Entries that must be migrated first (FK parents, and the master of a part)."""
        names = [p.entry for p in self.parents]
        if self.master and self.master not in names:
            names.append(self.master)
        return tuple(names)


@dataclass(frozen=True, eq=False)
class MigrationOptions:
    """Run options; lab decisions hard-coded upstream are here with their old values as defaults.

    ``days_back``: the incremental window (the lab ran 3). ``full_backfill``: every legacy row.
    ``today``: the window's reference date (default: the real today). ``mode``: ``"auto"``
    (server-side when legacy and new share host:port, else streamed), ``"server"`` or
    ``"stream"``. ``batch_rows``: rows per transaction for SQL tables; ``blob_batch_rows`` for
    the Python-transform tables; ``sessid_chunk``: session ids per chunk. ``transform_workers``:
    processes for the Python transforms (0 = one per CPU; 1 = in the calling process).
    ``pool_min_rows``: batches of fewer rows are transformed in the calling process (forking the
    pool and shipping the rows costs more than an incremental run's few sessions).
    ``load_connections``: connections that write the Python-transform tables' batches at once
    (the server writes each on its own thread; 1 = the run's one connection).
    """

    excluded_contact_ids: tuple[int, ...] = (53, 59, 97)
    duplicate_key_winner: str = "lowest_legacy_id"
    rats_netid_aliases: Mapping[str, str] = field(default_factory=lambda: dict(RATS_NETID_ALIASES))
    rat_history_extra_aliases: Mapping[str, str] = field(
        default_factory=lambda: dict(RAT_HISTORY_EXTRA_ALIASES)
    )
    days_back: int = 3
    full_backfill: bool = False
    today: dt.date | None = None
    mode: str = "auto"
    batch_rows: int = 30_000
    blob_batch_rows: int = 500
    transform_workers: int = 0
    pool_min_rows: int = 256
    load_connections: int = 2
    sessid_chunk: int = 1000
    lock_timeout_s: int = 600
    max_retries: int = 5

    def __post_init__(self) -> None:
        if self.duplicate_key_winner not in ("lowest_legacy_id", "highest_legacy_id"):
            raise ValueError("duplicate_key_winner must be 'lowest_legacy_id' or 'highest_legacy_id'")
        if self.mode not in ("auto", "server", "stream"):
            raise ValueError("mode must be 'auto', 'server' or 'stream'")
        if self.days_back < 0 or self.batch_rows < 1 or self.blob_batch_rows < 1 or self.sessid_chunk < 1:
            raise ValueError("days_back must be >= 0 and batch sizes >= 1")
        if self.transform_workers < 0:
            raise ValueError("transform_workers must be >= 0 (0: one per CPU)")
        if self.load_connections < 1 or self.pool_min_rows < 1:
            raise ValueError("load_connections and pool_min_rows must be >= 1")

    @property
    def since(self) -> dt.date:
        """First day of the incremental window: today - days_back."""
        return (self.today or dt.date.today()) - dt.timedelta(days=self.days_back)


def _registry() -> tuple[TableEntry, ...]:
    from brody_assets.migration.entries import ENTRIES

    return ENTRIES


def entries() -> tuple[TableEntry, ...]:
    """All entries, in dependency order (parents first)."""
    return _registry()


def entry(name: str) -> TableEntry:
    """The entry called ``name`` (``"action.mass"``)."""
    for candidate in _registry():
        if candidate.name == name:
            return candidate
    raise KeyError(f"no migrated table {name!r}; known: {[e.name for e in _registry()]}")


def select(names: list[str] | tuple[str, ...] | None = None) -> tuple[TableEntry, ...]:
    """Entries named in ``names`` (all when None), in dependency order."""
    if names is None:
        return _registry()
    wanted = set(names)
    unknown = wanted - {e.name for e in _registry()}
    if unknown:
        raise KeyError(f"unknown migrated tables: {sorted(unknown)}")
    return tuple(e for e in _registry() if e.name in wanted)
