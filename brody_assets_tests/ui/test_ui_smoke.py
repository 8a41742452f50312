"""The Dagster UI in a real browser on a fresh instance: the legacy group, its tables, and what a
legacy asset's page says before anything ran (description, kind, owners, columns from the DDL)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from brody_assets.legacy.catalog import LEGACY_TABLES
from brody_assets_tests.ui.browser import click, open_page

pytestmark = pytest.mark.browser


def test_asset_graph_shows_the_legacy_group(dagster_ui, page, artifacts_dir):
    open_page(page, f"{dagster_ui}/locations/brody_assets/asset-groups/legacy")
    page.get_by_text("Asset Group in").first.wait_for()
    # the graph draws the nodes in view only: wait for one of the group's tables
    names = [table.name for table in LEGACY_TABLES]
    page.locator("body").get_by_text(names[0], exact=True).or_(
        page.get_by_text("Never observed")
    ).first.wait_for()
    page.screenshot(path=str(artifacts_dir / "ui_legacy_group.png"))
    body = page.inner_text("body")
    lines = [line.strip() for line in body.splitlines()]
    assert lines[lines.index("Asset Group in") - 1] == "legacy"
    assert "brody_assets" in body

    # the List tab of the group: all 19 legacy tables, by key
    click(page.get_by_text("List", exact=True).first)
    for table in LEGACY_TABLES:
        link = page.get_by_role("link", name=f"legacy / {table.schema} / {table.name}").first
        expect(link).to_be_visible()


def test_legacy_asset_page_before_any_observation(dagster_ui, page, artifacts_dir):
    open_page(page, f"{dagster_ui}/assets/legacy/ratinfo/water")
    page.get_by_text("Water administered to each rat").first.wait_for()
    columns = page.get_by_text("Columns", exact=True).first
    columns.wait_for()
    # the column schema, from the lab's DDL: the primary key and the window's date column
    expect(page.get_by_text("PRIMARY KEY (watering)")).to_be_visible()
    expect(page.get_by_text("watering", exact=True).first).to_be_visible()
    expect(page.get_by_text("the date the migration's days_back window and the newest date read").first).to_be_visible()
    # kind, owner (custom.owners, default team:brody-lab) and the code reference to the catalog
    for text in ("MariaDB", "brody-lab", "legacy catalog entry ratinfo.water"):
        expect(page.get_by_text(text, exact=True).filter(visible=True).first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui_legacy_water.png"), full_page=True)
    assert "MySQL" not in page.inner_text("body")
