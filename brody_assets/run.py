"""Run the whole graph from the command line (the setup command's "main job").

Executes, in order, every job the project defines for a full refresh, against the persistent
Dagster instance in $DAGSTER_HOME and as runs of the workspace's code location, so the UI shows
the runs under their jobs, with their observations and check results.
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
    migrated: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"job {name}: {'succeeded' if ok else 'FAILED'} (run {run_id})" for name, run_id, ok in self.runs]
        if self.observations:
            total = sum(self.observations.values())
            out.append(f"legacy tables observed: {len(self.observations)} ({total:,} rows)")
            out.extend(f"  {key:<34} {count:>9,} rows" for key, count in sorted(self.observations.items()))
        if self.migrated:
            rows = sum(m for _, m, _ in self.migrated.values())
            quarantined = sum(q for _, _, q in self.migrated.values())
            out.append(f"migrated tables: {len(self.migrated)} ({rows:,} rows migrated, "
                       f"{quarantined:,} quarantined with a reason)")
            out.extend(
                f"  {key:<40} {legacy:>9,} legacy rows in scope = {migrated:>9,} migrated + {q:>6,} quarantined"
                for key, (legacy, migrated, q) in sorted(self.migrated.items())
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


def materialize_all(jobs: tuple[str, ...] = MAIN_JOBS, log_level: str = "WARNING") -> RunReport:
    """Run ``jobs`` in order in this process, each recorded as a run of the code location in
    ``workspace.yaml`` (so the UI lists it under its job; :mod:`brody_assets.instance.shell`)."""
    from dagster import AssetKey, DagsterInstance

    from brody_assets.definitions import defs
    from brody_assets.instance.shell import run_job
    from brody_assets.legacy.catalog import LEGACY_TABLES

    instance = DagsterInstance.get()
    report = RunReport()
    for name in jobs:
        result = run_job(
            name, instance, run_config={"loggers": {"console": {"config": {"log_level": log_level}}}}
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
        count = records[0].asset_observation.metadata.get("row_count") if records else None
        if count is not None:
            report.observations[key.to_user_string()] = int(count.value)
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        if key.path[0] != "migrated":
            continue
        records = instance.fetch_materializations(key, limit=1).records
        if records:
            meta = records[0].asset_materialization.metadata
            if "legacy_rows_in_scope" in meta:
                report.migrated[key.to_user_string()] = (
                    int(meta["legacy_rows_in_scope"].value), int(meta["migrated"].value),
                    int(meta["quarantined"].value),
                )
    records = instance.fetch_materializations(AssetKey(["integrity", "report"]), limit=1).records
    if records:
        metadata = records[0].asset_materialization.metadata
        report.integrity = {
            name: metadata[name].value
            for name in ("checks", "failing", "failing_error", "html_report")
            if name in metadata
        }
    return report
