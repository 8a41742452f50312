"""The whole Definitions load, fast and without I/O, and match the reviewed snapshot of keys."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from brody_assets.config import PROJECT_ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


def _inventory() -> str:
    from brody_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    lines = [f"asset {k.to_user_string()}" for k in sorted(graph.get_all_asset_keys(), key=str)]
    lines += [
        f"check {k.asset_key.to_user_string()}:{k.name}"
        for k in sorted(graph.asset_check_keys, key=lambda k: (str(k.asset_key), k.name))
    ]
    lines += [f"job {j.name}" for j in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)
              if not j.name.startswith("__")]
    lines += [f"schedule {s.name}" for s in sorted(defs.schedules or [], key=lambda s: s.name)]
    lines += [f"sensor {s.name}" for s in sorted(defs.sensors or [], key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


def test_definitions_match_snapshot():
    """A rename or a lost asset shows up here; regenerate with UPDATE_SNAPSHOTS=1 after review."""
    current = _inventory()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text()


def test_legacy_group_holds_the_19_source_tables():
    from brody_assets.definitions import defs
    from brody_assets.legacy.catalog import LEGACY_TABLES

    graph = defs.resolve_asset_graph()
    legacy = {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "legacy"}
    assert len(LEGACY_TABLES) == 19
    assert legacy == {f"legacy/{t.schema}/{t.name}" for t in LEGACY_TABLES}
    for key in graph.get_all_asset_keys():
        if key.path[0] == "legacy":
            assert graph.get(key).group_name == "legacy"


def test_import_opens_no_connection_and_is_fast(tmp_path):
    """Importing the definitions with no config and no server must work (nothing connects at import)."""
    code = (
        "import time; t = time.perf_counter();"
        "import brody_assets.definitions as d; d.defs.resolve_asset_graph();"
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "BRODY_CONFIG": str(tmp_path / "missing.json"), "DJ_HOST": "192.0.2.1"}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "great_expectations" not in out.stderr
    assert time.perf_counter() - started < 60


def test_dagster_definitions_validate(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    out = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(PROJECT_ROOT / "workspace.yaml")],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in out.stdout + out.stderr
