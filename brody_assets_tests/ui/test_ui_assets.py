"""A migrated table's page in a real browser: its true row count and its columns, and the report
refreshed after a run of the checks started while the UI is up."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from brody_assets_tests.ui.browser import open_page, wait_until
from brody_assets_tests.ui.conftest import FAILING_ASSET

pytestmark = pytest.mark.browser


def test_row_count_of_a_migrated_table(populated_ui, page, artifacts_dir):
    meta = populated_ui.water.metadata
    rows = int(meta["dagster/row_count"].value)
    assert rows == int(meta["table: total rows"].value) > 0
    open_page(page, f"{populated_ui.base}/assets/{'/'.join(FAILING_ASSET)}")
    page.get_by_text("Row count", exact=True).first.wait_for()
    lines = [line.strip() for line in page.inner_text("body").splitlines()]
    assert lines[lines.index("Row count") + 1] in (str(rows), f"{rows:,}")
    # the run's own figures sit beside the table's, named so, with the identity in words
    expect(page.get_by_text(str(meta["run: accounting"].value)).first).to_be_visible()
    expect(page.get_by_text("ledger: quarantined (all time, still open)").first).to_be_visible()
    # Dagster's labels, in the Definition section (rendered by its own query: waited for)
    for text in ("MariaDB", "datajoint", "brody-lab", "registry entry action.water", "DataJoint table Water (new layer)"):
        expect(page.get_by_text(text, exact=True).filter(visible=True).first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui_migrated_water.png"), full_page=True)
    assert "MySQL" not in page.inner_text("body")


def test_column_schema_of_a_migrated_table(populated_ui, page):
    columns = populated_ui.water.metadata["dagster/column_schema"].value.columns
    open_page(page, f"{populated_ui.base}/assets/{'/'.join(FAILING_ASSET)}")
    page.get_by_text("Columns", exact=True).first.wait_for()
    expect(page.get_by_text("PRIMARY KEY (water_id)")).to_be_visible()
    for column in columns:
        expect(page.get_by_text(column.name, exact=True).first).to_be_visible()
    # the DataJoint heading's comments are the descriptions
    expect(page.get_by_text("legacy watering", exact=True).first).to_be_visible()


def _ui_time(moment: dt.datetime) -> str:
    """A timestamp as the UI prints metadata timestamps in UTC, e.g. 'Dec 4, 7:49:49 PM UTC'."""
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'} UTC"


def test_report_is_refreshed_after_a_checks_run(populated_ui, page, artifacts_dir):
    from dagster import AssetKey, DagsterInstance
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    from brody_assets.integrity.report_asset import CHECKS_JOB

    port = int(populated_ui.base.rsplit(":", 1)[1])
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution(CHECKS_JOB, repository_location_name="brody_assets")

    def finished() -> bool:
        try:
            status = client.get_run_status(run_id).value
        except DagsterGraphQLClientError:
            return False
        assert status not in ("CANCELED",), status
        return status in ("SUCCESS", "FAILURE")

    wait_until(finished, f"the {CHECKS_JOB} run", timeout_s=600)
    instance = DagsterInstance.from_config(str(populated_ui.home))
    try:
        ended = instance.get_run_record_by_id(run_id).end_time

        def report_after_run():
            records = instance.fetch_materializations(AssetKey(["integrity", "report"]), limit=1).records
            return records if records and records[0].timestamp > ended else None

        # the sensor asks for a report run after every run that evaluated checks
        wait_until(lambda: report_after_run() is not None, "a report written after the checks run",
                   timeout_s=300)
        record = report_after_run()[0]
        report_run = instance.get_run_by_id(record.run_id)
    finally:
        instance.dispose()
    assert report_run.tags.get("brody/report_after_run") == run_id
    generated = dt.datetime.fromtimestamp(record.asset_materialization.metadata["generated_at"].value, dt.UTC)
    assert generated.timestamp() > ended

    open_page(page, f"{populated_ui.base}/assets/integrity/report")
    page.get_by_text("generated_at", exact=True).first.wait_for()
    expect(page.get_by_text(_ui_time(generated)).first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui_report_refreshed.png"), full_page=True)
    assert "integrity_report_after_checks" in page.inner_text("body")  # the sensor, under Automation
