"""Where the project keeps its local state (never in git): ``$BRODY_HOME`` or ``<repo>/.brody``."""

from __future__ import annotations

import os
from pathlib import Path

from brody_assets.config import PROJECT_ROOT


def state_home() -> Path:
    return Path(os.environ.get("BRODY_HOME", PROJECT_ROOT / ".brody")).resolve()


def server_home() -> Path:
    return state_home() / "mariadb"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", state_home() / "dagster_home")).resolve()


def demo_home() -> Path:
    return state_home() / "demo"
