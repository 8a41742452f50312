"""What a shadow or migrated asset's materialization says, and what each number means.

Two kinds of figures sit side by side on an asset page, named so they cannot be confused:

* ``table: …`` / ``dagster/row_count``: the table as it stands after the run (every row in it);
* ``run: …``: what this run did, over the legacy rows it looked at (its *scope*: new legacy rows,
  the last ``days_back`` days, quarantined rows retried; or every row in a full backfill);
* ``ledger: …``: the quarantine ledger now (rows of this table still held, whichever run put them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import MetadataValue

from brody_assets.conventions import column_schema
from brody_assets.migration.registry import REASONS

if TYPE_CHECKING:  # the engine is imported when a run uses it, not when the Definitions load
    from brody_assets.migration.engine.context import Invariant, StageResult
    from brody_assets.migration.engine.facts import TableFacts

TABLE_ROWS = "table: total rows"
LEDGER_OPEN = "ledger: quarantined (all time, still open)"
SCOPE = "run: scope"
INSERTED = "run: rows inserted"
QUARANTINED_NOW = "run: quarantined this run"
BY_REASON = "run: quarantined this run, by reason"
BATCHES = "run: batches"
MODE = "run: mode"
SECONDS = "run: seconds"
SKIPPED = "run: skipped"
IN_SCOPE = "run: legacy rows in scope"
MIGRATED = "run: migrated (in scope)"
QUARANTINED_IN_SCOPE = "run: quarantined (in scope)"
NO_EVENTS = "run: sessions without events (in scope)"
UNACCOUNTED = "run: unaccounted (lost)"
ACCOUNTING = "run: accounting"
ALREADY = "run: already present"
GLOSSARY = "What these numbers mean"

_COMMON = {
    "dagster/row_count": "every row in the table now (the same as `table: total rows`)",
    TABLE_ROWS: "every row in the table after this run, whatever run wrote it",
    LEDGER_OPEN: "legacy rows of this table held in the quarantine ledger now, from any run; they are "
    "retried every run and leave the ledger once fixed in legacy",
    SCOPE: "which legacy rows this run looked at: new legacy rows (above the last run's highest id), "
    "rows dated in the last `days_back` days, and quarantined rows retried; or every row in a full backfill",
    INSERTED: "rows this run wrote to the table (0 when nothing in scope was new or changed)",
    QUARANTINED_NOW: "legacy rows this stage of this run sent to (or kept in) the quarantine ledger",
    BY_REASON: "those rows by reason code, with its meaning and sample legacy keys",
    BATCHES: "transactions the run used (each all-or-nothing)",
    MODE: "`server`: INSERT … SELECT on the server; `stream`: legacy rows streamed from another server",
    SECONDS: "time this stage took",
    "dagster/table_name": "the table on the server, `<schema>.<table>`",
    "dagster/column_schema": "the table's columns (DataJoint heading: type, comment, primary key)",
}
_MIGRATED = {
    IN_SCOPE: "legacy rows this run accounted for (its scope)",
    MIGRATED: "of those, rows present in the new table",
    QUARANTINED_IN_SCOPE: "of those, rows held in the quarantine ledger with a reason",
    NO_EVENTS: "of those, sessions whose parsed events hold no event (nothing to write, nothing lost)",
    UNACCOUNTED: "of those, rows neither migrated nor quarantined: data lost (must be 0; the blocking "
    "check `legacy_rows_accounted_for` fails otherwise)",
    ACCOUNTING: "the identity in words: in scope = migrated + quarantined (for behavior events the "
    "figures count legacy parsed-events sessions, while the table's total counts event rows)",
    ALREADY: "rows in scope that an earlier run had already migrated",
}


def glossary(layer: str, computed: bool = False) -> str:
    """The "What these numbers mean" block of a layer ("shadow" or "new") as markdown
    (``computed``: the behavior events, accounted per session)."""
    keys = {**_COMMON, **(_MIGRATED if layer == "new" else {})}
    if not computed:
        keys.pop(NO_EVENTS, None)
    return "\n".join(f"- **{key}**: {text}" for key, text in keys.items())


def quarantine_table(result: StageResult) -> str:
    if not result.quarantined:
        return "No rows quarantined at this stage in this run."
    lines = ["| reason | rows | meaning | sample legacy keys |", "|---|---:|---|---|"]
    for reason, count in sorted(result.quarantined.items(), key=lambda kv: -kv[1]):
        samples = ", ".join(f"`{s}`" for s in result.samples.get(reason, [])[:5])
        lines.append(f"| {reason} | {count} | {REASONS.get(reason, '')} | {samples} |")
    return "\n".join(lines)


def accounting_text(inv: Invariant, unit: str = "rows") -> str:
    """E.g. ``legacy rows in scope (606) = migrated (588) + quarantined (18)``; ``unit`` is
    ``"sessions"`` for behavior events, accounted per legacy parsed-events session."""
    text = (f"legacy {unit} in scope ({inv.legacy_rows:,}) = migrated ({inv.migrated:,}) + "
            f"quarantined ({inv.quarantined:,})")
    if inv.no_events:
        text += f" + sessions without events ({inv.no_events:,})"
    if not inv.holds:
        text += f"; {inv.unaccounted:,} UNACCOUNTED (data lost)"
    return text


def stage_metadata(result: StageResult, facts: TableFacts | None, unit: str = "rows") -> dict[str, Any]:
    """Metadata of a shadow or migrated materialization: table facts first, then the run's own.

    ``unit``: what the accounting counts ("rows"; "sessions" for behavior events, whose table
    holds many event rows per legacy session)."""
    meta: dict[str, Any] = {}
    if facts is not None:
        meta.update(
            {
                "dagster/row_count": MetadataValue.int(facts.row_count),
                "dagster/table_name": MetadataValue.text(facts.qualified),
                "dagster/column_schema": MetadataValue.table_schema(column_schema(facts.columns)),
                TABLE_ROWS: MetadataValue.int(facts.row_count),
                LEDGER_OPEN: MetadataValue.int(facts.ledger_open),
            }
        )
    inv = result.invariant
    if inv is not None:
        meta.update(
            {
                ACCOUNTING: MetadataValue.text(accounting_text(inv, unit)),
                IN_SCOPE: MetadataValue.int(inv.legacy_rows),
                MIGRATED: MetadataValue.int(inv.migrated),
                QUARANTINED_IN_SCOPE: MetadataValue.int(inv.quarantined),
                UNACCOUNTED: MetadataValue.int(inv.unaccounted),
                ALREADY: MetadataValue.int(result.already_present),
            }
        )
        if inv.no_events:
            meta[NO_EVENTS] = MetadataValue.int(inv.no_events)
    meta.update(
        {
            SCOPE: MetadataValue.text(result.scope_words or result.skipped or "-"),
            INSERTED: MetadataValue.int(result.inserted),
            QUARANTINED_NOW: MetadataValue.int(sum(result.quarantined.values())),
            BY_REASON: MetadataValue.md(quarantine_table(result)),
            BATCHES: MetadataValue.int(result.batches),
            MODE: MetadataValue.text(result.mode),
            SECONDS: MetadataValue.float(float(result.seconds)),
        }
    )
    if result.skipped:
        meta[SKIPPED] = MetadataValue.text(result.skipped)
    meta[GLOSSARY] = MetadataValue.md(glossary(result.stage, computed=unit == "sessions"))
    return meta
