"""The ``integrity/report`` asset and the sensor that keeps it current.

The report depends on every asset that carries an integrity check (its lineage shows what it
summarizes) and is refreshed by its own run **after** any run that evaluated checks finishes: the
nightly ``migrate_all`` (its assets' checks run with it), ``integrity_checks``, or checks executed
from an asset page. A separate run, not a step of those jobs, because Dagster runs non-blocking
(WARN) checks beside downstream steps rather than before them: a report step inside the job could
be written before the last WARN check had reported. The shell path (``brody-assets materialize``,
``brody-assets integrity --run``) runs the report job itself, so it is current without the daemon.
"""


import datetime as dt
from collections.abc import Sequence

from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    sensor,
)

from brody_assets.config import DEFAULT_OWNERS

GROUP = "integrity"
CHECKS_JOB = "integrity_checks"
REPORT_JOB = "integrity_report"
REPORT_KEY = AssetKey(["integrity", "report"])
REPORT_SENSOR = "integrity_report_after_checks"
LOOKBACK = dt.timedelta(days=1)  # a first tick looks at the runs of the last day
RUNS_PER_TICK = 50


def report_asset(check_keys: Sequence[AssetCheckKey], owners: Sequence[str] = DEFAULT_OWNERS):
    """The ``integrity/report`` asset: every check's latest result and since when it has failed."""
    keys = list(check_keys)
    checked = sorted({key.asset_key for key in keys}, key=lambda k: k.path)

    @asset(
        key=REPORT_KEY,
        group_name=GROUP,
        deps=checked,
        kinds={"great_expectations", "html"},
        owners=list(owners),
        description=(
            "The integrity report: every integrity check with pass/fail, severity, unexpected "
            "count and since when it has failed, from the instance's check history; also written "
            "as a static HTML page under the instance's storage directory (link in `html_report_url`). "
            "Refreshed by its own run after every run that evaluated checks (sensor "
            f"`{REPORT_SENSOR}`), nightly included.\n\n"
            "**What these numbers mean**: `checks` every check declared; `passing`, `failing_error`, "
            "`failing_warn` their latest results by severity (ERROR: data lost or broken keys; WARN: "
            "lab-practice conflicts or quarantined rows); `errored` checks whose SQL failed (counted as "
            "failing); `never_run` checks without a result yet; `generated_at` when this report was "
            "written; `newest_check_result` the latest check result it includes."
        ),
    )
    def integrity_report(context: AssetExecutionContext) -> MaterializeResult:
        from brody_assets.integrity.report import (
            counts_by_severity,
            render_summary,
            summarize,
            write_html,
        )

        generated = dt.datetime.now(dt.UTC)
        rows = summarize(context.instance, keys)
        path = write_html(rows, context.instance.storage_directory(), generated)
        url = path.resolve().as_uri()
        counts = counts_by_severity(rows)
        latest = max((r.last_run_at for r in rows if r.last_run_at), default=None)
        failing = counts["ERROR"]["failing"] + counts["WARN"]["failing"]
        context.log.info(
            f"integrity report: {len(rows)} checks, {failing} failing "
            f"({counts['ERROR']['failing']} ERROR, {counts['WARN']['failing']} WARN); {path}"
        )
        metadata = {
            "summary": MetadataValue.md(render_summary(rows, generated, url)),
            "generated_at": MetadataValue.timestamp(generated.timestamp()),
            "checks": MetadataValue.int(len(rows)),
            "passing": MetadataValue.int(counts["ERROR"]["passing"] + counts["WARN"]["passing"]),
            "failing": MetadataValue.int(failing),
            "failing_error": MetadataValue.int(counts["ERROR"]["failing"]),
            "failing_warn": MetadataValue.int(counts["WARN"]["failing"]),
            "errored": MetadataValue.int(counts["ERROR"]["errored"] + counts["WARN"]["errored"]),
            "never_run": MetadataValue.int(sum(r.status == "NEVER_RUN" for r in rows)),
            "html_report_url": MetadataValue.url(url),
            "html_report": MetadataValue.path(str(path)),
        }
        if latest is not None:
            metadata["newest_check_result"] = MetadataValue.timestamp(latest.timestamp())
        return MaterializeResult(metadata=metadata)

    return integrity_report


def _evaluated_checks(instance, run_id: str) -> bool:
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=1
    ).records
    return bool(records)


@sensor(
    name=REPORT_SENSOR,
    job_name=REPORT_JOB,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Refreshes integrity/report after every finished run (succeeded or failed) that evaluated "
        "integrity checks: the nightly migration, integrity_checks, or checks run from an asset page."
    ),
)
def integrity_report_after_checks(context: SensorEvaluationContext):
    """Cursor: the update time of the newest finished run already considered."""
    since = (
        dt.datetime.fromtimestamp(float(context.cursor), dt.UTC)
        if context.cursor
        else dt.datetime.now(dt.UTC) - LOOKBACK
    )
    records = context.instance.get_run_records(
        filters=RunsFilter(
            statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE], updated_after=since
        ),
        limit=RUNS_PER_TICK,
        order_by="update_timestamp",
        ascending=True,
    )
    if not records:
        return SkipReason(f"no run has finished since {since:%Y-%m-%d %H:%M:%S} UTC")
    cursor = str(max(r.update_timestamp.timestamp() for r in records))
    with_checks = [
        r.dagster_run.run_id
        for r in records
        if r.dagster_run.job_name != REPORT_JOB and _evaluated_checks(context.instance, r.dagster_run.run_id)
    ]
    if not with_checks:
        return SensorResult(
            skip_reason=SkipReason(f"{len(records)} run(s) finished, none evaluated integrity checks"),
            cursor=cursor,
        )
    newest = with_checks[-1]
    return SensorResult(
        run_requests=[
            RunRequest(run_key=f"after-{newest}", tags={"brody/report_after_run": newest})
        ],
        cursor=cursor,
    )
