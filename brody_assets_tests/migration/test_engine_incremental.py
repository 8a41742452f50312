"""Incremental runs: appended days migrate exactly; a fixed row leaves the ledger; a deleted one too."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from brody_assets.db import bootstrap
from brody_assets.demo.legacy import append_days, build_legacy_database
from brody_assets.migration.engine import migrate
from brody_assets.migration.registry import entries, entry
from brody_assets.migration.schemas.naming import TABLE_NAMES
from brody_assets_tests.conftest import make_settings, write_config

from .engine_support import END, ledger_rows, options_from_json, options_json, run_process

# legacy table -> (legacy id column, new entry, new column holding it)
APPENDED = {
    "ratinfo.mass": ("weighing", "action.mass", "mass_id"),
    "ratinfo.water": ("watering", "action.water", "water_id"),
    "ratinfo.schedule": ("schedentryid", "action.schedule", "schedule_id"),
    "ratinfo.tech_schedule": ("scheduleid", "action.tech_schedule", "scheduleid"),
    "ratinfo.rigwater": ("id", "action.rigwater", "rigwater_id"),
    "ratinfo.technotes": ("technoteid", "action.technotes", "technote_id"),
    "bdata.sess_started": ("sessid", "acquisition.sess_started", "sessid"),
    "bdata.sessions": ("sessid", "acquisition.sessions", "sessid"),
    "bdata.parsed_events": ("sessid", "acquisition.parsed_events", "sessid"),
}


@pytest.fixture(scope="module")
def target(mariadb_server, prefix_factory, tmp_path_factory):
    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    manifest = build_legacy_database(conn, prefix, "small", seed=5, end_date=END)
    settings = make_settings(mariadb_server, prefix)
    bootstrap(conn, settings)
    run_process(write_config(settings, tmp_path_factory.mktemp("inc") / "dj_local_conf.json"), "--declare")
    migrate(settings, options_from_json(options_json()))
    yield {"conn": conn, "settings": settings, "prefix": prefix, "manifest": manifest}
    conn.close()


def _ids(conn, sql: str) -> set:
    with conn.cursor() as cur:
        cur.execute(sql)
        return {r[0] for r in cur.fetchall()}


def _new_table(settings, name: str) -> str:
    e = entry(name)
    return f"`{settings.new_prefix}{e.family}`.`{TABLE_NAMES[('new', e.family, e.new_class)]}`"


def test_appended_days_migrate_exactly(target):
    conn, settings, prefix = target["conn"], target["settings"], target["prefix"]
    before = {t: _ids(conn, f"SELECT `{c}` FROM `{prefix}{t.split('.')[0]}`.`{t.split('.')[1]}`")
              for t, (c, _, _) in APPENDED.items()}
    migrated_before = {t: _ids(conn, f"SELECT `{col}` FROM {_new_table(settings, n)}") for t, (_, n, col) in APPENDED.items()}
    added = append_days(conn, prefix, 2)
    assert sum(added["rows_added"].values()) > 50
    results = {r.table: r for r in migrate(settings, options_from_json(
        options_json(today=(END + dt.timedelta(days=2)).isoformat())))}
    for table, (col, name, new_col) in APPENDED.items():
        new_legacy = _ids(conn, f"SELECT `{col}` FROM `{prefix}{table.split('.')[0]}`.`{table.split('.')[1]}`") - before[table]
        migrated_now = _ids(conn, f"SELECT `{new_col}` FROM {_new_table(settings, name)}") - migrated_before[table]
        assert migrated_now == new_legacy, table
        assert results[name].new.inserted == len(new_legacy), name
        assert "incremental" in results[name].new.scope
    assert results["lab.contacts"].new.inserted == 0
    assert results["acquisition.behavior_event"].new.inserted > 0
    assert all(r.new.invariant.holds for r in results.values())


def test_fixed_row_migrates_and_deleted_row_leaves_the_ledger(target):
    conn, settings, prefix = target["conn"], target["settings"], target["prefix"]
    defects = target["manifest"]["defects"]
    orphan = next(d["key"]["weighing"] for d in defects if d["kind"] == "mass_rat_orphan")
    unknown = next(d["key"]["weighing"] for d in defects if d["kind"] == "mass_tech_unknown")
    gone = next(d["key"]["id"] for d in defects if d["kind"] == "rigwater_date_invalid")
    ledgered = {(r["table_name"], r["legacy_key"]) for r in ledger_rows(conn, settings)}
    for key in ({"weighing": orphan}, {"weighing": unknown}):
        assert ("action.mass", json.dumps(key)) in ledgered
    with conn.cursor() as cur:
        cur.execute(f"SELECT ratname FROM `{settings.new_prefix}subject`.`rats` ORDER BY ratname LIMIT 1")
        (rat,) = cur.fetchone()
        cur.execute(f"SELECT initials FROM `{prefix}ratinfo`.`contacts` WHERE email IS NOT NULL AND initials "
                    f"IS NOT NULL GROUP BY initials HAVING COUNT(*) = 1 LIMIT 1")
        (initials,) = cur.fetchone()
        # a date no other weighing of that rat uses (legacy mass is unique per date and rat)
        cur.execute(f"UPDATE `{prefix}ratinfo`.`mass` SET ratname = %s, date = '2001-01-01' WHERE weighing = %s",
                    (rat, orphan))
        cur.execute(f"UPDATE `{prefix}ratinfo`.`mass` SET tech = %s WHERE weighing = %s", (initials, unknown))
        cur.execute(f"DELETE FROM `{prefix}ratinfo`.`rigwater` WHERE id = %s", (gone,))
    results = {r.table: r for r in migrate(settings, options_from_json(options_json(
        today=(END + dt.timedelta(days=2)).isoformat())))}
    assert {orphan, unknown} <= _ids(conn, f"SELECT mass_id FROM {_new_table(settings, 'action.mass')}")
    left = {(r["table_name"], r["legacy_key"]) for r in ledger_rows(conn, settings)}
    assert not {("action.mass", json.dumps({"weighing": k})) for k in (orphan, unknown)} & left
    assert ("action.rigwater", f'{{"id": {gone}}}') not in left
    assert all(r.new.invariant.holds for r in results.values())
    assert len(results) == len(entries())


def test_the_window_is_scanned_once_per_table_and_run(target, monkeypatch):
    """The window batches (a scan of legacy's unindexed date column) are found by the shadow
    stage and reused by the new stage of the same run."""
    from brody_assets.migration.engine import scope

    walked: list[tuple[str, str]] = []
    real = scope._walk

    def counting(db, table_sql, id_col, pred, size, part):
        walked.append((table_sql, part))
        return real(db, table_sql, id_col, pred, size, part)

    monkeypatch.setattr(scope, "_walk", counting)
    results = migrate(target["settings"], options_from_json(options_json(
        today=(END + dt.timedelta(days=2)).isoformat())))
    windows = [t for t, part in walked if part == "window"]
    windowed = [e for e in entries() if e.date_column is not None or e.sessid_chunks]
    assert len(windows) == len(windowed) > 10  # once each (entries may share a legacy table)
    assert all(r.new.invariant.holds for r in results)


def test_ledgered_in_finds_the_batches_holding_ledgered_ids():
    from brody_assets.migration.engine.scope import Batch, Scope

    s = Scope(full=False, high=10, upper=20, ledgered=(3, 7, 15))
    assert s.ledgered_in(Batch("new", 1, 3)) and s.ledgered_in(Batch("window", 7, 7))
    assert not s.ledgered_in(Batch("new", 8, 14)) and not s.ledgered_in(Batch("new", 16, 30))
    assert s.ledgered_in(Batch("retry", 3, 15, (3, 15)))
    assert not s.ledgered_in(Batch("retry", 4, 14, (4, 14)))  # 7 lies in the range, not in the keys
    assert not Scope(full=True, high=None, upper=None).ledgered_in(Batch("full", 1, 100))
