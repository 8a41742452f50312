"""The legacy columns the registry reads: derived from the entries' SQL, complete, typed as the DDL.

The derivation is proven complete on the real server: the demo legacy database is cut down to
exactly the derived columns (every other column dropped) and the migration, server-side and
streamed, gives the same tables and ledger as on the full database.
"""

from __future__ import annotations

import pytest

from brody_assets.db import bootstrap
from brody_assets.demo.legacy import build_legacy_database
from brody_assets.migration.engine import migrate
from brody_assets.migration.engine.db import PERMISSIVE_MODE, Db
from brody_assets.migration.engine.drift import find_drift
from brody_assets.migration.reads import LEGACY_TYPES, all_reads, family, legacy_reads
from brody_assets.migration.registry import TableEntry, entries, entry
from brody_assets_tests.conftest import make_settings, write_config

from .engine_support import (
    END,
    options_from_json,
    options_json,
    reset_targets,
    run_process,
    snapshot,
)


def test_declared_types_cover_exactly_the_derived_reads():
    reads = all_reads()
    assert {t: set(c) for t, c in reads.items()} == {t: set(c) for t, c in LEGACY_TYPES.items()}


def test_reads_follow_the_entries_sql():
    water = legacy_reads(entry("action.water"))
    assert "volume" in water["ratinfo.water"] and "rat" in water["ratinfo.water"]
    assert water["ratinfo.rats"] == {"internalID", "ratname"}  # the parent lookup in legacy rats
    contacts = legacy_reads(entry("subject.rats__contact"))
    assert {"contact", "internalID", "ratname"} <= contacts["ratinfo.rats"]
    assert legacy_reads(entry("acquisition.session_protocol_data"))["bdata.sessions"] == {"sessid", "protocol_data"}
    assert "sessiondate" in legacy_reads(entry("acquisition.behavior_event"))["bdata.sess_started"]


def test_a_new_column_in_an_entry_is_derived_and_an_ambiguous_alias_refused():
    base = entry("action.water")
    more = TableEntry(**{**base.__dict__, "columns": {**base.columns, "extra": "l.`brand_new`"}})
    assert "brand_new" in legacy_reads(more)["ratinfo.water"]
    clash = TableEntry(**{**base.__dict__, "joins": ("LEFT JOIN {L:ratinfo.contacts} AS l ON TRUE",)})
    with pytest.raises(ValueError, match="alias 'l'"):
        legacy_reads(clash)


@pytest.fixture(scope="module")
def legacy(mariadb_server, prefix_factory, tmp_path_factory):
    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    build_legacy_database(conn, prefix, "small", seed=7, end_date=END)
    settings = make_settings(mariadb_server, prefix)
    bootstrap(conn, settings)
    config = write_config(settings, tmp_path_factory.mktemp("reads") / "dj_local_conf.json")
    run_process(config, "--declare")
    yield settings, conn
    conn.close()


def test_declared_families_match_the_lab_ddl(legacy):
    settings, conn = legacy
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA IN (%s, %s)",
            (f"{settings.legacy_schema_prefix}bdata", f"{settings.legacy_schema_prefix}ratinfo"),
        )
        ddl = {(s[len(settings.legacy_schema_prefix):] + "." + t, c): family(d) for s, t, c, d in cur.fetchall()}
    declared = {(t, c): f for t, cols in LEGACY_TYPES.items() for c, f in cols.items()}
    assert {k: ddl.get(k) for k in declared} == declared


def test_the_migration_needs_no_column_outside_the_derived_reads(legacy):
    settings, conn = legacy
    legacy_db = Db(settings.legacy, sql_mode=PERMISSIVE_MODE, label="legacy")
    try:
        assert find_drift(legacy_db, settings.legacy_schema_prefix, entries()) == []
        migrate(settings, options_from_json(options_json()))
        full = snapshot(conn, settings)
        assert any(full[k] for k in full if k.endswith(":rows")) and full["ledger"]
        dropped = []
        with conn.cursor() as cur:
            for table, columns in all_reads().items():
                schema, name = table.split(".")
                qualified = f"`{settings.legacy_schema_prefix}{schema}`.`{name}`"
                cur.execute(f"SHOW COLUMNS FROM {qualified}")
                extra = [r[0] for r in cur.fetchall() if r[0] not in columns]
                if extra:
                    cur.execute(f"ALTER TABLE {qualified} " + ", ".join(f"DROP COLUMN `{c}`" for c in extra))
                    dropped += [f"{table}.{c}" for c in extra]
        assert len(dropped) >= 20, dropped  # the legacy tables hold many columns nobody migrates
        assert find_drift(legacy_db, settings.legacy_schema_prefix, entries()) == []
        for mode in ("server", "stream"):
            reset_targets(conn, settings)
            migrate(settings, options_from_json(options_json(mode=mode)))
            assert snapshot(conn, settings) == full, mode
    finally:
        legacy_db.close()
