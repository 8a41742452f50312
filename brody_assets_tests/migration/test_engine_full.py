"""The copy engine on the `small` legacy database: values, ledger vs manifest, idempotency, streaming.

One legacy database and one full migration per module; tests run in file order and leave the
target in the migrated state.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pymysql
import pytest

from brody_assets.db import bootstrap
from brody_assets.demo.legacy import build_legacy_database
from brody_assets.migration.engine import migrate
from brody_assets.migration.registry import entries, entry
from brody_assets.migration.schemas.naming import TABLE_NAMES
from brody_assets_tests.conftest import make_settings, write_config

from .engine_support import (
    END,
    ledger_rows,
    options_from_json,
    options_json,
    reset_targets,
    run_process,
    snapshot,
)
from .expected import EXPECTED, FAMILY, KEYS, People


@pytest.fixture(scope="module")
def migrated(mariadb_server, prefix_factory, tmp_path_factory):
    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    manifest = build_legacy_database(conn, prefix, "small", seed=7, end_date=END)
    settings = make_settings(mariadb_server, prefix)
    bootstrap(conn, settings)
    config = write_config(settings, tmp_path_factory.mktemp("engine") / "dj_local_conf.json")
    run_process(config, "--declare")
    results = migrate(settings, options_from_json(options_json()))
    yield {"settings": settings, "manifest": manifest, "results": results, "conn": conn, "prefix": prefix}
    conn.close()


def _quarantine_set(manifest) -> dict[str, set]:
    out: dict[str, set] = defaultdict(set)
    for d in manifest["defects"]:
        if d["quarantine"]:
            out[d["table"]].add(tuple(d["key"].values()))
    return out


def _rows(conn, sql: str) -> list[dict]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_invariant_holds_for_every_table(migrated):
    assert len(migrated["results"]) == len(entries()) == 23
    for r in migrated["results"]:
        inv = r.new.invariant
        assert inv is not None and inv.holds, (r.table, inv)
        assert inv.legacy_rows > 0, r.table


def test_every_clean_row_migrates_with_the_spec_mapping(migrated):
    conn, settings, prefix = migrated["conn"], migrated["settings"], migrated["prefix"]
    quarantined = _quarantine_set(migrated["manifest"])
    people = People(_rows(conn, f"SELECT * FROM `{prefix}ratinfo`.`contacts`"))
    checked = 0
    for name, mapping in EXPECTED.items():
        e = entry(name)
        schema, table = e.legacy.split(".")
        legacy_key, new_col = KEYS[name]
        new_table = f"`{settings.new_prefix}{e.family}`.`{TABLE_NAMES[('new', e.family, e.new_class)]}`"
        new_rows = {r[new_col]: r for r in _rows(conn, f"SELECT * FROM {new_table}")}
        for row in _rows(conn, f"SELECT * FROM `{prefix}{schema}`.`{table}`"):
            key = row[legacy_key]
            if (key,) in quarantined[e.legacy]:
                assert key not in new_rows, f"{name} {key} is quarantined in the manifest but migrated"
                continue
            assert key in new_rows, f"{name}: clean legacy row {key} was not migrated"
            assert new_rows[key] == mapping(row, people), f"{name} {key}"
            checked += 1
    assert checked > 5000


def test_ledger_is_exactly_the_manifest_quarantine(migrated):
    manifest = migrated["manifest"]
    expected = {(t, k) for t, keys in _quarantine_set(manifest).items() for k in keys}
    kinds: dict[tuple, set] = defaultdict(set)
    for d in manifest["defects"]:
        if d["quarantine"]:
            kinds[(d["table"], tuple(d["key"].values()))].add(d["kind"])
    found, wrong = set(), []
    for row in ledger_rows(migrated["conn"], migrated["settings"]):
        e = entry(row["table_name"])
        key = tuple(json.loads(row["legacy_key"]).values())[:1]
        found.add((e.legacy, key))
        if e.kind == "sql" and e.master is None:
            families = set().union(*(FAMILY[k] for k in kinds.get((e.legacy, key), set())))
            if row["reason"] not in families:
                wrong.append((e.name, key, row["reason"], sorted(kinds.get((e.legacy, key), ()))))
    assert found - expected == set(), "false quarantines"
    assert expected - found == set(), "defects not quarantined"
    assert wrong == []
    assert all(r["detail"] for r in ledger_rows(migrated["conn"], migrated["settings"]))


def test_second_run_changes_nothing(migrated):
    conn, settings = migrated["conn"], migrated["settings"]
    before = snapshot(conn, settings)
    first_seen = {(r["table_name"], r["legacy_key"]): r["first_seen"] for r in ledger_rows(conn, settings)}
    results = migrate(settings, options_from_json(options_json()))
    assert snapshot(conn, settings) == before
    assert all(r.new.invariant.holds and r.new.inserted == 0 and r.shadow.inserted == 0 for r in results)
    after = ledger_rows(conn, settings)
    assert {(r["table_name"], r["legacy_key"]): r["first_seen"] for r in after} == first_seen
    assert all(r["last_seen"] > r["first_seen"] for r in after)


def test_streamed_path_gives_the_same_state(migrated):
    conn, settings = migrated["conn"], migrated["settings"]
    before = snapshot(conn, settings)
    reset_targets(conn, settings)
    results = migrate(settings, options_from_json(options_json(mode="stream")))
    assert all(r.new.mode == "stream" and r.new.invariant.holds for r in results)
    assert snapshot(conn, settings) == before
