"""Helpers shared by the ASSETS engineer's ephys tests: settings on the test server's admin account."""

from __future__ import annotations

from pathlib import Path

from brody_assets.config import DatabaseSettings, Secret, Settings
from brody_assets_tests.conftest import TEST_ADMIN_USER, admin_password_for


def admin_settings(server, prefix: str, archive: Path | None = None, cup: Path | None = None,
                   legacy_prefix: str = "") -> Settings:
    """Settings that write under ``prefix`` as the test admin (which may create any schema)."""
    db = DatabaseSettings("127.0.0.1", server.port, TEST_ADMIN_USER, Secret(admin_password_for(server)))
    return Settings(database=db, legacy=db, legacy_schema_prefix=legacy_prefix,
                    new_prefix=f"{prefix}new_", shadow_prefix=f"{prefix}shadow_",
                    archive_root=archive, cup_root=cup)


EPHYS_PARENTS = ("lab.contacts", "lab.riginfo", "subject.rats", "acquisition.sess_started",
                 "acquisition.sessions")


def migrate_parents(settings: Settings) -> None:
    """Migrate only the tables the ephys schemas hang off (contacts, rigs, rats, sessions)."""
    from brody_assets.migration.declare import ensure_declared
    from brody_assets.migration.engine import open_context
    from brody_assets.migration.engine.run import to_new, to_shadow
    from brody_assets.migration.registry import MigrationOptions, entries

    ensure_declared(settings)
    ctx = open_context(settings, MigrationOptions(full_backfill=True))
    try:
        for e in entries():
            if e.name in EPHYS_PARENTS:
                to_shadow(ctx, e)
                to_new(ctx, e)
    finally:
        ctx.close()


def build_ephys_demo(server, prefix: str, folder: Path, seed: int = 7):
    """Legacy demo database + accounts + demo drives under ``folder``, parents migrated.

    Returns ``(settings, drives manifest)``; the settings use the pipeline account.
    """
    from brody_assets.demo.build import build_demo
    from brody_assets_tests.conftest import make_settings

    settings = make_settings(server, prefix, archive_root=folder / "archive", cup_root=folder / "cup")
    with server.admin_connect() as admin:
        summary = build_demo(admin, settings, folder / "demo", seed=seed)
    migrate_parents(settings)
    return settings, summary.recordings
