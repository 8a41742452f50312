"""A renamed or retyped legacy column fails that table's shadow asset loudly (issue 10, item 7).

On the real server, after a first full migration: the column is changed in legacy, a new legacy
row is added, and ``migrate_all`` runs again. The shadow asset must fail naming the table and the
column, before any row is read: the ledger is unchanged (no reason overwritten, nothing new
quarantined), the migrated asset and everything downstream of it is not materialized, and the
other tables still migrate. With the column restored, the next run migrates the new row.
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance

from brody_assets.run import failure_causes, summarize_failures
from brody_assets_tests.conftest import write_config
from brody_assets_tests.migration.asset_support import demo_legacy, migration_defs

END = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def deployment(mariadb_server, prefix_factory, tmp_path_factory):
    settings, _manifest = demo_legacy(mariadb_server, prefix_factory(), seed=5, end_date=END)
    conf = write_config(settings, tmp_path_factory.mktemp("drift") / "dj_local_conf.json")
    defs = migration_defs(conf)
    instance = DagsterInstance.ephemeral()
    first = defs.resolve_job_def("migrate_all").execute_in_process(instance=instance, raise_on_error=False)
    assert first.success
    return settings, defs, instance


def _run(defs, instance):
    return defs.resolve_job_def("migrate_all").execute_in_process(instance=instance, raise_on_error=False)


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def _failures(result) -> dict[str, str]:
    """Per failed step, its error messages (the step error and its causes)."""
    out = {}
    for e in result.all_events:
        if e.event_type_value == "STEP_FAILURE":
            error, messages = e.event_specific_data.error, []
            while error is not None:
                messages.append(error.message)
                error = error.cause
            out[e.step_key] = "\n".join(messages)
    return out


def _ledger(conn, settings) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT table_name, legacy_key, stage, reason, detail, problem, run_id, first_seen, last_seen "
            f"FROM `{settings.new_prefix}migration`.quarantine ORDER BY table_name, legacy_key"
        )
        return list(cur.fetchall())


def _water_state(conn, settings) -> tuple:
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), MAX(water_id) FROM `{settings.new_prefix}action`.`water`")
        new = cur.fetchone()
        cur.execute(f"SELECT COUNT(*) FROM `{settings.shadow_prefix}action`.`__water`")
        shadow = cur.fetchone()
        cur.execute(f"SELECT high_key FROM `{settings.new_prefix}migration`.watermark WHERE table_name = 'action.water'")
        return new, shadow, cur.fetchone()


def _add_water_row(conn, settings) -> int:
    """A new legacy water row, a copy of a clean one that migrated (it must migrate too)."""
    table = f"`{settings.legacy_schema_prefix}ratinfo`.`water`"
    with conn.cursor() as cur:
        cur.execute(f"SELECT MAX(watering) + 1 FROM {table}")
        (new_id,) = cur.fetchone()
        cur.execute(f"SELECT MIN(water_id) FROM `{settings.new_prefix}action`.`water`")
        (template,) = cur.fetchone()
        cur.execute(f"SHOW COLUMNS FROM {table}")
        columns = [r[0] for r in cur.fetchall()]
        values = ", ".join("%s" if c == "watering" else f"`{c}`" for c in columns)
        cur.execute(f"INSERT INTO {table} SELECT {values} FROM {table} WHERE watering = %s", (new_id, template))
    return int(new_id)


@pytest.mark.parametrize(
    ("change", "restore", "column", "says"),
    [
        ("CHANGE `volume` `vol` DECIMAL(10,2)", "CHANGE `vol` `volume` {type}", "volume", "is missing"),
        ("MODIFY `tech` BLOB", "MODIFY `tech` {type}", "tech", "is blob, expected text"),
    ],
    ids=["renamed", "retyped"],
)
def test_a_drifted_legacy_column_fails_the_shadow_asset_and_touches_nothing(
    deployment, mariadb_server, change, restore, column, says
):
    settings, defs, instance = deployment
    table = f"`{settings.legacy_schema_prefix}ratinfo`.`water`"
    with mariadb_server.admin_connect() as conn:
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE TABLE {table}")
            cur.execute(
                "SELECT COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = 'water' AND COLUMN_NAME = %s", (f"{settings.legacy_schema_prefix}ratinfo", column))
            col_type, nullable = cur.fetchone()
        if column == "volume":
            change = change.replace("DECIMAL(10,2)", col_type)
        ledger_before = _ledger(conn, settings)
        water_before = _water_state(conn, settings)
        assert any(r[0] == "action.water" for r in ledger_before)  # the demo's water rows with a reason
        new_id = _add_water_row(conn, settings)
        with conn.cursor() as cur:
            cur.execute(f"ALTER TABLE {table} {change}")
        try:
            result = _run(defs, instance)
            assert not result.success
            failures = _failures(result)
            assert set(failures) == {"shadow__action__water"}, failures
            message = failures["shadow__action__water"]
            assert "`water`" in message and f"`{column}`" in message and says in message, message
            # what `brody-assets materialize` prints: the step and the drift, not Dagster's wrapper
            (printed,) = [
                line
                for line in summarize_failures(failure_causes(result.all_events))
                if "shadow__action__water" in line
            ]
            assert f"`{column}`" in printed and "`water`" in printed and "Error occurred" not in printed, printed
            done = _materialized(result)
            assert "shadow/action/water" not in done and "migrated/action/water" not in done
            assert {"migrated/action/mass", "migrated/subject/rats", "migrated/acquisition/behavior_event"} <= done
            started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
            assert "migrated__action__water" not in started  # skipped: its upstream failed
            after = _ledger(conn, settings)
            # water's ledger rows untouched (same reasons, same run ids, not seen again) ...
            assert [r for r in after if r[0] == "action.water"] == [r for r in ledger_before if r[0] == "action.water"]
            # ... and nothing new anywhere (the other tables' rows are re-seen by this run)
            assert [r[:6] for r in after] == [r[:6] for r in ledger_before]
            assert _water_state(conn, settings) == water_before
        finally:
            with conn.cursor() as cur:
                null = " NULL" if nullable == "YES" else " NOT NULL"
                cur.execute(f"ALTER TABLE {table} {restore.format(type=col_type)}{null}")
        again = _run(defs, instance)
        assert again.success
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{settings.new_prefix}action`.`water` WHERE water_id = %s", (new_id,))
            assert cur.fetchone()[0] == 1
