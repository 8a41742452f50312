"""The migration as Dagster assets: the whole graph runs, every table reconciles, metadata speaks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, in_process_executor

from brody_assets.db import bootstrap
from brody_assets.migration.assets import RECONCILED, migration_definitions
from brody_assets.migration.registry import entries
from brody_assets.resources import MigrationResource
from brody_assets_tests.conftest import make_settings, write_config


@pytest.fixture(scope="module")
def migrated(mariadb_server, prefix_factory, tmp_path_factory):
    from brody_assets.demo.legacy import build_legacy_database

    prefix = prefix_factory()
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        manifest = build_legacy_database(admin, prefix, scale="small", seed=5, end_date=dt.date(2026, 11, 20))
        bootstrap(admin, settings)
    conf = write_config(settings, tmp_path_factory.mktemp("conf") / "dj_local_conf.json")
    parts = migration_definitions()
    defs = Definitions(
        assets=parts.assets, jobs=parts.jobs,
        resources={"migration": MigrationResource(config_file=str(conf))},
        executor=in_process_executor,
    )
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
        assert meta["unaccounted"].value == 0
        assert meta["legacy_rows_in_scope"].value == meta["migrated"].value + meta["quarantined"].value + (
            meta["sessions_without_events"].value if "sessions_without_events" in meta else 0
        )
    # the ledger holds exactly the rows the assets report as quarantined (ledger = manifest is
    # asserted row by row in test_engine_*)
    expected = sum(mats[f"migrated/{e.family}/{e.table}"].metadata["quarantined"].value for e in entries())
    assert expected > 0
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}migration`.quarantine")
        assert cursor.fetchone()[0] == expected
    water = mats["migrated/action/water"].metadata
    assert water["rows_inserted"].value > 100
    assert "quarantine" in water and "|" in water["quarantine"].value


def test_second_run_inserts_nothing(migrated):
    _, _, defs, instance, _, _ = migrated
    again = defs.resolve_job_def("migrate_all").execute_in_process(instance=instance, raise_on_error=False)
    assert again.success
    for key, mat in _materializations(again).items():
        assert mat.metadata["rows_inserted"].value == 0, key
    assert all(c.passed for c in _checks(again).values())


def test_full_backfill_from_the_launchpad(migrated):
    _, _, defs, instance, _, conf = migrated
    result = defs.resolve_job_def("migrate_all").execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"resources": {"migration": {"config": {"full_backfill": True, "config_file": str(conf)}}}},
    )
    assert result.success
    water = _materializations(result)["migrated/action/water"].metadata
    assert water["scope"].value.startswith("full")
    assert water["rows_inserted"].value == 0


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
