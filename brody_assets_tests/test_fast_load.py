"""Loading the code location imports no heavy library (README: a fast code location).

Every run process, sensor evaluation and UI reload loads the Definitions; DataJoint, GX,
matplotlib and spikeinterface are imported only inside the steps that use them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from brody_assets.config import PROJECT_ROOT

HEAVY = ("datajoint", "great_expectations", "matplotlib", "spikeinterface")


def test_loading_the_definitions_imports_no_heavy_library(tmp_path):
    code = (
        "import sys, json; import brody_assets.definitions as d; d.defs.get_repository_def(); "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "BRODY_CONFIG": str(tmp_path / "none.json")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == [], f"loading brody_assets.definitions imported {imported}"


def test_static_definitions_equal_the_datajoint_classes():
    """The column types the checks use (read without DataJoint) are the DataJoint classes' own."""
    from brody_assets.migration.schemas.naming import SCHEMA_MODULES, iter_table_classes
    from brody_assets.migration.schemas.static import static_definitions

    static = static_definitions()
    real = {
        (module.__name__.rsplit(".", 1)[1], path): cls.definition
        for layer in SCHEMA_MODULES.values()
        for module in layer.values()
        for path, cls, _ in iter_table_classes(module)
    }
    assert len(real) >= 40
    assert static == real
