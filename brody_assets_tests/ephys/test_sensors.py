"""The drive sensors evaluated through Dagster's own test API on a real instance, the real test
server and the demo drives: new recording → partition → one run → ephys tables; copies awaited;
bad input on the unmatched list; a missing drive skips the tick naming its root."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    Definitions,
    build_sensor_context,
    in_process_executor,
    instance_for_test,
)

from brody_assets.demo.record import copy_like_a_transfer, pick_session, stage
from brody_assets.ephys.definitions import ephys_definitions
from brody_assets.ephys.partitions import RECORDINGS, recording_key
from brody_assets.ephys.sensor_state import locked_store, store_path
from brody_assets.ephys.sensors import (
    REFRESH_JOB,
    SORT_SIDE,
    DriveFileSystemResource,
    sensor_definitions,
)
from brody_assets.ephys.unmatched import UNMATCHED_KEY
from brody_assets.resources import DataJointResource, DrivesResource
from brody_assets_tests.conftest import write_config
from brody_assets_tests.ephys.ephys_support import build_ephys_demo

UNMATCHED_DEFECTS = {"truncated_bin": "size_mismatch", "half_copied": "missing_bin",
                     "symlink_outside": "symlink_outside_root"}


def _defs(conf: Path) -> Definitions:
    return Definitions.merge(
        ephys_definitions(),
        Definitions(resources={"datajoint": DataJointResource(config_file=str(conf)),
                               "drives": DrivesResource(config_file=str(conf))},
                    executor=in_process_executor),
    )


class Ticker:
    """Evaluates a sensor as the daemon would: keeps its cursor, applies its partition requests."""

    def __init__(self, instance, defs: Definitions, conf: Path) -> None:
        self.instance, self.defs, self.conf = instance, defs, conf
        self.cursors: dict[str, str | None] = {}

    def tick(self, name: str = "archive_drive_sensor"):
        sensor = self.defs.resolve_sensor_def(name)
        context = build_sensor_context(
            instance_ref=self.instance.get_ref(), cursor=self.cursors.get(name), definitions=self.defs,
            resources={"drives": DrivesResource(config_file=str(self.conf)),
                       "drive_fs": DriveFileSystemResource()},
        )
        data = sensor.evaluate_tick(context)
        self.cursors[name] = data.cursor
        for request in data.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return data


def _ingest(data):
    return [r for r in data.run_requests if r.job_name == "ingest_recording"]


@pytest.fixture(scope="module")
def demo(mariadb_server, prefix_factory, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ephys_sensor")
    settings, manifest = build_ephys_demo(mariadb_server, prefix_factory(), folder)
    conf = write_config(settings, folder / "dj_local_conf.json")
    return settings, manifest, conf, folder


def test_new_recordings_become_partitions_and_runs_once(demo, mariadb_server):
    settings, manifest, conf, _ = demo
    defs = _defs(conf)
    with instance_for_test() as instance:
        ticker = Ticker(instance, defs, conf)
        first = ticker.tick()
        assert _ingest(first) == []  # everything seen once: sizes must hold for one more tick
        second = ticker.tick()
        requested = {r.partition_key: r for r in _ingest(second)}
        expected = {recording_key(p["ap_meta"]) for rec in manifest if rec["defect"] not in UNMATCHED_DEFECTS
                    for p in rec["probes"]}
        assert set(requested) == expected
        assert set(instance.get_dynamic_partitions(RECORDINGS.name)) == expected
        for key, request in requested.items():
            size = (Path(settings.archive_root) / (key + ".ap.bin")).stat().st_size
            assert request.run_key == f"{key}|{size}"
            assert request.tags["ephys/sessid"].isdigit()
        # the two probes of one session map to the same behaviour session
        two = next(rec for rec in manifest if len(rec["probes"]) == 2)
        sessids = {requested[recording_key(p["ap_meta"])].tags["ephys/sessid"] for p in two["probes"]}
        assert len(sessids) == 1
        third = ticker.tick()
        assert third.run_requests == [] and third.skip_message
        assert "no new complete recording" in third.skip_message

        # the unmatched list: each bad recording with its reason, refreshed through its job
        with locked_store(store_path(instance), write=False) as store:
            reasons = {e.key: e.reason_code for e in store.unmatched_rows()}
        for rec in manifest:
            if rec["defect"] in UNMATCHED_DEFECTS:
                assert reasons[recording_key(rec["probes"][0]["ap_meta"])] == UNMATCHED_DEFECTS[rec["defect"]]
        assert len(reasons) == len(UNMATCHED_DEFECTS)
        assert any(r.job_name == REFRESH_JOB for r in first.run_requests + second.run_requests)
        refresh = defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=instance)
        assert refresh.success
        meta = refresh.asset_materializations_for_node("ephys__unmatched_recordings")[0].metadata
        assert meta["dagster/row_count"].value == len(UNMATCHED_DEFECTS)
        assert "size_mismatch" in meta["unmatched"].value and "symlink_outside_root" in meta["unmatched"].value

        # one requested run, executed: the ephys tables hold the recording
        clean = recording_key(manifest[0]["probes"][0]["ap_meta"])
        job = defs.resolve_job_def("ingest_recording")
        result = job.execute_in_process(instance=instance, partition_key=clean,
                                        tags=dict(requested[clean].tags), raise_on_error=False)
        assert result.success
        with mariadb_server.admin_connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}ephys`.`_ephys_recording`")
            assert cur.fetchone()[0] == 1
            cur.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}ephys`.`_curated_clustering__unit`")
            assert cur.fetchone()[0] == len(manifest[0]["probes"][0]["units"])


def test_a_growing_copy_is_ingested_only_once_settled(demo):
    settings, _, conf, folder = demo
    defs = _defs(conf)
    archive = Path(settings.archive_root)
    import pymysql

    db = settings.database
    with pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal()) as conn:
        rec = pick_session(conn, settings.new_prefix, archive, layout="underscore")
    _, raw, _ = stage(rec, folder / "staging-growing")
    with instance_for_test() as instance:
        ticker = Ticker(instance, defs, conf)
        ticker.tick()
        ticker.tick()  # the demo's own recordings are requested; now the new copy starts
        seen = []

        def tick_during_copy(transfer, written, total):
            data = ticker.tick()
            seen.append((transfer.rel, written, total, _ingest(data)))

        copy_like_a_transfer(raw, archive, seconds=0.0, chunks=4, after_chunk=tick_during_copy)
        assert all(requests == [] for *_, requests in seen)  # never while copying
        growing = [(w, n) for rel, w, n, _ in seen if rel.endswith(".ap.bin") and w < n]
        assert len(growing) == 3
        key = recording_key(next(t.rel for t in raw if t.rel.endswith(".ap.meta")))
        with locked_store(store_path(instance), write=False) as store:
            assert key not in store.recordings
        settled = ticker.tick()  # sizes as in the previous tick: complete
        assert [r.partition_key for r in _ingest(settled)] == [key]
        assert _ingest(ticker.tick()) == []


def test_the_cup_sensor_requests_the_kilosort_assets_when_the_sort_lands(demo):
    settings, _, conf, folder = demo
    defs = _defs(conf)
    archive, cup = Path(settings.archive_root), Path(settings.cup_root)
    import pymysql

    db = settings.database
    with pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal()) as conn:
        rec = pick_session(conn, settings.new_prefix, archive, layout="date_only")
    _, raw, sort = stage(rec, folder / "staging-sort")
    copy_like_a_transfer(raw, archive, seconds=0.0)
    with instance_for_test() as instance:
        ticker = Ticker(instance, defs, conf)
        ticker.tick()
        second = ticker.tick()
        key = recording_key(next(t.rel for t in raw if t.rel.endswith(".ap.meta")))
        request = next(r for r in _ingest(second) if r.partition_key == key)
        assert request.tags["ephys/kilosort_dir"] == "none yet"
        job = defs.resolve_job_def("ingest_recording")
        assert job.execute_in_process(instance=instance, partition_key=key, tags=dict(request.tags)).success

        def units() -> int:
            with pymysql.connect(host=db.host, port=db.port, user=db.user,
                                 password=db.password.reveal()) as conn, conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}ephys`.`_curated_clustering__unit` "
                            "WHERE ratname = %s", (rec.ratname,))
                return cur.fetchone()[0]

        assert units() == 0  # the raw side is in; no sort yet
        quiet = ticker.tick("cup_drive_sensor")
        assert quiet.run_requests == [] and "await their sort" in quiet.skip_message
        copy_like_a_transfer(sort, cup, seconds=0.0)
        assert ticker.tick("cup_drive_sensor").run_requests == []  # first sight of the folder
        found = ticker.tick("cup_drive_sensor").run_requests
        assert [(r.partition_key, list(r.asset_selection)) for r in found] == [(key, SORT_SIDE)]
        assert ticker.tick("cup_drive_sensor").run_requests == []
        sorted_run = job.execute_in_process(instance=instance, partition_key=key, asset_selection=SORT_SIDE,
                                            tags=dict(found[0].tags))
        assert sorted_run.success
        assert units() > 0


def test_a_drive_that_is_not_mounted_skips_the_tick_naming_its_root(demo, tmp_path):
    settings, _, _, _ = demo
    gone = tmp_path / "not-mounted"
    conf = write_config(dataclasses.replace(settings, archive_root=gone, cup_root=gone), tmp_path / "conf.json")
    defs = _defs(conf)
    with instance_for_test() as instance:
        ticker = Ticker(instance, defs, conf)
        data = ticker.tick()
        assert data.run_requests == [] and str(gone) in data.skip_message
        cup = ticker.tick("cup_drive_sensor")
        assert cup.run_requests == [] and str(gone) in cup.skip_message


def test_the_sensors_are_on_by_default_and_the_list_asset_is_unpartitioned():
    defs = sensor_definitions()
    archive, cup = sorted(defs.sensors, key=lambda s: s.name)
    assert archive.default_status.value == "RUNNING" and cup.default_status.value == "RUNNING"
    assert archive.minimum_interval_seconds == 30 and cup.minimum_interval_seconds == 60
    spec = next(a for a in defs.assets if UNMATCHED_KEY in a.keys)
    assert spec.partitions_def is None
    assert AssetKey(["ephys", "unmatched_recordings"]) == UNMATCHED_KEY


def test_the_daemon_ingests_a_new_recording_by_itself(demo, mariadb_server, tmp_path):
    """A real ``dagster-daemon`` on a temporary DAGSTER_HOME (5 s ticks): a recording copied onto
    a drive is found, its partition added, one run launched and the ephys tables filled."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import pymysql
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from brody_assets.config import PROJECT_ROOT

    settings, _, _, folder = demo
    archive, cup = tmp_path / "archive", tmp_path / "cup"
    archive.mkdir()
    cup.mkdir()
    conf = write_config(dataclasses.replace(settings, archive_root=archive, cup_root=cup), tmp_path / "conf.json")
    db = settings.database
    with pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal()) as conn:
        rec = pick_session(conn, settings.new_prefix, archive, layout="date_only", oldest=True)
    _, raw, sort = stage(rec, tmp_path / "staging")
    copy_like_a_transfer(raw, archive, seconds=0.0)
    copy_like_a_transfer(sort, cup, seconds=0.0)
    key = recording_key(next(t.rel for t in raw if t.rel.endswith(".ap.meta")))

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "BRODY_CONFIG": str(conf),
           "BRODY_SENSOR_INTERVAL_S": "5", "PYTHONPATH": str(PROJECT_ROOT)}
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed in the finally below
    daemon = subprocess.Popen([str(daemon_bin), "run", "-m", "brody_assets.definitions"], env=env,
                              cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        instance = DagsterInstance.from_config(str(home))
        deadline, run = time.monotonic() + 300, None
        while time.monotonic() < deadline:
            runs = instance.get_runs(RunsFilter(job_name="ingest_recording"))
            if runs and runs[0].status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE):
                run = runs[0]
                break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(2)
        assert run is not None, "no finished ingest run within 300 s: " + (tmp_path / "daemon.log").read_text()[-3000:]
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == key
        assert instance.get_dynamic_partitions(RECORDINGS.name) == [key]
        time.sleep(12)  # two more ticks: nothing new is requested
        assert len(instance.get_runs(RunsFilter(job_name="ingest_recording"))) == 1
        ticks = instance.get_ticks(
            next(s for s in instance.all_instigator_state() if s.name == "archive_drive_sensor").instigator_origin_id,
            next(s for s in instance.all_instigator_state() if s.name == "archive_drive_sensor").selector_id,
        )
        assert any(t.skip_reason and "no new complete recording" in t.skip_reason for t in ticks)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
    run_name = f"{rec.date.isoformat()}_g0"  # the date_only layout's SpikeGLX run
    with mariadb_server.admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}ephys`.`_ephys_recording` "
                    "WHERE ratname = %s AND run = %s", (rec.ratname, run_name))
        assert cur.fetchone()[0] == 1
        cur.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}ephys`.`_curated_clustering__unit` "
                    "WHERE ratname = %s AND run = %s", (rec.ratname, run_name))
        assert cur.fetchone()[0] > 0


def test_recordings_whose_partition_exists_are_not_requested_again(demo):
    """E.g. ingested by `brody-assets materialize` before the sensor first ran."""
    settings, manifest, conf, _ = demo
    defs = _defs(conf)
    done = recording_key(manifest[0]["probes"][0]["ap_meta"])
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(RECORDINGS.name, [done])
        ticker = Ticker(instance, defs, conf)
        ticker.tick()
        requested = {r.partition_key for r in _ingest(ticker.tick())}
        assert done not in requested and len(requested) > 0
        with locked_store(store_path(instance), write=False) as store:
            assert done in store.recordings  # known, so later changes to it are still reported


def test_demo_record_drops_a_whole_recording_then_its_sort(demo, tmp_path):
    from brody_assets.cli import parser
    from brody_assets.demo.record import record

    args = parser().parse_args(["demo", "record", "--rat", "A230", "--date", "2019-08-09", "--copy-seconds", "2",
                                "--no-sort"])
    assert (args.rat, str(args.date), args.copy_seconds, args.no_sort) == ("A230", "2019-08-09", 2.0, True)
    settings, _, _, _ = demo
    lines: list[str] = []
    manifest = record(settings, layout="underscore", copy_seconds=0.5, sort_delay_s=0.0, log=lines.append)
    archive, cup = Path(settings.archive_root), Path(settings.cup_root)
    for rel in manifest["archive_files"]:
        assert (archive / rel).is_file()
    for rel in manifest["cup_files"]:
        assert (cup / rel).is_file()
    assert any("copying" in line for line in lines) and lines[-1].startswith("Kilosort output written")
    with pytest.raises(RuntimeError, match="no migrated behaviour session"):
        record(settings, ratname="NOPE", copy_seconds=0.0, log=lines.append)


def test_a_changed_recording_is_reported_and_ingested_afresh_once_its_partition_is_deleted(demo):
    settings, _, conf, folder = demo
    defs = _defs(conf)
    archive = Path(settings.archive_root)
    import pymysql

    db = settings.database
    with pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal()) as conn:
        rec = pick_session(conn, settings.new_prefix, archive, layout="standard", oldest=True)
    _, raw, _ = stage(rec, folder / "staging-changed")
    copy_like_a_transfer(raw, archive, seconds=0.0)
    key = recording_key(next(t.rel for t in raw if t.rel.endswith(".ap.meta")))
    with instance_for_test() as instance:
        ticker = Ticker(instance, defs, conf)
        ticker.tick()
        first = {r.partition_key: r.run_key for r in _ingest(ticker.tick())}
        size = (archive / (key + ".ap.bin")).stat().st_size
        assert first[key] == f"{key}|{size}"
        with open(archive / (key + ".ap.bin"), "ab") as handle:  # someone re-copies a longer take into it
            handle.write(b"\0" * 770)  # one more sample of 385 channels
        meta = archive / (key + ".ap.meta")
        meta.write_text("".join(f"fileSizeBytes={size + 770}\n" if line.startswith("fileSizeBytes=") else line
                                for line in meta.read_text().splitlines(keepends=True)))
        for _ in range(2):
            assert _ingest(ticker.tick()) == []  # reported, never re-requested by itself
        with locked_store(store_path(instance), write=False) as store:
            assert store.unmatched[key + ".ap.bin"].reason_code == "changed_after_ingestion"
        instance.delete_dynamic_partition(RECORDINGS.name, key)  # the data manager's decision
        requests = []
        for _ in range(3):
            requests += _ingest(ticker.tick())
        assert [(r.partition_key, r.run_key) for r in requests] == [(key, f"{key}|{size + 770}|1")]
        assert key in instance.get_dynamic_partitions(RECORDINGS.name)
