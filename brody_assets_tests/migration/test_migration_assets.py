"""The migration as Dagster assets: the whole graph runs, every table reconciles, metadata speaks."""

from __future__ import annotations

import json
import re

import pytest
from dagster import AssetKey, DagsterInstance

from brody_assets.db import bootstrap
from brody_assets.migration import asset_metadata as m
from brody_assets.migration.assets import RECONCILED
from brody_assets.migration.registry import entries
from brody_assets_tests.conftest import make_settings, write_config
from brody_assets_tests.migration.asset_support import demo_legacy, migration_defs


@pytest.fixture(scope="module")
def migrated(mariadb_server, prefix_factory, tmp_path_factory):
    settings, manifest = demo_legacy(mariadb_server, prefix_factory(), seed=5)
    conf = write_config(settings, tmp_path_factory.mktemp("conf") / "dj_local_conf.json")
    defs = migration_defs(conf)
    instance = DagsterInstance.ephemeral()
    first = defs.resolve_job_def("migrate_all").execute_in_process(instance=instance, raise_on_error=False)
    return settings, manifest, defs, instance, first, conf


def _materializations(result):
    return {
        e.asset_key.to_user_string(): e.event_specific_data.materialization
        for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    }


def _checks(result):
    return {
        e.event_specific_data.asset_key.to_user_string(): e.event_specific_data
        for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_whole_migration_runs_and_every_table_reconciles(migrated, mariadb_server):
    settings, manifest, _, _, first, _ = migrated
    assert first.success
    checks = _checks(first)
    mats = _materializations(first)
    for e in entries():
        key = f"migrated/{e.family}/{e.table}"
        assert key in mats, key
        assert checks[key].check_name == RECONCILED
        assert checks[key].passed, (key, checks[key].description)
        meta = mats[key].metadata
        assert meta[m.UNACCOUNTED].value == 0
        no_events = meta[m.NO_EVENTS].value if m.NO_EVENTS in meta else 0
        assert meta[m.IN_SCOPE].value == meta[m.MIGRATED].value + meta[m.QUARANTINED_IN_SCOPE].value + no_events
        unit = "sessions" if e.kind == "computed" else "rows"
        assert meta[m.ACCOUNTING].value.startswith(
            f"legacy {unit} in scope ({meta[m.IN_SCOPE].value:,}) = migrated ({meta[m.MIGRATED].value:,}) + "
            f"quarantined ({meta[m.QUARANTINED_IN_SCOPE].value:,})"
        )
        # a first run covers every legacy row: the table holds exactly what the run migrated
        # (behavior events: many event rows per migrated session)
        assert meta["dagster/row_count"].value == meta[m.TABLE_ROWS].value
        assert (meta[m.TABLE_ROWS].value > meta[m.MIGRATED].value if e.kind == "computed"
                else meta[m.TABLE_ROWS].value == meta[m.MIGRATED].value), key
        assert meta[m.SCOPE].value.startswith(("first run: every legacy row", "every legacy row")), key
    # the ledger holds exactly the rows the assets report as quarantined (ledger = manifest is
    # asserted row by row in test_engine_*)
    expected = sum(mats[f"migrated/{e.family}/{e.table}"].metadata[m.QUARANTINED_IN_SCOPE].value for e in entries())
    assert expected > 0
    assert expected == sum(mats[f"migrated/{e.family}/{e.table}"].metadata[m.LEDGER_OPEN].value for e in entries())
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}migration`.quarantine")
        assert cursor.fetchone()[0] == expected
    water = mats["migrated/action/water"].metadata
    assert water[m.INSERTED].value > 100
    assert "|" in water[m.BY_REASON].value
    assert "run: legacy rows in scope" in water[m.GLOSSARY].value


def test_table_name_row_count_and_columns_are_the_servers(migrated, mariadb_server):
    settings, _, _, _, first, _ = migrated
    mats = _materializations(first)
    for key, schema, table in (
        ("migrated/action/water", f"{settings.new_prefix}action", "water"),
        ("shadow/action/water", f"{settings.shadow_prefix}action", "__water"),
        ("migrated/subject/rats", f"{settings.new_prefix}subject", "rats"),
    ):
        meta = mats[key].metadata
        assert meta["dagster/table_name"].value == f"{schema}.{table}"
        with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM `{schema}`.`{table}`")
            assert meta["dagster/row_count"].value == cursor.fetchone()[0] > 0
            cursor.execute(
                "SELECT COLUMN_NAME, COLUMN_COMMENT, COLUMN_KEY FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (schema, table)
            )
            server = cursor.fetchall()
        columns = meta["dagster/column_schema"].value.columns
        assert [c.name for c in columns] == [r[0] for r in server]
        assert [c.description or "" for c in columns] == [r[1] for r in server]
        assert [("primary key" in c.constraints.other) for c in columns] == [r[2] == "PRI" for r in server]
    water = {c.name: c for c in mats["migrated/action/water"].metadata["dagster/column_schema"].value.columns}
    assert water["water_id"].description == "legacy watering"


def test_second_run_inserts_nothing(migrated):
    _, _, defs, instance, _, _ = migrated
    again = defs.resolve_job_def("migrate_all").execute_in_process(instance=instance, raise_on_error=False)
    assert again.success
    first = _materializations(migrated[4])
    for key, mat in _materializations(again).items():
        assert mat.metadata[m.INSERTED].value == 0, key
        # nothing new: the table's total is unchanged while the run's own figures are small
        assert mat.metadata["dagster/row_count"].value == first[key].metadata["dagster/row_count"].value, key
    water = _materializations(again)["migrated/action/water"].metadata
    assert water[m.SCOPE].value.startswith("incremental: no new legacy rows")
    assert "rows dated on or after" in water[m.SCOPE].value and "(`date`, days_back = 3)" in water[m.SCOPE].value
    assert "quarantined row(s) retried from the ledger" in water[m.SCOPE].value
    assert water[m.IN_SCOPE].value < water["dagster/row_count"].value
    assert all(c.passed for c in _checks(again).values())


def test_full_backfill_from_the_launchpad(migrated):
    _, _, defs, instance, _, conf = migrated
    result = defs.resolve_job_def("migrate_all").execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"resources": {"migration": {"config": {"full_backfill": True, "config_file": str(conf)}}}},
    )
    assert result.success
    water = _materializations(result)["migrated/action/water"].metadata
    assert water[m.SCOPE].value.startswith("full backfill (full_backfill = true): every legacy row")
    assert water[m.INSERTED].value == 0
    assert water[m.IN_SCOPE].value == water[m.MIGRATED].value + water[m.QUARANTINED_IN_SCOPE].value


def test_graph_lineage_follows_foreign_keys():
    from brody_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    water = graph.get(AssetKey(["migrated", "action", "water"]))
    assert AssetKey(["shadow", "action", "water"]) in water.parent_keys
    assert AssetKey(["migrated", "subject", "rats"]) in water.parent_keys
    shadow_rats = graph.get(AssetKey(["shadow", "subject", "rats"]))
    assert {AssetKey(["legacy", "ratinfo", "rats"]), AssetKey(["legacy", "ratinfo", "contacts"])} <= shadow_rats.parent_keys
    sessions = graph.get(AssetKey(["migrated", "acquisition", "sessions"]))
    assert AssetKey(["migrated", "acquisition", "sess_started"]) in sessions.parent_keys
    assert json.dumps(sorted(k.to_user_string() for k in graph.get(AssetKey(["migrated", "acquisition", "behavior_event"])).parent_keys)) == json.dumps(["migrated/acquisition/parsed_events"])


def test_tables_declared_for_a_second_prefix_in_the_same_process(migrated, mariadb_server, prefix_factory):
    """DataJoint binds classes to one prefix per process; a second deployment still gets its tables."""
    from brody_assets.migration.declare import ensure_declared, tables_declared

    settings = make_settings(mariadb_server, prefix_factory())
    with mariadb_server.admin_connect() as admin:
        bootstrap(admin, settings)
    assert not tables_declared(settings)
    ensure_declared(settings)
    assert tables_declared(settings)
    assert tables_declared(migrated[0])


def test_no_contact_has_an_empty_name(migrated, mariadb_server):
    """Trailing commas in the demo's contact lists (manifest) give no contact named ''."""
    settings = migrated[0]
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{settings.legacy_schema_prefix}ratinfo`.rats WHERE contact LIKE '%%,'")
        assert cursor.fetchone()[0] > 0, "the demo has no trailing-comma contact list to test"
        for table in ("rats__contact", "rat_history__contact"):
            for layer in (settings.new_prefix, settings.shadow_prefix):
                cursor.execute(
                    "SELECT table_name FROM information_schema.TABLES WHERE table_schema = %s "
                    "AND table_name LIKE %s", (f"{layer}subject", f"%{table}")
                )
                (physical,) = cursor.fetchone()
                cursor.execute(f"SELECT COUNT(*), SUM(TRIM(contact) = '') FROM `{layer}subject`.`{physical}`")
                total, empty = cursor.fetchone()
                assert total > 0 and not empty, (layer, table, total, empty)
        cursor.execute(
            f"SELECT COUNT(*) FROM `{settings.new_prefix}migration`.quarantine "
            "WHERE table_name LIKE '%%contact' AND JSON_VALUE(legacy_key, '$.contact') = ''"
        )
        assert cursor.fetchone()[0] == 0


def test_each_table_logs_its_progress_and_time(migrated):
    _, _, _, instance, first, _ = migrated
    messages = [entry.user_message for entry in instance.all_logs(first.run_id) if entry.user_message]
    water = [m for m in messages if m.startswith("action.water ")]
    assert any(re.match(r"action\.water shadow: scope planned in \d+\.\d s: first run: every legacy row", m)
               for m in water), water
    assert any(re.match(r"action\.water new: batch 1/\d+ \(full\) done, [\d,]+ rows inserted so far, \d+\.\d s", m)
               for m in water), water
    assert any(re.match(r"action\.water new done in \d+\.\d s: legacy rows in scope \([\d,]+\) = migrated", m)
               for m in water), water


def test_code_references_point_at_each_registry_entry_and_datajoint_class():
    from pathlib import Path

    from brody_assets.migration.assets import build_migration_assets

    specs = {spec.key.to_user_string(): spec for a in build_migration_assets(["team:lab"]) for spec in a.specs}
    for e in entries():
        spec = specs[f"migrated/{e.family}/{e.table}"]
        assert spec.kinds == {"mariadb", "datajoint"} and spec.owners == ["team:lab"]
        entry_ref, class_ref = spec.metadata["dagster/code_references"].code_references
        line = Path(entry_ref.file_path).read_text().splitlines()[entry_ref.line_number - 1]
        assert f'"{e.name}"' in line and entry_ref.file_path.endswith(f"entries/{e.family}.py")
        lines = Path(class_ref.file_path).read_text().splitlines()
        assert f"class {e.new_class.split('.')[-1]}(" in lines[class_ref.line_number - 1], e.name
        if "." in e.new_class:  # a part: the nearest master above it is its own
            master = next(x for x in reversed(lines[: class_ref.line_number - 1]) if x.startswith("class "))
            assert master.startswith(f"class {e.new_class.split('.')[0]}("), e.name


def test_the_shell_summary_reads_table_totals_and_run_figures(migrated, mariadb_server):
    from brody_assets.run import RunReport, migrated_figures

    settings, _, defs, instance, _, _ = migrated
    figures = migrated_figures(instance, defs.resolve_asset_graph().get_all_asset_keys())
    assert len(figures) == len(entries())
    in_scope, done, quarantined, total, ledger = figures["migrated/action/water"]
    assert in_scope == done + quarantined
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}action`.water")
        assert total == cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}migration`.quarantine "
                       "WHERE table_name = 'action.water'")
        assert ledger == cursor.fetchone()[0]
    line = next(x for x in RunReport(migrated=figures).lines() if "migrated/action/water" in x)
    assert line.split()[1:3] == [f"{total:,}", f"{ledger:,}"]
