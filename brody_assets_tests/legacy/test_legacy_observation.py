"""Legacy tables as observable assets: observations equal the server's own counts; errors are clear."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pymysql
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, Definitions

from brody_assets.db import bootstrap
from brody_assets.legacy.assets import observe_legacy_job, observe_legacy_tables
from brody_assets.legacy.catalog import LEGACY_TABLES
from brody_assets.resources import LegacyDatabaseResource
from brody_assets_tests.conftest import make_settings, write_config


@pytest.fixture(scope="module")
def small_legacy(mariadb_server, prefix_factory):
    """A small demo legacy database and the settings of its read-only account."""
    from brody_assets.demo.legacy import build_legacy_database

    prefix = prefix_factory()
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        manifest = build_legacy_database(admin, prefix, scale="small", seed=11,
                                         end_date=dt.date(2026, 11, 20))
        bootstrap(admin, settings)
    return settings, manifest


def _run_observe(config_file):
    defs = Definitions(
        assets=[observe_legacy_tables],
        jobs=[observe_legacy_job],
        resources={"legacy_db": LegacyDatabaseResource(config_file=str(config_file))},
    )
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("observe_legacy").execute_in_process(
        instance=instance, raise_on_error=False
    )
    return result, instance


def _observations(instance):
    found = {}
    for table in LEGACY_TABLES:
        records = instance.fetch_observations(AssetKey(table.asset_path), limit=1).records
        if records:
            found[f"legacy/{table.schema}/{table.name}"] = records[0].asset_observation
    return found


def test_observations_equal_select_count(small_legacy, mariadb_server, tmp_path):
    settings, manifest = small_legacy
    result, instance = _run_observe(write_config(settings, tmp_path / "conf.json"))
    assert result.success
    observed = _observations(instance)
    assert len(observed) == 19
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        for table in LEGACY_TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table.qualified(settings.legacy_schema_prefix)}")
            expected = cursor.fetchone()[0]
            observation = observed[f"legacy/{table.schema}/{table.name}"]
            assert observation.metadata["dagster/row_count"].value == expected, table.label
            assert expected == manifest["row_counts"][table.label]
            if table.date_column:
                cursor.execute(
                    f"SELECT MAX(`{table.date_column}`) FROM "
                    f"{table.qualified(settings.legacy_schema_prefix)}"
                )
                newest = cursor.fetchone()[0]
                assert observation.metadata["newest_date"].value.startswith(str(newest)[:10])
            assert observation.tags.get("dagster/data_version", "").startswith(f"rows={expected};")
    water = observed["legacy/ratinfo/water"].metadata
    assert water["dagster/row_count"].value > 100
    assert water["dagster/table_name"].value == f"{settings.legacy_schema_prefix}ratinfo.water"
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = 'water' ORDER BY ORDINAL_POSITION", (settings.legacy_schema("ratinfo"),)
        )
        server = [tuple(r) for r in cursor.fetchall()]
    columns = water["dagster/column_schema"].value.columns
    assert [(c.name, c.type) for c in columns] == server
    by_name = {c.name: c for c in columns}
    assert "primary key" in by_name["watering"].description and not by_name["watering"].constraints.nullable
    assert "window" in by_name["date"].description


def test_legacy_specs_follow_dagster_conventions():
    from brody_assets.legacy.assets import legacy_definitions

    specs = {spec.key.to_user_string(): spec for spec in legacy_definitions(owners=["team:lab"]).assets[0].specs}
    assert len(specs) == len(LEGACY_TABLES)
    water = specs["legacy/ratinfo/water"]
    assert water.kinds == {"mariadb"} and water.owners == ["team:lab"]
    (ref,) = water.metadata["dagster/code_references"].code_references
    line = Path(ref.file_path).read_text().splitlines()[ref.line_number - 1]
    assert 'LegacyTable("ratinfo", "water"' in line


def test_a_missing_table_is_named(mariadb_server, prefix_factory, tmp_path):
    prefix = prefix_factory()
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        bootstrap(admin, settings)  # schemas exist, tables do not
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE TABLE `{prefix}ratinfo`.contacts (contactid INT PRIMARY KEY)")
    result, instance = _run_observe(write_config(settings, tmp_path / "conf.json"))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.to_string()
    assert f"`{prefix}ratinfo`.`water` is missing" in message
    assert "legacy.schema_prefix" in message
    # the table that exists was still observed
    assert _observations(instance)["legacy/ratinfo/contacts"].metadata["dagster/row_count"].value == 0


def test_a_writable_legacy_account_is_refused_unless_allowed(small_legacy, mariadb_server, tmp_path):
    settings, _ = small_legacy
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(
            f"GRANT INSERT ON `{settings.legacy_schema('ratinfo')}`.* TO %s@'127.0.0.1'",
            (settings.legacy.user,),
        )
    try:
        result, instance = _run_observe(write_config(settings, tmp_path / "conf.json"))
        assert not result.success  # refused by default: nothing was observed
        assert _observations(instance) == {}
        failure = next(e for e in result.all_events if e.is_failure and e.event_specific_data)
        message = failure.event_specific_data.error.to_string()
        assert "LEGACY ACCOUNT IS NOT READ-ONLY" in message and "INSERT" in message
        assert "custom.legacy.allow_writable_account" in message
        allowed = settings.with_overrides(legacy_allow_writable=True)
        result, instance = _run_observe(write_config(allowed, tmp_path / "allowed.json"))
        assert result.success
        warnings = [e.user_message for e in instance.all_logs(result.run_id)
                    if "NOT READ-ONLY" in (e.user_message or "")]
        assert warnings and "INSERT" in warnings[0] and "running anyway" in warnings[0]
    finally:
        with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
            cursor.execute(
                f"REVOKE INSERT ON `{settings.legacy_schema('ratinfo')}`.* FROM %s@'127.0.0.1'",
                (settings.legacy.user,),
            )


def test_a_wrong_legacy_schema_prefix_is_named_as_missing(small_legacy, tmp_path):
    settings, _ = small_legacy
    wrong = settings.with_overrides(legacy_schema_prefix="alvaros_")
    result, _ = _run_observe(write_config(wrong, tmp_path / "conf.json"))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure and e.event_specific_data)
    message = failure.event_specific_data.error.to_string()
    assert (
        f"legacy schemas alvaros_bdata, alvaros_ratinfo, alvaros_protocol do not exist on "
        f"127.0.0.1:{settings.legacy.port} (check custom.legacy.schema_prefix, now 'alvaros_')"
    ) in message
    assert settings.legacy_schema("ratinfo") in message  # what the account does see
    assert "denied" not in message


def test_wrong_password_and_unreachable_server(small_legacy, tmp_path):
    settings, _ = small_legacy
    from brody_assets.config import DatabaseSettings, Secret

    wrong = settings.with_overrides(
        legacy=DatabaseSettings("127.0.0.1", settings.legacy.port, settings.legacy.user, Secret("wrong-pw-xyz"))
    )
    config = write_config(wrong, tmp_path / "a.json")
    resource = LegacyDatabaseResource(config_file=str(config))
    with pytest.raises(ConnectionError) as raised, resource.connect():
        pass
    message = str(raised.value)
    assert (
        f"the read-only legacy account '{settings.legacy.user}' was refused by the server at "
        f"127.0.0.1:{settings.legacy.port}"
    ) in message
    assert f"'custom.legacy.database.password' in {config}" in message
    assert "Access denied" in message and "wrong-pw-xyz" not in message
    closed = settings.with_overrides(
        legacy=DatabaseSettings("127.0.0.1", 1, settings.legacy.user, settings.legacy.password)
    )
    resource = LegacyDatabaseResource(config_file=str(write_config(closed, tmp_path / "b.json")))
    with pytest.raises(ConnectionError) as raised, resource.connect():
        pass
    message = str(raised.value)
    assert f"cannot connect to the server at 127.0.0.1:1 as the read-only legacy account '{settings.legacy.user}'" in message
    assert "'custom.legacy.database.host' / 'custom.legacy.database.port'" in message


def test_read_only_account_cannot_write(small_legacy):
    settings, _ = small_legacy
    conn = pymysql.connect(host="127.0.0.1", port=settings.legacy.port, user=settings.legacy.user,
                           password=settings.legacy.password.reveal(), autocommit=True)
    with conn, conn.cursor() as cursor:
        for statement in (
            f"UPDATE `{settings.legacy_schema('ratinfo')}`.water SET volume = 0",
            f"DELETE FROM `{settings.legacy_schema('bdata')}`.sessions",
            f"DROP TABLE `{settings.legacy_schema('ratinfo')}`.rats",
        ):
            with pytest.raises(pymysql.err.OperationalError, match="denied"):
                cursor.execute(statement)


def test_definition_column_schemas_match_the_servers_ddl(small_legacy, mariadb_server):
    """The legacy assets' column schemas, parsed from the lab's DDL, are the server's columns."""
    from brody_assets.legacy.assets import LEGACY_SPECS

    settings, _ = small_legacy
    specs = {tuple(spec.key.path): spec for spec in LEGACY_SPECS}
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        for table in LEGACY_TABLES:
            cursor.execute(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (settings.legacy_schema(table.schema), table.name),
            )
            server = [(n, t.lower(), nullable == "YES", key == "PRI") for n, t, nullable, key in cursor.fetchall()]
            schema = specs[tuple(table.asset_path)].metadata["dagster/column_schema"].schema
            declared = [(c.name, c.type, c.constraints.nullable, "primary key" in c.constraints.other)
                        for c in schema.columns]
            assert declared == server, table.label
