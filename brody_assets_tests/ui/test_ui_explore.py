import pytest

from brody_assets_tests.ui.browser import open_page

pytestmark = pytest.mark.browser


def test_explore(populated_ui, page, artifacts_dir):
    base = populated_ui.base
    for name, url in [("water", "/assets/migrated/action/water"), ("report", "/assets/integrity/report"),
                      ("legacywater", "/assets/legacy/ratinfo/water")]:
        open_page(page, base + url)
        page.get_by_text("Latest materialization").or_(page.get_by_text("Latest observation")).first.wait_for()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts_dir / f"explore_{name}.png"), full_page=True)
        (artifacts_dir / f"explore_{name}.txt").write_text(page.inner_text("body"))
