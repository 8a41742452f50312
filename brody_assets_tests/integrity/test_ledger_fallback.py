"""Before the first migration the ledger does not exist: checks that read it see an empty ledger.

Issue 13: a first run logged ``Table '<prefix>migration.quarantine' doesn't exist`` (an ERROR
from the legacy contacts checks of ``observe_legacy``). On the real server, with the demo legacy
database and no migration yet, every shipped check of the legacy contacts runs without error,
and nothing is created.
"""

from __future__ import annotations

import datetime as dt

from brody_assets.db import bootstrap
from brody_assets.integrity.checks import all_declarations
from brody_assets.integrity.ledger_fallback import missing_ledger_tables
from brody_assets.integrity.runner import run_checks
from brody_assets_tests.conftest import make_settings


def test_legacy_checks_read_an_empty_ledger_before_the_first_migration(mariadb_server, admin_conn, unique_prefix):
    from brody_assets.demo.legacy import build_legacy_database

    settings = make_settings(mariadb_server, unique_prefix)
    build_legacy_database(admin_conn, unique_prefix, scale="small", seed=2, end_date=dt.date(2026, 11, 20))
    bootstrap(admin_conn, settings)
    assert missing_ledger_tables(settings) == {"quarantine", "watermark"}
    reading = [d for d in all_declarations() if d.asset_path.startswith("legacy/")
               and "{migration}" in "".join(s.sql or "" for s in d.expectations)]
    assert any(d.name == "contacts_email_present" for d in reading)
    outcomes = run_checks(settings, reading)
    assert [(o.name, o.error) for o in outcomes if o.error] == []
    assert all(not p.error for o in outcomes for p in o.expectations)
    email = next(o for o in outcomes if o.name == "contacts_email_present")
    assert not email.passed  # the demo's contacts without a usable email are still found
    with admin_conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                    (f"{settings.new_prefix}migration",))
        assert cur.fetchone()[0] == 0  # nothing was created to get there
