"""The asset factory: each registry entry becomes ``shadow/<family>/<table>`` and
``migrated/<family>/<table>`` assets, wired legacy -> shadow -> migrated and along foreign keys.

Assets are thin: they call the engine (:mod:`brody_assets.migration.engine`) and turn its result
into metadata a data manager can act on. Every migrated asset carries a **blocking** check,
``legacy_rows_accounted_for``: legacy rows in scope = migrated + quarantined, so downstream assets
never run on a table that lost rows.
"""


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

from brody_assets.migration.registry import REASONS, TableEntry, entries
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


def _quarantine_table(result) -> str:
    if not result.quarantined:
        return "No rows quarantined in this stage."
    lines = ["| reason | rows | meaning | sample legacy keys |", "|---|---:|---|---|"]
    for reason, count in sorted(result.quarantined.items(), key=lambda kv: -kv[1]):
        samples = ", ".join(f"`{s}`" for s in result.samples.get(reason, [])[:5])
        lines.append(f"| {reason} | {count} | {REASONS.get(reason, '')} | {samples} |")
    return "\n".join(lines)


def _stage_metadata(result) -> dict:
    metadata = {
        "scope": MetadataValue.text(result.scope or "-"),
        "mode": MetadataValue.text(result.mode),
        "batches": MetadataValue.int(result.batches),
        "rows_inserted": MetadataValue.int(result.inserted),
        "rows_quarantined": MetadataValue.int(sum(result.quarantined.values())),
        "quarantine": MetadataValue.md(_quarantine_table(result)),
        "seconds": MetadataValue.float(float(result.seconds)),
    }
    if result.skipped:
        metadata["skipped"] = MetadataValue.text(result.skipped)
    return metadata


def _shadow_asset(e: TableEntry) -> AssetsDefinition:
    deps = [legacy_key(e.legacy), *(legacy_key(t) for t in e.lookups)]

    @asset(
        key=shadow_key(e),
        deps=deps,
        group_name=GROUP_SHADOW,
        kinds={"mysql", "datajoint"},
        description=(
            f"Shadow of legacy `{e.legacy}` for {e.name}: one row per legacy row, keyed by the legacy "
            f"key ({', '.join(e.legacy_key)}), with every new column already transformed. Rows a rule "
            "rejects go to the quarantine ledger with their reason. "
            + (e.description or "")
        ),
        tags={"layer": "shadow"},
    )
    def _shadow(context: AssetExecutionContext, migration: MigrationResource) -> MaterializeResult:
        from brody_assets.migration.engine import to_shadow

        result = to_shadow(migration.engine(), e)
        context.log.info(f"{e.name} shadow: {result.inserted} inserted, {result.quarantined} quarantined")
        return MaterializeResult(metadata=_stage_metadata(result))

    return _shadow


def _migrated_asset(e: TableEntry, names: dict[str, TableEntry]) -> AssetsDefinition:
    deps = [] if e.kind == "computed" else [shadow_key(e)]
    deps += [migrated_key(names[parent]) for parent in e.depends]

    @asset(
        key=migrated_key(e),
        deps=deps,
        group_name=GROUP_MIGRATED,
        kinds={"mysql", "datajoint"},
        description=(
            f"New DataJoint table {e.name} ({e.new_class}), from legacy `{e.legacy}`. "
            + (e.description or "")
        ),
        tags={"layer": "migrated"},
        check_specs=[
            AssetCheckSpec(
                RECONCILED,
                asset=migrated_key(e),
                blocking=True,
                description=(
                    "Every legacy row in the run's scope is either migrated or in the quarantine "
                    "ledger with a reason: nothing lost (ERROR blocks downstream assets)."
                ),
            )
        ],
    )
    def _migrated(context: AssetExecutionContext, migration: MigrationResource) -> MaterializeResult:
        from brody_assets.migration.engine import to_new

        result = to_new(migration.engine(), e)
        inv = result.invariant
        metadata = _stage_metadata(result)
        metadata.update(
            {
                "legacy_rows_in_scope": MetadataValue.int(inv.legacy_rows),
                "migrated": MetadataValue.int(inv.migrated),
                "quarantined": MetadataValue.int(inv.quarantined),
                "unaccounted": MetadataValue.int(inv.unaccounted),
            }
        )
        if inv.no_events:
            metadata["sessions_without_events"] = MetadataValue.int(inv.no_events)
        check = AssetCheckResult(
            check_name=RECONCILED,
            passed=inv.holds,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "legacy_rows": MetadataValue.int(inv.legacy_rows),
                "migrated": MetadataValue.int(inv.migrated),
                "quarantined": MetadataValue.int(inv.quarantined),
                "unaccounted": MetadataValue.int(inv.unaccounted),
                "scope": MetadataValue.text(result.scope or "-"),
            },
            description=(
                f"{inv.legacy_rows} legacy rows = {inv.migrated} migrated + {inv.quarantined} quarantined"
                + (f" + {inv.no_events} without events" if inv.no_events else "")
                + ("" if inv.holds else f"; {inv.unaccounted} UNACCOUNTED (data lost)")
            ),
        )
        return MaterializeResult(metadata=metadata, check_results=[check])

    return _migrated


def build_migration_assets() -> list[AssetsDefinition]:
    names = _by_name()
    assets: list[AssetsDefinition] = []
    for e in entries():
        if e.kind != "computed":
            assets.append(_shadow_asset(e))
        assets.append(_migrated_asset(e, names))
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


def migration_definitions() -> Definitions:
    return Definitions(
        assets=build_migration_assets(),
        jobs=[migrate_all_job],
        schedules=[nightly_migration_schedule],
        resources={"migration": MigrationResource()},
    )
