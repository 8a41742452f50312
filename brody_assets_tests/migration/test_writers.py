"""Behavior events loaded on several connections at once (:mod:`brody_assets.migration.engine.writers`):
each batch on a connection of its own, every write ended before the stage returns, the same
rows as one connection, and a SIGKILL mid-load leaves no partial batch."""

from __future__ import annotations

import signal
import threading
import time

import pymysql
import pytest

from brody_assets.db import bootstrap
from brody_assets.demo.legacy import build_legacy_database
from brody_assets.migration.engine.db import Db
from brody_assets.migration.engine.writers import Writers
from brody_assets.migration.registry import entries, entry
from brody_assets.migration.schemas.naming import TABLE_NAMES
from brody_assets_tests.conftest import make_settings, write_config

from .engine_support import END, options_from_json, options_json, run_process

EVENTS = "acquisition.behavior_event"
BEFORE_EVENTS = [e.name for e in entries() if e.name != EVENTS]


@pytest.fixture(scope="module")
def target(mariadb_server, prefix_factory, tmp_path_factory):
    from brody_assets.migration.engine import migrate

    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    build_legacy_database(conn, prefix, "small", seed=5, end_date=END)
    settings = make_settings(mariadb_server, prefix)
    bootstrap(conn, settings)
    config = write_config(settings, tmp_path_factory.mktemp("writers") / "dj_local_conf.json")
    run_process(config, "--declare")
    migrate(settings, options_from_json(options_json(transform_workers=1)), tables=BEFORE_EVENTS)
    e = entry(EVENTS)
    scratch = f"`{settings.new_prefix}migration`.`writers_scratch`"
    events = f"`{settings.new_prefix}{e.family}`.`{TABLE_NAMES[('new', e.family, e.new_class)]}`"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {scratch} (id INT PRIMARY KEY, conn BIGINT, at DOUBLE)")
    yield {"conn": conn, "settings": settings, "config": config, "events": events,
           "scratch": scratch, "db": lambda: Db(settings.database)}
    conn.close()


def _events_state(target) -> tuple:
    """The events table and its ledger rows (without run ids and timestamps)."""
    with target["conn"].cursor() as cur:
        cur.execute(f"CHECKSUM TABLE {target['events']}")
        checksum = cur.fetchone()[1]
        cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT sessid) FROM {target['events']}")
        counts = cur.fetchone()
        cur.execute(
            f"SELECT key_int, stage, reason, detail FROM `{target['settings'].new_prefix}migration`.quarantine "
            "WHERE table_name = %s ORDER BY key_int",
            (EVENTS,),
        )
        ledger = tuple(cur.fetchall())
    return checksum, counts, ledger


def _per_session(target) -> dict[int, tuple]:
    """Per session with events: its row count and a digest of its rows."""
    with target["conn"].cursor() as cur:
        cur.execute(
            f"SELECT sessid, COUNT(*), SUM(CRC32(CONCAT_WS('|', id_event, trial, event_type, event_name, "
            f"entry_num, IFNULL(in_time, 'null'), IFNULL(out_time, 'null')))) FROM {target['events']} GROUP BY sessid"
        )
        return {int(r[0]): (int(r[1]), int(r[2])) for r in cur.fetchall()}


def _reset_events(target) -> None:
    with target["conn"].cursor() as cur:
        cur.execute(f"TRUNCATE TABLE {target['events']}")
        cur.execute(f"DELETE FROM `{target['settings'].new_prefix}migration`.quarantine WHERE table_name = %s",
                    (EVENTS,))
        cur.execute(f"DELETE FROM `{target['settings'].new_prefix}migration`.watermark WHERE table_name = %s",
                    (EVENTS,))


# --- the writers themselves, on real connections ----------------------------------------------


def _insert(target, row_id: int, pause: float = 0.0, spans: list | None = None):
    def write(db: Db) -> int:
        def work(cur) -> int:
            started = time.monotonic()
            time.sleep(pause)
            written = cur.execute(f"INSERT INTO {target['scratch']} VALUES (%s, CONNECTION_ID(), %s)",
                                  (row_id, time.monotonic()))
            if spans is not None:
                spans.append((started, time.monotonic()))
            return written

        return db.transaction(work)

    return write


def _scratch(target) -> list[tuple]:
    with target["conn"].cursor() as cur:
        cur.execute(f"SELECT id, conn FROM {target['scratch']} ORDER BY id")
        rows = list(cur.fetchall())
        cur.execute(f"DELETE FROM {target['scratch']}")
    return rows


def test_writes_run_concurrently_each_on_a_connection_of_its_own(target) -> None:
    own = target["db"]()
    writers = Writers(2, target["db"], own)
    spans: list[tuple[float, float]] = []
    try:
        done = sum(writers.submit(_insert(target, i, pause=0.2, spans=spans)) for i in range(6))
        done += writers.drain()
    finally:
        writers.close()
    rows = _scratch(target)
    assert done == 6 and [r[0] for r in rows] == list(range(6))
    connections = {r[1] for r in rows}
    assert len(connections) == 2 and own.conn.thread_id() not in connections
    spans.sort()
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))  # two at a time
    own.close()


def test_one_connection_writes_on_the_runs_own_connection(target) -> None:
    own = target["db"]()
    writers = Writers(1, target["db"], own)
    assert sum(writers.submit(_insert(target, i)) for i in range(3)) + writers.drain() == 3
    writers.close()
    assert {r[1] for r in _scratch(target)} == {own.conn.thread_id()}
    own.close()


def test_a_failed_write_raises_only_after_every_other_write_has_ended(target) -> None:
    own = target["db"]()
    writers = Writers(2, target["db"], own)
    finished = threading.Event()

    def slow(db: Db) -> int:
        result = _insert(target, 2, pause=0.5)(db)
        finished.set()
        return result

    def failing(db: Db) -> int:
        return db.transaction(lambda cur: cur.execute(f"INSERT INTO {target['scratch']} (nope) VALUES (1)"))

    writers.submit(failing)
    writers.submit(slow)
    with pytest.raises(pymysql.err.OperationalError, match="Unknown column 'nope'"):
        writers.drain()
    assert finished.is_set()
    writers.close()
    assert [r[0] for r in _scratch(target)] == [2]
    own.close()


# --- the events stage -----------------------------------------------------------------------


def test_events_are_the_same_on_one_and_on_two_connections(target) -> None:
    from brody_assets.migration.engine import migrate

    states = []
    for connections in (1, 2):
        _reset_events(target)
        options = options_from_json(options_json(transform_workers=1, blob_batch_rows=20,
                                                 load_connections=connections))
        (result,) = migrate(target["settings"], options, tables=[EVENTS])
        assert result.new.invariant.holds and result.new.batches >= 1
        states.append(_events_state(target))
    assert states[0] == states[1]
    assert states[0][1][0] > 1000  # the rows really were written


def test_sigkill_while_two_connections_load_events_then_rerun_equals_uninterrupted(target) -> None:
    _reset_events(target)
    run_process(target["config"], "--options", options_json(), "--tables", EVENTS)
    reference, whole = _events_state(target), _per_session(target)
    _reset_events(target)
    slow = options_json(transform_workers=1, blob_batch_rows=5, load_connections=2)
    proc = run_process(target["config"], "--options", slow, "--tables", EVENTS, wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with target["conn"].cursor() as cur:
            cur.execute(f"SELECT COUNT(DISTINCT sessid) FROM {target['events']}")
            if cur.fetchone()[0] >= 20:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _per_session(target)
    assert 0 < len(partial) < len(whole)
    assert all(partial[s] == whole[s] for s in partial)  # no session half-written
    run_process(target["config"], "--options", options_json(), "--tables", EVENTS)
    assert _events_state(target) == reference
