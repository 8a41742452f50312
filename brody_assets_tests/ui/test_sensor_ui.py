"""The drive sensors in a real browser: the sensor's page shows its ticks (with their skip reasons)
and ``ephys/unmatched_recordings`` renders its table of refused folders (issue 12, "Show it")."""

from __future__ import annotations

import shutil
import time

import pytest

from brody_assets.config import PROJECT_ROOT
from brody_assets_tests.conftest import write_config
from brody_assets_tests.ephys.ephys_support import build_ephys_demo
from brody_assets_tests.ui.browser import open_page
from brody_assets_tests.ui.conftest import start_dagster_dev, stop_dagster_dev

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sensor_ui(mariadb_server, prefix_factory, tmp_path_factory):
    """The demo drives scanned by the sensor (two ticks, so nothing is left to ingest in the UI
    session), the unmatched list materialized, then `dagster dev` with 5 s ticks."""
    from dagster import DagsterInstance, build_sensor_context

    from brody_assets.ephys.definitions import ephys_definitions
    from brody_assets.ephys.sensors import REFRESH_JOB, DriveFileSystemResource
    from brody_assets.resources import DataJointResource, DrivesResource

    folder = tmp_path_factory.mktemp("sensor_ui")
    settings, manifest = build_ephys_demo(mariadb_server, prefix_factory(), folder)
    conf = write_config(settings, folder / "dj_local_conf.json")
    home = tmp_path_factory.mktemp("dagster_home_sensor")
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    from dagster import Definitions, in_process_executor

    defs = Definitions.merge(ephys_definitions(), Definitions(
        resources={"datajoint": DataJointResource(config_file=str(conf)),
                   "drives": DrivesResource(config_file=str(conf))}, executor=in_process_executor))
    sensor, cursor = defs.resolve_sensor_def("archive_drive_sensor"), None
    for _ in range(2):
        data = sensor.evaluate_tick(build_sensor_context(
            instance_ref=instance.get_ref(), cursor=cursor, definitions=defs,
            resources={"drives": DrivesResource(config_file=str(conf)), "drive_fs": DriveFileSystemResource()}))
        cursor = data.cursor
        for request in data.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    assert defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=instance).success
    instance.dispose()
    process, base, log = start_dagster_dev(home, env_extra={"BRODY_CONFIG": str(conf),
                                                            "BRODY_SENSOR_INTERVAL_S": "5"})
    try:
        watcher = DagsterInstance.from_config(str(home))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [s for s in watcher.all_instigator_state() if s.name == "archive_drive_sensor"]
            if states and len(watcher.get_ticks(states[0].instigator_origin_id, states[0].selector_id)) >= 2:
                break
            time.sleep(2)
        else:
            raise AssertionError("the daemon of dagster dev ticked the sensor less than twice in 120 s:\n"
                                 + log.read_text()[-3000:])
        watcher.dispose()
        yield base
    finally:
        stop_dagster_dev(process)


def test_the_sensor_page_shows_its_ticks(sensor_ui, page, artifacts_dir):
    open_page(page, f"{sensor_ui}/locations/brody_assets/sensors/archive_drive_sensor")
    page.get_by_text("archive_drive_sensor").first.wait_for(timeout=30000)
    page.get_by_text("Latest tick").first.wait_for(timeout=30000)
    page.get_by_text("0 runs requested").nth(2).wait_for(timeout=30000)  # the tick table has rows
    page.screenshot(path=str(artifacts_dir / "sensor_ticks.png"), full_page=True)
    body = page.inner_text("body")
    assert "Running" in body  # on by default
    assert "refresh_unmatched_recordings" in body and "ingest_recording" in body  # its targets
    assert body.count("0 runs requested") >= 3  # latest tick + at least two rows of ticks


def test_the_unmatched_list_renders(sensor_ui, page, artifacts_dir):
    open_page(page, f"{sensor_ui}/assets/ephys/unmatched_recordings")
    for reason in ("size_mismatch", "missing_bin", "symlink_outside_root"):
        page.get_by_text(reason).first.wait_for(timeout=30000)
    page.screenshot(path=str(artifacts_dir / "unmatched_recordings.png"), full_page=True)
