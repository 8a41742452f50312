"""Legacy tables as observable external assets (``legacy/<schema>/<table>``, group ``legacy``).

The pipeline never writes these tables: the lab's rigs do. An observation records each table's row
count, newest date and highest key, and a data version built from them, so the UI shows when a
legacy table changed and downstream shadow assets can tell they are stale.
"""

from __future__ import annotations

import warnings

from dagster import (
    AssetKey,
    AssetSelection,
    AssetSpec,
    BetaWarning,
    DataVersion,
    DefaultScheduleStatus,
    Definitions,
    MetadataValue,
    ObserveResult,
    ScheduleDefinition,
    define_asset_job,
    multi_observable_source_asset,
)

from brody_assets.legacy.catalog import LEGACY_TABLES
from brody_assets.legacy.observe import observe_tables
from brody_assets.resources import LegacyDatabaseResource

GROUP = "legacy"

LEGACY_SPECS = [
    AssetSpec(
        key=AssetKey(table.asset_path),
        description=f"{table.description} Legacy table `{table.label}` (read-only).",
        group_name=GROUP,
        kinds={"mysql"},
        metadata={
            "legacy_table": table.label,
            "primary_key": ", ".join(table.primary_key),
            "date_column": table.date_column or "(none)",
        },
        tags={"layer": "legacy"},
    )
    for table in LEGACY_TABLES
]


# Observable source assets are marked beta in Dagster 1.13; we rely on them deliberately.
warnings.filterwarnings("ignore", category=BetaWarning, module=__name__)
warnings.filterwarnings("ignore", category=BetaWarning, message=".*(multi_observable_source_asset|include_sources).*")


@multi_observable_source_asset(
    specs=LEGACY_SPECS,
    name="observe_legacy_tables",
    description="Counts rows and finds the newest date of every legacy table the migration reads.",
    required_resource_keys={"legacy_db"},
    can_subset=True,
)
def observe_legacy_tables(context):
    legacy: LegacyDatabaseResource = context.resources.legacy_db
    wanted = {tuple(key.path) for key in context.selected_asset_keys}
    tables = [t for t in LEGACY_TABLES if tuple(t.asset_path) in wanted]
    with legacy.connect() as conn:
        observations, missing = observe_tables(conn, tables, legacy.schema_prefix)
    for obs in observations:
        yield ObserveResult(
            asset_key=AssetKey(obs.table.asset_path),
            metadata={
                "row_count": MetadataValue.int(obs.row_count),
                "newest_date": MetadataValue.text(obs.newest_date or "(no dates)"),
                "max_key": MetadataValue.int(obs.max_key) if obs.max_key is not None else MetadataValue.text("-"),
                "legacy_table": MetadataValue.text(f"{legacy.schema_prefix}{obs.table.label}"),
            },
            data_version=DataVersion(obs.data_version),
        )
    if missing:
        raise RuntimeError("\n".join(missing))


observe_legacy_job = define_asset_job(
    "observe_legacy",
    selection=AssetSelection.groups(GROUP, include_sources=True),
    description="Observe every legacy table: row counts, newest dates, data versions.",
)

observe_legacy_schedule = ScheduleDefinition(
    name="observe_legacy_hourly",
    job=observe_legacy_job,
    cron_schedule="0 * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Hourly observation of the legacy tables (turn on in the UI where wanted).",
)


def legacy_definitions() -> Definitions:
    return Definitions(
        assets=[observe_legacy_tables],
        jobs=[observe_legacy_job],
        schedules=[observe_legacy_schedule],
    )
