"""Run the whole graph from the command line (the setup command's "main job").

Executes, in order, every job the project defines for a full refresh, against the persistent
Dagster instance in $DAGSTER_HOME and as runs of the workspace's code location, so the UI shows
the runs under their jobs, with their observations and check results.
The shell gets a summary, not Dagster's console log: one line per distinct error (its root
cause, with the steps it stopped) and one per distinct warning; the full stack traces stay in
the run's event log (the UI's run page, or ``dagster run`` commands).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Jobs run by `brody-assets materialize`, in order. Later domains append theirs here.
MAIN_JOBS = ("observe_legacy", "migrate_all", "integrity_checks", "integrity_report")
# Then every recording on the archive drive, one partition each (the sensor does this when running).
EPHYS_JOB = "ingest_recording"


@dataclass
class RunReport:
    ok: bool = True
    runs: list[tuple[str, str, bool]] = field(default_factory=list)
    observations: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    integrity: dict[str, object] = field(default_factory=dict)
    # asset key -> (run: legacy rows in scope, run: migrated, run: quarantined, table: total rows,
    #              ledger: quarantined still open)
    migrated: dict[str, tuple[int, int, int, int, int]] = field(default_factory=dict)
    # partition key -> (ingested, units, reason it failed)
    recordings: dict[str, tuple[bool, int, str]] = field(default_factory=dict)

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
        out.extend(f"warning: {w}" for w in self.warnings)
        if self.recordings:
            good = {k: v for k, v in self.recordings.items() if v[0]}
            bad = {k: v for k, v in self.recordings.items() if not v[0]}
            out.append(f"ephys recordings: {len(self.recordings)} on the archive drive, {len(good)} ingested "
                       f"({sum(v[1] for v in good.values())} units), {len(bad)} refused")
            out.extend(f"  {key}  {units} units" for key, (_ok, units, _r) in sorted(good.items()))
            if bad:
                out.append("  refused (each fails its own partition; fix the files and re-materialize):")
                out.extend(f"  {key}\n      {reason}" for key, (_ok, _u, reason) in sorted(bad.items()))
        out.extend(f"error: {e}" for e in self.errors)
        if self.errors:
            out.append("  (full stack traces: the failed run's page in the UI, or its event log in DAGSTER_HOME)")
        return out


def _root_cause(error) -> str:
    """The innermost cause of a Dagster error (the user's error, not Dagster's wrappers), without
    its class name."""
    while error.cause is not None:
        error = error.cause
    return re.sub(rf"^(?:[\w.]+\.)?{re.escape(error.cls_name or '')}: ", "", error.message.strip())


def failure_causes(events: Iterable, into: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Each distinct root cause among failure events, with the steps (``job:step``) it stopped."""
    causes = {} if into is None else into
    for event in events:
        if not event.is_failure or event.event_specific_data is None:
            continue
        error = getattr(event.event_specific_data, "error", None)
        if error is None:
            continue
        steps = causes.setdefault(_root_cause(error), [])
        if event.step_key and event.step_key not in steps:
            steps.append(event.step_key)
    return causes


def summarize_failures(causes: dict[str, list[str]]) -> list[str]:
    """One line per cause: its message, then the steps it stopped (the first three, and a count)."""
    lines = []
    for cause, steps in causes.items():
        where = ""
        if steps:
            shown = ", ".join(steps[:3]) + (f" and {len(steps) - 3} more" if len(steps) > 3 else "")
            where = f" [step{'s' if len(steps) > 1 else ''}: {shown}]"
        lines.append(cause + where)
    return lines


def _warnings(instance, run_id: str, width: int = 500) -> list[str]:
    """The warnings (and logged errors) of the run's own code, not Dagster's events, each once and
    on one line (the first line of the message, cut at ``width``; the whole is in the event log)."""
    found: list[str] = []
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None or entry.level < logging.WARNING or not entry.user_message:
            continue
        line = entry.user_message.strip().splitlines()[0]
        line = line if len(line) <= width else line[: width - 1] + "…"
        if entry.level >= logging.ERROR:
            line = f"(logged as an error) {line}"
        if line not in found:
            found.append(line)
    return found


def _deepest_message(result) -> str:
    """The innermost error of a failed run (the engine's own message, not Dagster's wrapper)."""
    messages = []
    for event in result.all_events:
        if event.is_failure and event.event_specific_data is not None:
            error = getattr(event.event_specific_data, "error", None)
            while error is not None:
                messages.append(error.message.strip().splitlines()[-1] if error.message.strip() else "")
                error = error.cause
    if not messages:
        return "failed (see the run in the UI)"
    return re.sub(r"^[\w.]+\.(\w+): ", r"\1: ", messages[-1])  # drop the module path of the error class


def ingest_recordings(defs, instance, report: RunReport, log_level: str = "WARNING") -> None:
    """Add one partition per ``.ap.meta`` on the archive drive and run ``ingest_recording`` for each;
    a refused recording fails only its own partition and is listed with its reason."""
    from brody_assets.config import ConfigError, load_settings
    from brody_assets.ephys.partitions import RECORDINGS, recording_key
    from brody_assets.instance.shell import run_job

    try:
        archive = load_settings().archive_root
    except ConfigError as error:
        report.errors.append(f"ephys: {error}")
        return
    if archive is None:  # a site without drives: nothing to ingest, and nothing wrong
        report.warnings.append("ephys: no drives configured ('custom.ephys_root_data_dir'); no recording ingested")
        return
    if not archive.is_dir():
        report.errors.append(f"ephys: the archive drive root {archive} is not there; no recording ingested")
        return
    keys = sorted(recording_key(p.relative_to(archive).as_posix()) for p in archive.rglob("*.ap.meta"))
    known = set(instance.get_dynamic_partitions(RECORDINGS.name))
    instance.add_dynamic_partitions(RECORDINGS.name, [k for k in keys if k not in known])
    for key in keys:  # each a run of the code location's job, so the UI lists it under its job
        result = run_job(
            EPHYS_JOB, instance, tags={"dagster/partition": key},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        if result.success:
            units = 0
            for event in result.all_events:
                if event.event_type_value == "ASSET_MATERIALIZATION":
                    meta = event.event_specific_data.materialization.metadata
                    if event.asset_key.path[-1] == "kilosort_output" and "units" in meta:
                        units = int(meta["units"].value)
            report.recordings[key] = (True, units, "")
        else:
            report.recordings[key] = (False, 0, _deepest_message(result))


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


def materialize_all(jobs: tuple[str, ...] = MAIN_JOBS, log_level: str = "CRITICAL") -> RunReport:
    """Run ``jobs`` in order in this process, each recorded as a run of the code location in
    ``workspace.yaml`` (so the UI lists it under its job; :mod:`brody_assets.instance.shell`)."""
    from dagster import AssetKey, DagsterInstance

    from brody_assets.definitions import defs
    from brody_assets.instance.shell import run_job
    from brody_assets.legacy.catalog import LEGACY_TABLES

    instance = DagsterInstance.get()
    report = RunReport()
    causes: dict[str, list[str]] = {}
    # the ephys recordings follow the main jobs, or run alone with `--job ingest_recording`
    with_ephys = tuple(jobs) == MAIN_JOBS or EPHYS_JOB in jobs
    for name in (j for j in jobs if j != EPHYS_JOB):
        result = run_job(
            name, instance, run_config={"loggers": {"console": {"config": {"log_level": log_level}}}}
        )
        report.runs.append((name, result.run_id, result.success))
        for warning in _warnings(instance, result.run_id):
            if warning not in report.warnings:
                report.warnings.append(warning)
        if not result.success:
            report.ok = False
            failure_causes(result.all_events, into=causes)
    report.errors = summarize_failures(causes)
    if with_ephys and EPHYS_JOB in {job.name for job in defs.jobs}:
        if report.ok:
            ingest_recordings(defs, instance, report, log_level)
        else:  # the ephys tables hang off the migrated rats and sessions: fix the failure first
            report.warnings.append("ephys: recordings not ingested, because a job above failed")
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
