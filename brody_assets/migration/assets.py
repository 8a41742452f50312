"""The asset factory: each registry entry becomes ``shadow/<family>/<table>`` and
``migrated/<family>/<table>`` assets, wired legacy -> shadow -> migrated and along foreign keys.

Assets are thin: they call the engine (:mod:`brody_assets.migration.engine`) and turn its result
into metadata a data manager can act on. Every migrated asset carries a **blocking** check,
``legacy_rows_accounted_for``: legacy rows in scope = migrated + quarantined, so downstream assets
never run on a table that lost rows.
"""

from collections.abc import Sequence
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    define_asset_job,
)

from brody_assets.config import DEFAULT_OWNERS
from brody_assets.conventions import (
    KINDS_MIGRATED,
    code_references,
    registry_entry_location,
    source_location,
)
from brody_assets.migration.asset_metadata import (
    IN_SCOPE,
    MIGRATED,
    QUARANTINED_IN_SCOPE,
    SCOPE,
    UNACCOUNTED,
    accounting_text,
    glossary,
    stage_metadata,
)
from brody_assets.migration.registry import TableEntry, entries
from brody_assets.resources import MigrationResource

RECONCILED = "legacy_rows_accounted_for"
GROUP_SHADOW = "shadow"
GROUP_MIGRATED = "migrated"


def legacy_key(table: str) -> AssetKey:
    schema, name = table.split(".")
    return AssetKey(["legacy", schema, name])


def shadow_key(e: TableEntry) -> AssetKey:
    return AssetKey(["shadow", e.family, e.table])


def migrated_key(e: TableEntry) -> AssetKey:
    return AssetKey(["migrated", e.family, e.table])


def _by_name() -> dict[str, TableEntry]:
    return {e.name: e for e in entries()}


def code_locations(e: TableEntry, layer: str) -> list[tuple[str, int | None, str]]:
    """Where a table is declared: its registry entry and its DataJoint class (file, line, label)."""
    entry_file, entry_line = registry_entry_location(f"brody_assets.migration.entries.{e.family}", f'"{e.name}"')
    schema_file = Path(entry_file).parent.parent / "schemas" / f"{layer}_{e.family}.py"
    _, class_line = source_location(schema_file, *(f"class {name}(" for name in e.new_class.split(".")))
    return [
        (entry_file, entry_line, f"registry entry {e.name}"),
        (str(schema_file), class_line, f"DataJoint table {e.new_class} ({layer} layer)"),
    ]


def _describe(text: str, layer: str, computed: bool = False) -> str:
    return f"{text}\n\n**What these numbers mean** (each materialization):\n\n{glossary(layer, computed)}"


def _shadow_asset(e: TableEntry, owners: Sequence[str]) -> AssetsDefinition:
    deps = [legacy_key(e.legacy), *(legacy_key(t) for t in e.lookups)]

    @asset(
        key=shadow_key(e),
        deps=deps,
        group_name=GROUP_SHADOW,
        kinds=set(KINDS_MIGRATED),
        owners=list(owners),
        description=_describe(
            f"Shadow of legacy `{e.legacy}` for {e.name}: one row per legacy row, keyed by the legacy "
            f"key ({', '.join(e.legacy_key)}), with every new column already transformed. Rows a rule "
            "rejects go to the quarantine ledger with their reason. "
            + (e.description or ""),
            "shadow",
        ),
        tags={"layer": "shadow"},
        metadata=dict(code_references(*code_locations(e, "shadow"))),
    )
    def _shadow(context: AssetExecutionContext, migration: MigrationResource) -> MaterializeResult:
        from brody_assets.migration.engine import to_shadow
        from brody_assets.migration.engine.facts import table_facts

        context.log.info(f"{e.name} shadow: legacy `{e.legacy}` -> shadow table")
        engine = migration.engine()
        result = to_shadow(engine, e, progress=context.log.info)
        facts = None if result.skipped else table_facts(engine, e, "shadow")
        context.log.info(
            f"{e.name} shadow done in {result.seconds:.1f} s: {result.inserted:,} rows inserted, "
            f"{sum(result.quarantined.values()):,} quarantined this run"
            + (f"; the shadow table holds {facts.row_count:,} rows" if facts else "")
        )
        return MaterializeResult(metadata=stage_metadata(result, facts))

    return _shadow


def _migrated_asset(e: TableEntry, names: dict[str, TableEntry], owners: Sequence[str]) -> AssetsDefinition:
    deps = [] if e.kind == "computed" else [shadow_key(e)]
    deps += [migrated_key(names[parent]) for parent in e.depends]

    @asset(
        key=migrated_key(e),
        deps=deps,
        group_name=GROUP_MIGRATED,
        kinds=set(KINDS_MIGRATED),
        owners=list(owners),
        description=_describe(
            f"New DataJoint table {e.name} ({e.new_class}), from legacy `{e.legacy}`. "
            + (e.description or ""),
            "new",
            computed=e.kind == "computed",
        ),
        tags={"layer": "migrated"},
        metadata=dict(code_references(*code_locations(e, "new"))),
        check_specs=[
            AssetCheckSpec(
                RECONCILED,
                asset=migrated_key(e),
                blocking=True,
                description=(
                    "Every legacy row in the run's scope is either migrated or in the quarantine "
                    "ledger with a reason: legacy rows in scope = migrated + quarantined. Severity "
                    "ERROR, blocking: a row neither migrated nor quarantined is data lost, so "
                    "downstream assets must not build on this table until it is found."
                ),
                metadata={"severity": "ERROR (blocking)"},
            )
        ],
    )
    def _migrated(context: AssetExecutionContext, migration: MigrationResource) -> MaterializeResult:
        from brody_assets.migration.engine import to_new
        from brody_assets.migration.engine.facts import table_facts

        context.log.info(f"{e.name} new: shadow -> new table {e.new_class}")
        engine = migration.engine()
        result = to_new(engine, e, progress=context.log.info)
        facts = table_facts(engine, e, "new")
        inv, unit = result.invariant, ("sessions" if e.kind == "computed" else "rows")
        context.log.info(
            f"{e.name} new done in {result.seconds:.1f} s: {accounting_text(inv, unit)}; "
            f"{result.inserted:,} rows inserted; the table holds {facts.row_count:,} rows"
        )
        check = AssetCheckResult(
            check_name=RECONCILED,
            passed=inv.holds,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                IN_SCOPE: MetadataValue.int(inv.legacy_rows),
                MIGRATED: MetadataValue.int(inv.migrated),
                QUARANTINED_IN_SCOPE: MetadataValue.int(inv.quarantined),
                UNACCOUNTED: MetadataValue.int(inv.unaccounted),
                SCOPE: MetadataValue.text(result.scope_words or "-"),
            },
            description=accounting_text(inv, unit),
        )
        return MaterializeResult(metadata=stage_metadata(result, facts, unit), check_results=[check])

    return _migrated


def build_migration_assets(owners: Sequence[str] = DEFAULT_OWNERS) -> list[AssetsDefinition]:
    """The shadow and migrated assets of every registry entry (``owners``: ``custom.owners``)."""
    names = _by_name()
    assets: list[AssetsDefinition] = []
    for e in entries():
        if e.kind != "computed":
            assets.append(_shadow_asset(e, owners))
        assets.append(_migrated_asset(e, names, owners))
    return assets


MIGRATION_SELECTION = AssetSelection.groups(GROUP_SHADOW, GROUP_MIGRATED)

migrate_all_job = define_asset_job(
    "migrate_all",
    selection=MIGRATION_SELECTION,
    description=(
        "The whole migration: every shadow and migrated table in dependency order. Default scope is "
        "incremental (new legacy keys, the last 3 days, and quarantined rows); set "
        "resources.migration.config.full_backfill or days_back in the launchpad."
    ),
)

nightly_migration_schedule = ScheduleDefinition(
    name="nightly_migration",
    job=migrate_all_job,
    cron_schedule="30 2 * * *",
    execution_timezone="America/New_York",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Replaces the old cron job: every night at 02:30 (Princeton time), incremental.",
)


def migration_definitions(owners: Sequence[str] = DEFAULT_OWNERS) -> Definitions:
    return Definitions(
        assets=build_migration_assets(owners),
        jobs=[migrate_all_job],
        schedules=[nightly_migration_schedule],
        resources={"migration": MigrationResource()},
    )
