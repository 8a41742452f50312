"""Helpers shared by the ASSETS engineer's ephys tests: settings on the test server's admin account."""

from __future__ import annotations

from pathlib import Path

from brody_assets.config import DatabaseSettings, Secret, Settings
from brody_assets_tests.conftest import TEST_ADMIN_PASSWORD, TEST_ADMIN_USER


def admin_settings(server, prefix: str, archive: Path | None = None, cup: Path | None = None,
                   legacy_prefix: str = "") -> Settings:
    """Settings that write under ``prefix`` as the test admin (which may create any schema)."""
    db = DatabaseSettings("127.0.0.1", server.port, TEST_ADMIN_USER, Secret(TEST_ADMIN_PASSWORD))
    return Settings(database=db, legacy=db, legacy_schema_prefix=legacy_prefix,
                    new_prefix=f"{prefix}new_", shadow_prefix=f"{prefix}shadow_",
                    archive_root=archive, cup_root=cup)
