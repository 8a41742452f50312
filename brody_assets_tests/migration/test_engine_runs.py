"""Runs that go wrong: SIGKILL mid-migration, two overlapping runs. Both end in the state of an
uninterrupted run (content checksums of every new/shadow table and the ledger)."""

from __future__ import annotations

import signal
import time

import pytest

from brody_assets.db import bootstrap
from brody_assets.demo.legacy import build_legacy_database
from brody_assets.migration.registry import entries
from brody_assets_tests.conftest import make_settings, write_config

from .engine_support import END, ledger_rows, options_json, reset_targets, run_process, snapshot

SLOW = options_json(batch_rows=100, blob_batch_rows=25, sessid_chunk=50)
# The blob decoding of parsed events (and the events computed from them) costs seconds per run and
# exercises the same per-batch transactions as session_protocol_data: left out to keep this fast.
TABLES = ",".join(e.name for e in entries() if e.name not in ("acquisition.parsed_events", "acquisition.behavior_event"))


@pytest.fixture(scope="module")
def target(mariadb_server, prefix_factory, tmp_path_factory):
    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    build_legacy_database(conn, prefix, "small", seed=11, end_date=END)
    settings = make_settings(mariadb_server, prefix)
    bootstrap(conn, settings)
    config = write_config(settings, tmp_path_factory.mktemp("runs") / "dj_local_conf.json")
    run_process(config, "--declare")
    run_process(config, "--options", options_json(), "--tables", TABLES)
    yield {"conn": conn, "settings": settings, "config": config, "reference": snapshot(conn, settings)}
    conn.close()


def _log_rows(target) -> int:
    with target["conn"].cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{target['settings'].new_prefix}migration`.`run_log`")
        return cur.fetchone()[0]


def test_sigkill_mid_run_then_rerun_equals_uninterrupted(target):
    conn, settings = target["conn"], target["settings"]
    reset_targets(conn, settings)
    proc = run_process(target["config"], "--options", SLOW, "--tables", TABLES, wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _log_rows(target) >= 16:  # about eight tables done, the next one in flight
                break
        except Exception:  # noqa: BLE001 - the ledger schema may not exist yet
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(conn, settings) != target["reference"]  # it really was interrupted
    run_process(target["config"], "--options", options_json(), "--tables", TABLES)
    assert snapshot(conn, settings) == target["reference"]


def test_two_overlapping_runs_leave_no_duplicates(target):
    conn, settings = target["conn"], target["settings"]
    reset_targets(conn, settings)
    first = run_process(target["config"], "--options", SLOW, "--tables", TABLES, wait=False)
    time.sleep(0.3)
    second = run_process(target["config"], "--options", options_json(), "--tables", TABLES, wait=False)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert snapshot(conn, settings) == target["reference"]
    keys = [(r["table_name"], r["legacy_key"]) for r in ledger_rows(conn, settings)]
    assert len(keys) == len(set(keys))


# --- retried: a lost connection, a lock-wait timeout, a deadlock ---------------------------------


def _run_in_process(settings) -> None:
    from brody_assets.migration.engine import migrate

    from .engine_support import options_from_json

    results = migrate(settings, options_from_json(SLOW), tables=TABLES.split(","))
    assert all(r.new.invariant.holds for r in results)


def _on_first_batch_of(table: str, action):
    """A stand-in for ``sqlstage.shadow_batch`` that runs ``action(ctx)`` once, before the first
    shadow batch of ``table``, then the real batch; ``done`` gets the action's result and the
    server thread id of the pipeline's connection after the batch."""
    from brody_assets.migration.engine import sqlstage

    real, done = sqlstage.shadow_batch, []

    def batch(ctx, e, scope, b):
        if e.name != table or done:
            return real(ctx, e, scope, b)
        done.append(action(ctx))
        result = real(ctx, e, scope, b)
        done.append(ctx.db.conn.thread_id())
        return result

    return batch, done


def test_a_connection_lost_mid_run_is_retried_and_the_run_completes(target, mariadb_server, monkeypatch, caplog):
    from brody_assets.migration.engine import sqlstage

    conn, settings = target["conn"], target["settings"]
    reset_targets(conn, settings)

    def kill(ctx) -> int:
        thread_id = ctx.db.conn.thread_id()
        with mariadb_server.admin_connect() as admin, admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {int(thread_id)}")  # the server drops the pipeline's session
        return thread_id

    batch, done = _on_first_batch_of("action.water", kill)
    monkeypatch.setattr(sqlstage, "shadow_batch", batch)
    caplog.set_level("WARNING", logger="brody_assets.migration.engine.db")

    _run_in_process(settings)

    killed_id, after = done
    assert after != killed_id  # the batch ran on a new connection
    assert any("retrying after" in r.getMessage() for r in caplog.records)
    assert snapshot(conn, settings) == target["reference"]


def test_a_lock_wait_timeout_is_retried_and_the_run_completes(target, mariadb_server, monkeypatch, caplog):
    import threading

    from brody_assets.migration.engine import sqlstage

    conn, settings = target["conn"], target["settings"]
    reset_targets(conn, settings)
    blocker = mariadb_server.admin_connect(autocommit=False)
    shadow = f"`{settings.shadow_prefix}action`.`__water`"

    def hold_the_table(ctx) -> None:
        with blocker.cursor() as cur:  # a gap lock over the whole (empty) shadow table
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("BEGIN")
            cur.execute(f"SELECT * FROM {shadow} FOR UPDATE")
        threading.Timer(2.5, blocker.commit).start()  # released after two timeouts of the batch

    with conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.innodb_lock_wait_timeout")
        (saved,) = cur.fetchone()
        cur.execute("SET GLOBAL innodb_lock_wait_timeout = 1")
    try:
        batch, done = _on_first_batch_of("action.water", hold_the_table)
        monkeypatch.setattr(sqlstage, "shadow_batch", batch)
        caplog.set_level("WARNING", logger="brody_assets.migration.engine.db")
        _run_in_process(settings)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"SET GLOBAL innodb_lock_wait_timeout = {int(saved)}")
        blocker.close()

    assert done
    assert any("1205" in r.getMessage() for r in caplog.records)
    assert snapshot(conn, settings) == target["reference"]


def test_a_deadlock_victim_transaction_is_retried_whole(target, mariadb_server):
    import threading

    from brody_assets.migration.engine.db import Db

    settings = target["settings"]
    # a scratch table in a schema the pipeline account owns (its grants name each schema exactly)
    table = f"`{settings.new_prefix}staging`.`deadlock_test`"
    with mariadb_server.admin_connect() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{settings.new_prefix}staging`")
        cur.execute(f"CREATE OR REPLACE TABLE {table} (id INT PRIMARY KEY, v INT NOT NULL)")
        cur.execute(f"INSERT INTO {table} SELECT seq, 0 FROM `{settings.new_prefix}staging`.seq_1_to_50")
    other = mariadb_server.admin_connect(autocommit=False)
    with other.cursor() as cur:  # the heavier transaction: it holds row 1 and 48 more
        cur.execute("BEGIN")
        cur.execute(f"UPDATE {table} SET v = v + 100 WHERE id = 1 OR id >= 3")
    db = Db(settings.database)
    attempts: list[int] = []
    waiting: list[threading.Thread] = []

    def other_wants_row_2() -> None:
        with other.cursor() as cur:
            cur.execute(f"UPDATE {table} SET v = v + 100 WHERE id = 2")
        other.commit()

    def work(cur) -> int:
        attempts.append(1)
        cur.execute(f"UPDATE {table} SET v = v + 1 WHERE id = 2")
        if len(attempts) == 1:
            waiting.append(threading.Thread(target=other_wants_row_2))
            waiting[0].start()
            time.sleep(0.5)  # the other transaction now waits for row 2
        cur.execute(f"UPDATE {table} SET v = v + 10 WHERE id = 1")  # a cycle: we are the lighter one
        return len(attempts)

    try:
        assert db.transaction(work) == 2  # rolled back as the deadlock victim, then run again whole
        waiting[0].join(timeout=10)
        with mariadb_server.admin_connect() as admin, admin.cursor() as cur:
            cur.execute(f"SELECT id, v FROM {table} WHERE id IN (1, 2, 3) ORDER BY id")
            assert cur.fetchall() == ((1, 110), (2, 101), (3, 100))
    finally:
        db.close()
        other.close()


def test_a_row_the_server_refuses_is_bisected_out_and_quarantined(target, monkeypatch):
    import dataclasses

    from brody_assets.migration import entries as registry_entries

    conn, settings = target["conn"], target["settings"]
    new_water = f"`{settings.new_prefix}action`.`water`"
    reset_targets(conn, settings)
    _run_in_process(settings)
    with conn.cursor() as cur:  # a clean row: it migrates when nothing is wrong
        cur.execute(f"SELECT water_id FROM {new_water} ORDER BY water_id LIMIT 1 OFFSET 150")
        (bad,) = cur.fetchone()
        cur.execute(f"SELECT COUNT(*) FROM {new_water}")
        (clean_count,) = cur.fetchone()
    water = next(e for e in registry_entries.ENTRIES if e.name == "action.water")
    broken = dataclasses.replace(  # a value no reject rule foresees and the column cannot hold
        water, columns={**water.columns, "ratname": f"IF(l.`watering` = {bad}, REPEAT('x', 300), l.`rat`)"}
    )
    monkeypatch.setattr(registry_entries, "ENTRIES", tuple(broken if e is water else e for e in registry_entries.ENTRIES))
    reset_targets(conn, settings)

    _run_in_process(settings)

    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), SUM(water_id = %s) FROM {new_water}", (bad,))
        count, has_bad = cur.fetchone()
        cur.execute(
            f"SELECT stage, reason, detail FROM `{settings.new_prefix}migration`.quarantine "
            "WHERE table_name = 'action.water' AND key_int = %s",
            (bad,),
        )
        ((stage, reason, detail),) = cur.fetchall()
    assert (count, has_bad) == (clean_count - 1, 0)  # the rest of its batches migrated
    assert (stage, reason) == ("shadow", "insert_error")
    assert "Data too long for column 'ratname'" in detail
