"""The integrity checks and the report in a real browser, on a small demo that was observed,
migrated, checked and reported (the ``populated_ui`` fixture)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from brody_assets_tests.ui.browser import click, dialog_expected, open_page
from brody_assets_tests.ui.conftest import FAILING_ASSET, FAILING_CHECK

pytestmark = pytest.mark.browser


def test_failing_check_name_and_count_on_the_asset_page(populated_ui, page, artifacts_dir):
    evaluation = populated_ui.failing_check
    assert not evaluation.passed
    count = int(evaluation.metadata["unexpected_count"].value)
    assert count > 0
    open_page(page, f"{populated_ui.base}/assets/{'/'.join(FAILING_ASSET)}?view=checks")
    check = page.get_by_text(FAILING_CHECK, exact=True).first
    check.wait_for()
    page.screenshot(path=str(artifacts_dir / "ui_checks_tab.png"))
    click(check)
    page.get_by_text("unexpected_count").first.wait_for()
    # the check's result line, e.g. "WARN: 25 unexpected (3.99%); only the WARN part found rows …"
    severity = evaluation.severity.value
    expect(page.locator("body")).to_contain_text(f"{severity}: {count} unexpected")
    page.screenshot(path=str(artifacts_dir / "ui_failing_check.png"), full_page=True)
    body = page.inner_text("body")
    assert "Failed" in body
    # the About text explains both severities; it no longer claims "(ERROR)" for a WARN result
    assert "Two severities: ERROR when" in body and "WARN when only" in body
    assert "(ERROR)." not in body


def test_report_summary_and_html_link_on_its_page(populated_ui, page, artifacts_dir):
    meta = populated_ui.report.metadata
    open_page(page, f"{populated_ui.base}/assets/integrity/report")
    page.get_by_text("html_report_url", exact=True).first.wait_for()
    url = meta["html_report_url"].value
    expect(page.get_by_text(url).first).to_be_visible()
    body = page.inner_text("body")
    for key in ("checks", "passing", "failing_error", "failing_warn", "errored", "generated_at"):
        assert key in body, key
    assert "Great Expectations" in body  # the kind
    # the summary, in markdown: counts by severity and the failing checks by name and count
    row = page.locator("tr", has=page.get_by_text("summary", exact=True))
    with dialog_expected(page):
        click(row.get_by_text("Show Markdown").first)
        dialog = page.locator(".dagster-dialog, [role=dialog]").last
        expect(dialog).to_contain_text("Failing checks (")
        expect(dialog).to_contain_text(FAILING_CHECK)
        expect(dialog).to_contain_text("HTML page")
        page.screenshot(path=str(artifacts_dir / "ui_report_summary.png"))
    expect(page.locator(".dagster-backdrop")).to_have_count(0)
