"""The integrity report in a real browser: a migrated asset with a failing check shows the check's
name and its failing count on the asset's Checks tab (issue 5)."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest

from brody_assets.config import PROJECT_ROOT
from brody_assets.db import bootstrap
from brody_assets_tests.conftest import make_settings, write_config
from brody_assets_tests.ui.conftest import dismiss_welcome, start_dagster_dev, stop_dagster_dev

pytestmark = pytest.mark.browser
ASSET = ("migrated", "action", "water")
CHECK = "water_ratname_in_rats"


@pytest.fixture(scope="module")
def populated_ui(mariadb_server, prefix_factory, tmp_path_factory):
    """A small demo database migrated and checked into a persistent instance, served by dagster dev."""
    from dagster import DagsterInstance

    from brody_assets.demo.legacy import build_legacy_database

    prefix = prefix_factory()
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        build_legacy_database(admin, prefix, scale="small", seed=3, end_date=dt.date(2026, 11, 20))
        bootstrap(admin, settings)
    conf = write_config(settings, tmp_path_factory.mktemp("conf") / "dj_local_conf.json")
    home = tmp_path_factory.mktemp("dagster_home_populated")
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", home / "dagster.yaml")
    previous = os.environ.get("BRODY_CONFIG")
    os.environ["BRODY_CONFIG"] = str(conf)
    try:
        from brody_assets.definitions import defs

        instance = DagsterInstance.from_config(str(home))
        defs.resolve_job_def("migrate_all").execute_in_process(instance=instance, raise_on_error=False)
        checks = defs.resolve_job_def("integrity_checks").execute_in_process(
            instance=instance, raise_on_error=False
        )
        evaluation = next(
            e.event_specific_data for e in checks.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name == CHECK
            and tuple(e.event_specific_data.asset_key.path) == ASSET
        )
        instance.dispose()
    finally:
        if previous is None:
            os.environ.pop("BRODY_CONFIG", None)
        else:
            os.environ["BRODY_CONFIG"] = previous
    process, base, _ = start_dagster_dev(home, env_extra={"BRODY_CONFIG": str(conf)})
    yield base, evaluation
    stop_dagster_dev(process)


def test_failing_check_name_and_count_on_the_asset_page(populated_ui, page, artifacts_dir):
    base, evaluation = populated_ui
    assert not evaluation.passed
    count = int(evaluation.metadata["unexpected_count"].value)
    assert count > 0
    page.goto(f"{base}/assets/{'/'.join(ASSET)}?view=checks", wait_until="domcontentloaded")
    dismiss_welcome(page)
    page.get_by_text(CHECK, exact=True).first.wait_for(timeout=60000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts_dir / "ui_checks_tab.png"))
    assert CHECK in page.inner_text("body")
    page.get_by_text(CHECK, exact=True).first.click()
    page.get_by_text("unexpected_count").first.wait_for(timeout=30000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts_dir / "ui_failing_check.png"), full_page=True)
    body = page.inner_text("body")
    assert "unexpected_count" in body
    assert f"{count} unexpected" in body  # the check's description line, e.g. "25 unexpected (3.99%)"
    assert "Failed" in body
