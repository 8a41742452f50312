"""The Dagster UI in a real browser: the asset graph shows the legacy group and its tables."""

from __future__ import annotations

import pytest

from brody_assets.legacy.catalog import LEGACY_TABLES
from brody_assets_tests.ui.conftest import dismiss_welcome

pytestmark = pytest.mark.browser


def test_asset_graph_shows_the_legacy_group(dagster_ui, page, artifacts_dir):
    page.goto(f"{dagster_ui}/locations/brody_assets/asset-groups/legacy", wait_until="domcontentloaded")
    dismiss_welcome(page)
    page.get_by_text("Asset Group in").first.wait_for(timeout=60000)
    page.get_by_text("rig_maintenance", exact=True).first.wait_for(timeout=30000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts_dir / "ui_legacy_group.png"))
    body = page.inner_text("body")
    lines = [line.strip() for line in body.splitlines()]
    assert lines[lines.index("Asset Group in") - 1] == "legacy"
    assert "brody_assets" in body

    # the List tab of the group: all 19 legacy tables, by key
    page.get_by_text("List", exact=True).first.click()
    page.get_by_text("training_room").first.wait_for(timeout=30000)
    page.wait_for_timeout(1000)
    listing = page.inner_text("body")
    for table in LEGACY_TABLES:
        assert table.name in listing, table.name

    page.goto(f"{dagster_ui}/assets/legacy/ratinfo/water", wait_until="domcontentloaded")
    page.get_by_text("Water administered to each rat").first.wait_for(timeout=30000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts_dir / "ui_legacy_water.png"))
    assert "legacy_table" in page.inner_text("body") or "ratinfo.water" in page.inner_text("body")
