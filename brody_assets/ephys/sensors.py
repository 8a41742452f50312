"""The drive sensors: new recordings are found, matched and ingested without anyone asking.

``archive_drive_sensor`` (every 30 s, on by default) walks what changed on the archive drive
(``discovery.py``), and for each recording that finished copying and matches one behaviour
session it adds the ``ephys_recordings`` partition and requests one run of ``ingest_recording``
for it, with run key = path + size (Dagster never launches a run key twice). When the Kilosort
output is not on the cup drive yet, the run ingests the raw side (the Kilosort assets report
"not sorted yet") and ``cup_drive_sensor`` (every 60 s) requests the Kilosort-dependent assets
of that partition once a complete sort appears. Whenever the unmatched list changes, the sensor also requests a refresh
of ``ephys/unmatched_recordings``. Every tick without a request says why in its skip reason.
"""

import contextlib
import hashlib
import os
import time

import pymysql
from dagster import (
    AssetKey,
    AssetSelection,
    ConfigurableResource,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from brody_assets.config import ConfigError, Settings
from brody_assets.ephys.cup_discovery import scan_cup
from brody_assets.ephys.discovery import forget_recording, scan_archive
from brody_assets.ephys.discovery_types import DiscoveryOptions, ScanCursor, ScanResult
from brody_assets.ephys.filesystem import FileSystem, InstrumentedFileSystem, LocalFileSystem
from brody_assets.ephys.matching import SessionLookup
from brody_assets.ephys.partitions import RECORDINGS
from brody_assets.ephys.sensor_state import locked_store, store_path
from brody_assets.ephys.unmatched import UNMATCHED_KEY, unmatched_recordings
from brody_assets.resources import DrivesResource

# Tick intervals; BRODY_SENSOR_INTERVAL_S overrides both (tests run the daemon with 5 s).
ARCHIVE_INTERVAL_S = int(os.environ.get("BRODY_SENSOR_INTERVAL_S", 30))
CUP_INTERVAL_S = int(os.environ.get("BRODY_SENSOR_INTERVAL_S", 60))
INGEST_JOB = "ingest_recording"
REFRESH_JOB = "refresh_unmatched_recordings"
SORT_SIDE = [
    AssetKey(["ephys", n])
    for n in ("kilosort_output", "clustering", "curated_clustering", "waveform_set", "quality_metrics")
]
OPTIONS = DiscoveryOptions()
# listed recordings that are ingested afresh once someone deletes their partition
AFRESH = ("changed_after_ingestion", "missing_after_ingestion")


class DriveFileSystemResource(ConfigurableResource):
    """How the sensors read the drives: the local file system (mounted drives).

    ``stat_delay_ms`` answers every file-system call that much later — a simulated slow network
    drive for tests and benchmarks; leave it at 0.
    """

    stat_delay_ms: float = 0.0

    def file_system(self) -> FileSystem:
        if self.stat_delay_ms > 0:
            return InstrumentedFileSystem(LocalFileSystem(), self.stat_delay_ms / 1000.0)
        return LocalFileSystem()


refresh_unmatched_job = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.assets(UNMATCHED_KEY),
    description="Rebuild the ephys/unmatched_recordings table from the sensor's list.",
)


def _lookup_factory(settings: Settings, stack: contextlib.ExitStack):
    def make() -> SessionLookup:
        db = settings.database
        conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal(),
                               charset="utf8mb4", autocommit=True, connect_timeout=10, **db.tls_options())
        stack.callback(conn.close)
        return SessionLookup.from_connection(conn, settings.new_prefix)

    return make


def _settings(drives: DrivesResource) -> Settings | str:
    try:
        return drives.settings
    except ConfigError as exc:
        return f"the configuration cannot be read: {exc}"


def _summary(result: ScanResult, store) -> str:
    pending = len(store.pending)
    return (
        f"no new complete recording; {pending} cop{'y' if pending == 1 else 'ies'} in progress or "
        f"incomplete, {len(store.unmatched)} on the unmatched list; "
        f"{result.counts.get('dirs_walked', 0)} folders walked in {result.counts.get('seconds', 0):.2f} s"
        + (f"; {'; '.join(result.notes)}" if result.notes else "")
    )


def _refresh_request(store) -> RunRequest:
    digest = hashlib.sha1(repr(sorted(store.signature())).encode()).hexdigest()[:12]
    return RunRequest(run_key=f"unmatched|{digest}|{time.time():.0f}", job_name=REFRESH_JOB,
                      tags={"ephys/unmatched": str(len(store.unmatched))})


def archive_tick(context: SensorEvaluationContext, drives: DrivesResource, fs: FileSystem,
                 options: DiscoveryOptions = OPTIONS) -> SensorResult:
    """One evaluation of the archive-drive sensor (also used by tests and the benchmark)."""
    settings = _settings(drives)
    if isinstance(settings, str):
        return SensorResult(skip_reason=settings, cursor=context.cursor)
    if settings.archive_root is None:
        return SensorResult(skip_reason="the archive drive is not configured "
                            "('custom.ephys_root_data_dir' in dj_local_conf.json)", cursor=context.cursor)
    cursor = ScanCursor.from_json(context.cursor)
    with contextlib.ExitStack() as stack, locked_store(store_path(context.instance)) as store:
        for entry in list(store.unmatched.values()):  # a changed recording whose partition was deleted
            if entry.reason_code in AFRESH and entry.key and not context.instance.has_dynamic_partition(
                RECORDINGS.name, entry.key
            ):
                forget_recording(store, entry.key, time.time())
        result = scan_archive(fs, settings.archive_root, cursor, store,
                              _lookup_factory(settings, stack), options, cup_root=settings.cup_root)
        existing = set(context.instance.get_dynamic_partitions(RECORDINGS.name)) if result.new else set()
        known = [n.key for n in result.new if n.key in existing]
        if known:  # e.g. ingested by `brody-assets materialize` before the sensor ever ran
            result.notes.append(f"{len(known)} complete recordings already had their partition: not requested")
        result.new = [n for n in result.new if n.key not in existing]
        runs = [
            RunRequest(
                run_key=new.run_key,
                partition_key=new.key,
                job_name=INGEST_JOB,
                tags={"ephys/sessid": str(new.match.sessid), "ephys/bin_size": str(new.bin_size),
                      "ephys/kilosort_dir": new.kilosort_dir or "none yet"},
            )
            for new in result.new
        ]
        if result.unmatched_changed:
            runs.append(_refresh_request(store))
        summary = _summary(result, store)
    if result.skip_reason:
        context.log.warning(result.skip_reason)
        return SensorResult(skip_reason=result.skip_reason, cursor=context.cursor)
    context.log.info(f"archive tick: {result.describe()}")
    partitions = [RECORDINGS.build_add_request([n.key for n in result.new])] if result.new else []
    return SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=partitions,
        skip_reason=None if runs else summary,
        cursor=cursor.to_json(),
    )


def cup_tick(context: SensorEvaluationContext, drives: DrivesResource, fs: FileSystem,
             options: DiscoveryOptions = OPTIONS) -> SensorResult:
    """One evaluation of the cup-drive sensor."""
    settings = _settings(drives)
    if isinstance(settings, str):
        return SensorResult(skip_reason=settings)
    if settings.cup_root is None:
        return SensorResult(skip_reason="the cup drive is not configured "
                            "('custom.ephys_root_data_dir' in dj_local_conf.json)")
    with locked_store(store_path(context.instance)) as store:
        result = scan_cup(fs, settings.cup_root, store, options)
    if result.skip_reason:
        return SensorResult(skip_reason=result.skip_reason)
    runs = [
        RunRequest(run_key=s.run_key, partition_key=s.key, job_name=INGEST_JOB, asset_selection=SORT_SIDE,
                   tags={"ephys/kilosort_dir": s.folder})
        for s in result.new_sorts
    ]
    awaiting = int(result.counts.get("rats_awaiting", 0))
    skip = None if runs else (
        f"no new complete Kilosort folder; ingested recordings of {awaiting} rats await their sort"
        + (f"; {'; '.join(result.notes)}" if result.notes else "")
    )
    return SensorResult(run_requests=runs, skip_reason=skip)


def _guarded(tick, name: str):
    def evaluate(context: SensorEvaluationContext, drives: DrivesResource, drive_fs: DriveFileSystemResource):
        try:
            return tick(context, drives, drive_fs.file_system())
        except Exception as exc:  # never crash the daemon: say what happened, keep the cursor
            context.log.exception(f"{name} tick failed")
            return SkipReason(f"{name} tick failed: {type(exc).__name__}: {exc}")

    return evaluate


def build_sensors(ingest_job):
    """The two drive sensors, targeting ``ingest_job`` (the ASSETS engineer's job) and the refresh."""

    @sensor(
        name="archive_drive_sensor",
        jobs=[ingest_job, refresh_unmatched_job],
        minimum_interval_seconds=ARCHIVE_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
        description="Finds new, fully copied SpikeGLX recordings on the archive drive, matches them "
        "to their behaviour session, adds their ephys_recordings partition and requests their "
        "ingestion; keeps ephys/unmatched_recordings current.",
    )
    def archive_drive_sensor(context: SensorEvaluationContext, drives: DrivesResource,
                             drive_fs: DriveFileSystemResource):
        return _guarded(archive_tick, "archive_drive_sensor")(context, drives, drive_fs)

    @sensor(
        name="cup_drive_sensor",
        jobs=[ingest_job],
        minimum_interval_seconds=CUP_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
        description="Finds the Kilosort output of ingested recordings on the cup drive and requests "
        "the Kilosort-dependent assets of their partition.",
    )
    def cup_drive_sensor(context: SensorEvaluationContext, drives: DrivesResource,
                         drive_fs: DriveFileSystemResource):
        return _guarded(cup_tick, "cup_drive_sensor")(context, drives, drive_fs)

    return archive_drive_sensor, cup_drive_sensor


def sensor_definitions(ingest_job=None) -> Definitions:
    """The sensors, the unmatched list asset, its refresh job and the ``drive_fs`` resource.

    ``ingest_job``: the ``ingest_recording`` job the sensors request runs of; by default the one of
    ``brody_assets.ephys.definitions``.
    """
    if ingest_job is None:
        from brody_assets.ephys.definitions import ingest_recording_job as ingest_job
    job = ingest_job
    archive, cup = build_sensors(job)
    return Definitions(
        assets=[unmatched_recordings],
        jobs=[refresh_unmatched_job],
        sensors=[archive, cup],
        resources={"drive_fs": DriveFileSystemResource()},
    )
