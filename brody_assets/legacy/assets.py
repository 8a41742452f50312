"""Legacy tables as observable external assets (``legacy/<schema>/<table>``, group ``legacy``).

The pipeline never writes these tables: the lab's rigs do. An observation records each table's row
count, newest date and highest key, and a data version built from them, so the UI shows when a
legacy table changed and downstream shadow assets can tell they are stale.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

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

from brody_assets.config import DEFAULT_OWNERS
from brody_assets.conventions import (
    KINDS_LEGACY,
    code_references,
    registry_entry_location,
    table_metadata,
)
from brody_assets.legacy.catalog import LEGACY_TABLES, LegacyTable
from brody_assets.legacy.columns import ddl_columns
from brody_assets.legacy.observe import observe_tables
from brody_assets.resources import LegacyDatabaseResource

GROUP = "legacy"
GLOSSARY = (
    "**What these numbers mean** (each observation): **dagster/row_count** every row in the legacy "
    "table when observed; **newest_date** the latest value of its date column; **max_key** its "
    "highest primary key (new rows are those above the migration's high-water mark); "
    "**dagster/table_name** the table on the legacy server (with the site's schema prefix); "
    "**dagster/column_schema** its columns as the lab's DDL declares them (on the definition) and as "
    "the server holds them (on each observation). The data version is "
    "built from the first three: when it changes, the shadow tables downstream are stale."
)


def legacy_spec(table: LegacyTable, owners: Sequence[str] = DEFAULT_OWNERS) -> AssetSpec:
    """The external asset of one legacy table (``owners``: ``custom.owners``)."""
    path, line = registry_entry_location("brody_assets.legacy.catalog", f'LegacyTable("{table.schema}", "{table.name}"')
    return AssetSpec(
        key=AssetKey(table.asset_path),
        description=f"{table.description} Legacy table `{table.label}` (read-only).\n\n{GLOSSARY}",
        group_name=GROUP,
        kinds=set(KINDS_LEGACY),
        owners=list(owners),
        metadata={
            "legacy_table": table.label,
            "primary_key": ", ".join(table.primary_key),
            "date_column": table.date_column or "(none)",
            **table_metadata(table.label, columns=ddl_columns(table)),
            **code_references((path, line, f"legacy catalog entry {table.label}")),
        },
        tags={"layer": "legacy"},
    )


LEGACY_SPECS = [legacy_spec(table) for table in LEGACY_TABLES]


# Observable source assets are marked beta in Dagster 1.13; we rely on them deliberately.
warnings.filterwarnings("ignore", category=BetaWarning, module=__name__)
warnings.filterwarnings("ignore", category=BetaWarning, message=".*(multi_observable_source_asset|include_sources).*")


def build_observe_legacy(owners: Sequence[str] = DEFAULT_OWNERS):
    """The observation of every legacy table, one multi-asset (``owners``: ``custom.owners``)."""
    with warnings.catch_warnings():  # observable source assets are beta in Dagster 1.13 (deliberate)
        warnings.simplefilter("ignore", BetaWarning)
        return _observe_legacy(owners)


def _observe_legacy(owners: Sequence[str]):
    @multi_observable_source_asset(
        specs=[legacy_spec(table, owners) for table in LEGACY_TABLES],
        name="observe_legacy_tables",
        description="Counts rows and finds the newest date of every legacy table the migration reads.",
        required_resource_keys={"legacy_db"},
        can_subset=True,
    )
    def observe_legacy_tables(context):
        legacy: LegacyDatabaseResource = context.resources.legacy_db
        wanted = {tuple(key.path) for key in context.selected_asset_keys}
        tables = [t for t in LEGACY_TABLES if tuple(t.asset_path) in wanted]
        started = time.perf_counter()
        context.log.info(f"observing {len(tables)} legacy tables")
        with legacy.connect() as conn:
            observations, missing = observe_tables(conn, tables, legacy.schema_prefix)
        for obs in observations:
            yield ObserveResult(
                asset_key=AssetKey(obs.table.asset_path),
                metadata={
                    **table_metadata(f"{legacy.schema_prefix}{obs.table.label}", obs.row_count, obs.columns),
                    "newest_date": MetadataValue.text(obs.newest_date or "(no dates)"),
                    "max_key": MetadataValue.int(obs.max_key) if obs.max_key is not None else MetadataValue.text("-"),
                    "legacy_table": MetadataValue.text(f"{legacy.schema_prefix}{obs.table.label}"),
                },
                data_version=DataVersion(obs.data_version),
            )
        context.log.info(
            f"observed {len(observations)} legacy tables in {time.perf_counter() - started:.1f} s "
            f"({sum(o.row_count for o in observations):,} rows)"
        )
        if missing:
            raise RuntimeError("\n".join(missing))

    return observe_legacy_tables


observe_legacy_tables = build_observe_legacy()


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


def legacy_definitions(owners: Sequence[str] = DEFAULT_OWNERS) -> Definitions:
    return Definitions(
        assets=[build_observe_legacy(owners)],
        jobs=[observe_legacy_job],
        schedules=[observe_legacy_schedule],
    )
