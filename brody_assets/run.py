"""Run the whole graph from the command line (the setup command's "main job").

Executes, in order, every job the project defines for a full refresh, against the persistent
Dagster instance in $DAGSTER_HOME so the UI shows the runs, observations and check results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Jobs run by `brody-assets materialize`, in order. Later domains append theirs here.
MAIN_JOBS = ("observe_legacy", "migrate_all", "integrity_checks", "integrity_report")


@dataclass
class RunReport:
    ok: bool = True
    runs: list[tuple[str, str, bool]] = field(default_factory=list)
    observations: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    integrity: dict[str, object] = field(default_factory=dict)
    # asset key -> (run: legacy rows in scope, run: migrated, run: quarantined, table: total rows,
    #              ledger: quarantined still open)
    migrated: dict[str, tuple[int, int, int, int, int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"job {name}: {'succeeded' if ok else 'FAILED'} (run {run_id})" for name, run_id, ok in self.runs]
        if self.observations:
            total = sum(self.observations.values())
            out.append(f"legacy tables observed: {len(self.observations)} ({total:,} rows)")
            out.extend(f"  {key:<34} {count:>9,} rows" for key, count in sorted(self.observations.items()))
        if self.migrated:
            legacy, rows, quarantined, total, ledger = (sum(v[i] for v in self.migrated.values()) for i in range(5))
            out.append(
                f"migrated tables: {len(self.migrated)}; the tables now hold {total:,} rows, the quarantine "
                f"ledger {ledger:,}; this run: legacy rows in scope ({legacy:,}) = migrated ({rows:,}) + "
                f"quarantined ({quarantined:,})"
            )
            out.append(f"  {'table':<40} {'table rows':>10} {'ledger':>7}   this run: in scope = migrated + quarantined")
            out.extend(
                f"  {key:<40} {total:>10,} {ledger:>7,}   {legacy:>9,} = {migrated:>9,} + {q:>6,}"
                for key, (legacy, migrated, q, total, ledger) in sorted(self.migrated.items())
            )
        if self.integrity:
            out.append(
                f"integrity report: {self.integrity['checks']} checks, {self.integrity['failing']} failing "
                f"({self.integrity['failing_error']} with ERROR)"
            )
            out.append(f"  HTML report: {self.integrity['html_report']}")
            out.append("  in the UI: each asset's Checks tab; `brody-assets integrity` prints the list")
        out.extend(f"error: {e}" for e in self.errors)
        return out


def migrated_figures(instance, keys) -> dict[str, tuple[int, int, int, int, int]]:
    """Per migrated asset, from its latest materialization: (run: legacy rows in scope, run:
    migrated, run: quarantined, table: total rows, ledger: quarantined still open)."""
    from brody_assets.migration import asset_metadata as m

    names = (m.IN_SCOPE, m.MIGRATED, m.QUARANTINED_IN_SCOPE, m.TABLE_ROWS, m.LEDGER_OPEN)
    figures = {}
    for key in keys:
        if key.path[0] != "migrated":
            continue
        records = instance.fetch_materializations(key, limit=1).records
        meta = records[0].asset_materialization.metadata if records else {}
        if all(name in meta for name in names):
            figures[key.to_user_string()] = tuple(int(meta[name].value) for name in names)
    return figures


def materialize_all(jobs: tuple[str, ...] = MAIN_JOBS, log_level: str = "WARNING") -> RunReport:
    from dagster import AssetKey, DagsterInstance

    from brody_assets.definitions import defs
    from brody_assets.legacy.catalog import LEGACY_TABLES

    instance = DagsterInstance.get()
    report = RunReport()
    for name in jobs:
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        report.runs.append((name, result.run_id, result.success))
        if not result.success:
            report.ok = False
            for event in result.all_events:
                if event.is_failure and event.event_specific_data is not None:
                    error = getattr(event.event_specific_data, "error", None)
                    if error is not None:
                        report.errors.append(error.message.strip())
    for table in LEGACY_TABLES:
        key = AssetKey(table.asset_path)
        records = instance.fetch_observations(key, limit=1).records
        count = records[0].asset_observation.metadata.get("dagster/row_count") if records else None
        if count is not None:
            report.observations[key.to_user_string()] = int(count.value)
    report.migrated = migrated_figures(instance, defs.resolve_asset_graph().get_all_asset_keys())
    records = instance.fetch_materializations(AssetKey(["integrity", "report"]), limit=1).records
    if records:
        metadata = records[0].asset_materialization.metadata
        report.integrity = {
            name: metadata[name].value
            for name in ("checks", "failing", "failing_error", "html_report")
            if name in metadata
        }
    return report
