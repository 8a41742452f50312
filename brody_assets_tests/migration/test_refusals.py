"""Runs that refuse to start, and errors that say what to fix (issue 10: 2 and 6)."""

from __future__ import annotations

import pytest
from dagster import DagsterEventType, DagsterInstance

from brody_assets.db.connect import DatabaseConnectionError, connect
from brody_assets_tests.conftest import write_config
from brody_assets_tests.migration.asset_support import demo_legacy, migration_defs


@pytest.fixture(scope="module")
def legacy(mariadb_server, prefix_factory):
    return demo_legacy(mariadb_server, prefix_factory(), seed=9)[0]


def _migrate_all(conf):
    return migration_defs(conf).resolve_job_def("migrate_all").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )


def _schemas(admin, prefix: str) -> list[str]:
    with admin.cursor() as cursor:
        cursor.execute("SHOW DATABASES LIKE %s", (prefix.replace("_", "\\_") + "%",))
        return [row[0] for row in cursor.fetchall()]


def test_a_writable_legacy_account_is_refused_at_migrate_all(legacy, mariadb_server, tmp_path):
    """The nightly job, not only observe_legacy: write rights through a default role stop it
    before anything is written."""
    settings = legacy
    role = f"{settings.legacy_schema_prefix}legacy_writer"
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE ROLE `{role}`")
        cursor.execute(f"GRANT UPDATE ON `{settings.legacy_schema('ratinfo')}`.* TO `{role}`")
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(f"GRANT `{role}` TO %s@%s", (settings.legacy.user, host))
            cursor.execute(f"SET DEFAULT ROLE `{role}` FOR %s@%s", (settings.legacy.user, host))
    try:
        result = _migrate_all(write_config(settings, tmp_path / "conf.json"))
        assert not result.success
        assert not [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
        failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RESOURCE_INIT_FAILURE)
        message = failure.event_specific_data.error.to_string()
        assert "WritableLegacyAccountError" in message and "LEGACY ACCOUNT IS NOT READ-ONLY" in message
        assert f"UPDATE on `{settings.legacy_schema('ratinfo')}`.* (through role `{role}`)" in message
        assert "custom.legacy.allow_writable_account" in message
        with mariadb_server.admin_connect() as admin:
            assert _schemas(admin, settings.new_prefix) == []  # nothing declared, nothing written
            assert _schemas(admin, settings.shadow_prefix) == []
    finally:
        with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP ROLE `{role}`")


def test_a_wrong_legacy_prefix_is_refused_at_migrate_all_as_a_missing_schema(legacy, tmp_path):
    wrong = legacy.with_overrides(legacy_schema_prefix="alvaros_")
    result = _migrate_all(write_config(wrong, tmp_path / "conf.json"))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RESOURCE_INIT_FAILURE)
    message = failure.event_specific_data.error.to_string()
    assert "legacy schemas alvaros_bdata, alvaros_ratinfo, alvaros_protocol do not exist on" in message
    assert "check custom.legacy.schema_prefix, now 'alvaros_'" in message
    assert "command denied" not in message


def test_connection_errors_name_account_server_and_key(legacy, tmp_path):
    settings = legacy
    with pytest.raises(DatabaseConnectionError) as raised:
        connect(settings.legacy, "legacy", tmp_path / "conf.json", database=settings.legacy_schema("bdatax"))
    message = str(raised.value)
    assert raised.value.code in (1044, 1049)
    assert (
        f"legacy schema {settings.legacy_schema('bdatax')} does not exist on "
        f"127.0.0.1:{settings.legacy.port} (check custom.legacy.schema_prefix)"
    ) in message
    with pytest.raises(DatabaseConnectionError) as raised:
        connect(settings.database, "pipeline", tmp_path / "conf.json", database="not_a_schema_of_ours")
    message = str(raised.value)
    assert (
        f"database not_a_schema_of_ours does not exist on 127.0.0.1:{settings.database.port}, or the "
        f"pipeline account '{settings.database.user}' may not use it"
    ) in message
    assert "custom.database.prefix" in message
    with pytest.raises(DatabaseConnectionError, match=r"'database.user' / 'database.password' in .*conf.json"):
        connect(settings.database.__class__(settings.database.host, settings.database.port, "nobody_here",
                                            settings.database.password), "pipeline", tmp_path / "conf.json")
