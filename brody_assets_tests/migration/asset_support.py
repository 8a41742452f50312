"""Shared set-up of the tests that run the migration as Dagster assets on the real server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dagster import Definitions, in_process_executor

from brody_assets.config import Settings
from brody_assets.db import MariaDBServer, bootstrap
from brody_assets_tests.conftest import make_settings

END_DATE = dt.date(2026, 11, 20)


def demo_legacy(server: MariaDBServer, prefix: str, *, seed: int, end_date: dt.date = END_DATE) -> tuple[Settings, dict]:
    """A small demo legacy database under ``prefix``, bootstrapped for the pipeline: its
    settings and the generator's manifest."""
    from brody_assets.demo.legacy import build_legacy_database

    settings = make_settings(server, prefix)
    with server.admin_connect() as admin:
        manifest = build_legacy_database(admin, prefix, scale="small", seed=seed, end_date=end_date)
        bootstrap(admin, settings)
    return settings, manifest


def migration_defs(conf: Path) -> Definitions:
    """The migration's assets and jobs on the configuration file ``conf``, run in process."""
    from brody_assets.migration.assets import migration_definitions
    from brody_assets.resources import MigrationResource

    parts = migration_definitions()
    return Definitions(assets=parts.assets, jobs=parts.jobs,
                       resources={"migration": MigrationResource(config_file=str(conf))},
                       executor=in_process_executor)
