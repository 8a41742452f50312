"""An ephys partition in a real browser: its page shows the recording's metadata and the unit
summary picture (issue 11, "Show it")."""

from __future__ import annotations

import shutil
import urllib.parse

import pytest

from brody_assets.config import PROJECT_ROOT
from brody_assets.ephys.partitions import RECORDINGS, recording_key
from brody_assets_tests.conftest import write_config
from brody_assets_tests.ephys.ephys_support import build_ephys_demo
from brody_assets_tests.ui.browser import dialog_expected, open_page
from brody_assets_tests.ui.conftest import brody_config, start_dagster_dev, stop_dagster_dev

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ephys_ui(mariadb_server, prefix_factory, tmp_path_factory):
    """One demo recording ingested into a persistent instance, served by dagster dev."""
    from dagster import DagsterInstance

    folder = tmp_path_factory.mktemp("ephys_ui")
    settings, manifest = build_ephys_demo(mariadb_server, prefix_factory(), folder)
    conf = write_config(settings, folder / "dj_local_conf.json")
    probe = next(r for r in manifest if r["expected_error"] is None)["probes"][0]
    key = recording_key(probe["ap_meta"])
    home = tmp_path_factory.mktemp("dagster_home_ephys")
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", home / "dagster.yaml")
    with brody_config(conf):
        from brody_assets.definitions import defs

        instance = DagsterInstance.from_config(str(home))
        instance.add_dynamic_partitions(RECORDINGS.name, [key])
        result = defs.resolve_job_def("ingest_recording").execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False)
        assert result.success
        instance.dispose()
    process, base, _ = start_dagster_dev(home, env_extra={"BRODY_CONFIG": str(conf)})
    yield base, key, probe
    stop_dagster_dev(process)


def _open_partition(page, base: str, asset: str, key: str) -> None:
    open_page(page, f"{base}/assets/ephys/{asset}?view=partitions&partition={urllib.parse.quote(key, safe='')}")


def test_raw_recording_partition_shows_its_metadata(ephys_ui, page, artifacts_dir):
    base, key, probe = ephys_ui
    _open_partition(page, base, "raw_recording", key)
    page.get_by_text("probe_serial").first.wait_for(timeout=60000)
    page.get_by_text(probe["serial"]).first.wait_for(timeout=60000)
    page.screenshot(path=str(artifacts_dir / "ui_ephys_raw_recording.png"), full_page=True)
    body = page.inner_text("body")
    for name in ("duration_s", "channels", "ap_bytes", "sample_rate_measured_hz", "sample_rate_nominal_hz"):
        assert name in body
    assert probe["serial"] in body
    assert "30000.5" in body


def test_waveform_set_partition_shows_the_unit_summary_picture(ephys_ui, page, artifacts_dir):
    base, key, probe = ephys_ui
    _open_partition(page, base, "waveform_set", key)
    page.get_by_text("units_with_waveform").first.wait_for(timeout=60000)
    units = sum(1 for u in probe["units"] if u["n_spikes"] > 0)
    assert "unit_summary" in page.inner_text("body")
    with dialog_expected(page):  # the markdown opens in a dialog on purpose: keep it open
        page.get_by_text("[Show Markdown]").first.click(timeout=30000)
        image = page.locator("img[src^='data:image/png;base64,']").first
        image.wait_for(timeout=30000)
        page.wait_for_function(
            "() => [...document.images].some(i => i.src.startsWith('data:image/png') && i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=str(artifacts_dir / "ui_ephys_unit_summary.png"))
        width = image.evaluate("img => img.naturalWidth")
    assert width >= 800  # the decoded picture, not a broken-image icon
    assert units > 0
