"""Behavior events as LOAD DATA lines: the direct ``dj0`` reader agrees with the reference
expansion on every shape, and the bulk writer stores exactly those rows (real MariaDB)."""

from __future__ import annotations

import random

import datajoint.blob as dj_blob
import numpy as np
import pymysql
import pytest

from brody_assets.demo.legacy import blobs as legacy_blobs
from brody_assets.demo.legacy import mym
from brody_assets.migration.engine.blobs import pack_native, transform_parsed_events
from brody_assets.migration.engine.eventload import (
    EVENT_COLUMNS,
    EventLoader,
    LoadMismatch,
    _fast_text,
    parse_lines,
    rows_text,
    session_event_text,
)
from brody_assets.migration.engine.events import (
    EVENT_NAME_TOO_LONG,
    EVENT_TIME_INVALID,
    EVENTS_ODD_COUNT,
    behavior_event_rows,
)
from brody_assets_tests.conftest import EVENTS_TABLE_DDL

from .native_support import Counting


def reference(sessid: int, blob: bytes):
    """What the reference path gives: lines and count, or the rejection."""
    result = behavior_event_rows(sessid, dj_blob.unpack(blob))
    if result.rejected:
        return None, result.rejected
    return rows_text(result.rows), len(result.rows)


def generator_blob(seed: int, trials: int) -> bytes:
    peh = legacy_blobs.peh_value(random.Random(seed), trials)
    return transform_parsed_events([{"sessid": 1, "peh": mym.encode(peh)}]).good[0]["peh"]


def ascii_keys(records) -> bool:
    """Whether every key is ASCII (the C reader declines the rest; Python reads them)."""
    return all(key.isascii() for record in records for key in record)


def answered(implementation: Counting | None) -> int:
    return implementation.answered["event_text"] if implementation is not None else 0


def nested() -> np.ndarray:
    value = np.empty(2, dtype=object)
    value[:] = [np.array([1.0]), np.array([2.0])]
    return value


# Sessions of every shape: (name, records, takes the direct reader)
SHAPES = [
    ("pairs in a (k, 2) array", [{"pokes__C": np.array([[1.0, 1.5], [2.0, 2.2], [3.0, 3.5]])}], True),
    ("a (2, 3) array pairs row-major", [{"pokes__C": np.arange(6.0).reshape(2, 3)}], True),
    ("(1, 2) and (2, 1)", [{"a__x": np.array([[1.0, 2.0]]), "b__y": np.array([[3.0], [4.0]])}], True),
    ("empty arrays", [{"states__a": np.zeros((0, 2)), "pokes__L": np.array([1.0, 2.0])}], True),
    ("NaN in and out", [{"states__a": np.array([[1.0, np.nan], [np.nan, 4.0]])}], True),
    ("signed zero, tiny and huge times", [{"w__v": np.array([-0.0, 1e-300, 1e22, 123456789.123456789])}], True),
    ("a column missing from a trial", [{"a__x": np.array([1.0, 2.0]), "b__y": np.array([1.0, 2.0])},
                                       {"b__y": np.array([3.0, 4.0])}], True),
    ("a column that is a string in one trial", [{"a__x": np.array([1.0, 2.0])}, {"a__x": "none"}], True),
    ("strings and scalars beside arrays", [{"s__start": "state_0", "n": 3.0, "p__C": np.array([1.0, 2.0])}], True),
    ("names with tabs, backslashes and accents", [{"tâb\tx__n\\a\nme": np.array([1.0, 2.0])}], True),
    ("no double underscore", [{"licks": np.array([1.0, 2.0])}], True),
    ("zero trials", [], True),
    ("names exactly at the widths", [{"t" * 16 + "__" + "n" * 32: np.array([1.0, 2.0])}], True),
    ("a single record (dict)", {"licks": np.array([1.0, 2.0])}, False),
    ("an odd count", [{"pokes__C": np.array([1.0, 2.0, 3.0])}, {"pokes__C": np.array([4.0, 5.0, 6.0])}], False),
    ("an infinite time", [{"pokes__C": np.array([1.0, np.inf])}], False),
    ("an over-long name", [{"pokes__" + "n" * 33: np.array([1.0, 2.0])}], False),
    ("nested arrays", [{"states__x": nested(), "pokes__C": np.array([1.0, 2.0])}], False),
    ("an int array", [{"pokes__C": np.array([1, 2], dtype=np.int64)}], False),
    ("a bool array", [{"pokes__C": np.array([True, False])}], False),
    ("a float32 array", [{"pokes__C": np.array([1.5, 2.5], dtype=np.float32)}], False),
    ("a 3-d array", [{"pokes__C": np.zeros((2, 2, 2))}], False),
    ("not a list of records", [1.0, 2.0], False),
]


@pytest.mark.parametrize(("records", "direct"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_every_shape_gives_the_reference_rows_or_rejection(records, direct: bool, implementation) -> None:
    blob = pack_native(records)

    got = session_event_text(behavior_event_rows, 7, blob)

    assert got == reference(7, blob)
    assert (_fast_text(7, blob) is not None) is direct
    if implementation is not None:  # the C reader took the direct shapes with ASCII names
        assert bool(answered(implementation)) is (direct and ascii_keys(records))


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([{"pokes__C": np.array([1.0, 2.0, 3.0])}], EVENTS_ODD_COUNT),
        ([{"pokes__C": np.array([1.0, -np.inf])}], EVENT_TIME_INVALID),
        ([{"pokes__" + "n" * 33: np.array([1.0, 2.0])}], EVENT_NAME_TOO_LONG),
    ],
)
def test_rejections_are_the_reference_reasons(records, reason: str, implementation) -> None:
    text, (got_reason, detail) = session_event_text(behavior_event_rows, 3, pack_native(records))

    assert text is None and got_reason == reason and detail
    assert answered(implementation) == 0


def test_generator_sessions_take_the_direct_reader_and_match_the_reference(implementation) -> None:
    for seed in range(60):
        blob = generator_blob(seed, trials=1 + seed % 12)
        assert _fast_text(5, blob) is not None
        assert session_event_text(behavior_event_rows, 5, blob) == reference(5, blob)
    if implementation is not None:
        assert answered(implementation) == 2 * 60


def test_random_sessions_match_the_reference(implementation) -> None:
    rng = np.random.default_rng(3)
    columns = ["pokes__C", "pokes__L", "states__a", "waves__go", "licks", "x__" + "y" * 31]
    for _ in range(300):
        records = []
        for _ in range(int(rng.integers(0, 6))):
            record = {}
            for column in columns:
                kind = rng.integers(0, 10)
                if kind < 6:
                    rows = int(rng.integers(0, 4))
                    value = rng.normal(size=(rows, 2)) if kind < 4 else rng.normal(size=2 * rows)
                    if rng.random() < 0.1 and value.size:
                        value.flat[int(rng.integers(0, value.size))] = rng.choice([np.nan, np.inf])
                    record[column] = value
                elif kind < 8:
                    record[column] = rng.normal(size=int(rng.integers(1, 4)))  # maybe odd
                elif kind == 8:
                    record[column] = "text"
            records.append(record)
        blob = pack_native(records)
        assert session_event_text(behavior_event_rows, 9, blob) == reference(9, blob)
    if implementation is not None:
        assert answered(implementation) > 50


def test_corrupt_blobs_fall_back_to_the_reference_outcome(implementation) -> None:
    blob = dj_blob.pack([{"pokes__C": np.array([1.0, 2.0])}], compress=False)
    for cut in (len(blob) - 3, len(blob) // 2):
        damaged = blob[:cut]
        assert _fast_text(1, damaged) is None
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the reference raises, so does ours
            dj_blob.unpack(damaged)
        with pytest.raises(Exception):  # noqa: B017, PT011
            session_event_text(behavior_event_rows, 1, damaged)


@pytest.mark.parametrize("name", ["tâb\tx__n\\a\nme", "tab\tx__n\\a\nme\r\0"])
def test_lines_parse_back_to_the_reference_tuples(name: str, implementation) -> None:
    records = [{name: np.array([1.0, np.nan]), "p__C": np.array([-0.0, 1e-300])}]
    expected = behavior_event_rows(4, records).rows
    text, count = session_event_text(behavior_event_rows, 4, pack_native(records))

    assert count == 2
    assert parse_lines(text) == [tuple(row[c] for c in EVENT_COLUMNS) for row in expected]
    if implementation is not None:  # the C reader escapes the ASCII name itself
        assert bool(answered(implementation)) is name.isascii()


# --- the writer, on the real server -----------------------------------------------------------------

TRICKY = [
    {"pokes__C": np.array([[1.0, 1.5], [2.0, np.nan]]), "tâb\tx__n\\a\nme\r\0": np.array([-0.0, 1e-300])},
    {"waves__\\N": np.array([1e22, 123456789.123456789]), "a__'q\"": np.array([np.nan, 5.0])},
]


# the columns of __behavior_event (spec §2.21), for scratch tables of the writer's tests
EVENTS_COLUMNS_DDL = EVENTS_TABLE_DDL


@pytest.fixture
def events_table(mariadb_server, unique_prefix):
    conn = mariadb_server.admin_connect(local_infile=True, autocommit=False, sql_mode="STRICT_ALL_TABLES")
    table = f"`{unique_prefix}ev`.`events`"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{unique_prefix}ev`")
        cur.execute(
            f"CREATE TABLE {table} ({EVENTS_COLUMNS_DDL}) CHARSET utf8mb4"
        )
    conn.commit()
    yield conn, table
    conn.close()


def _blocks(records_per_session: list) -> tuple[list[tuple], list[tuple]]:
    blocks, expected = [], []
    for sessid, records in enumerate(records_per_session, start=1):
        text, count = session_event_text(behavior_event_rows, sessid, pack_native([records]))
        blocks.append((sessid, text, count))
        expected += [tuple(r[c] for c in EVENT_COLUMNS) for r in behavior_event_rows(sessid, [records]).rows]
    return blocks, expected


def _stored(conn, table: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM {table} ORDER BY sessid, id_event")
        return [tuple(row) for row in cur.fetchall()]


@pytest.mark.parametrize("local", [True, False], ids=["load-data", "insert-fallback"])
def test_the_writer_stores_exactly_the_reference_rows(events_table, local: bool) -> None:
    conn, table = events_table
    blocks, expected = _blocks(TRICKY)
    loader = EventLoader()
    loader.local = local
    with conn.cursor() as cur:
        written = loader(cur, table, blocks)
    conn.commit()

    assert written == len(expected) == 5
    assert _stored(conn, table) == expected  # (the server stores -0.0 as 0.0, equal in Python)


def test_a_load_that_would_skip_rows_raises_and_leaves_nothing(events_table) -> None:
    conn, table = events_table
    blocks, _ = _blocks(TRICKY)
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (2, 1, 1, 'x', 'y', 1, 0, 0)")
    conn.commit()

    with pytest.raises(LoadMismatch, match=r"wrote 4 of 5 rows .*Duplicate entry '2-1'"), conn.cursor() as cur:
        EventLoader()(cur, table, blocks)
    conn.rollback()

    assert _stored(conn, table) == [(2, 1, 1, "x", "y", 1, 0.0, 0.0)]


def test_a_server_refusing_local_loads_gets_inserts(events_table, mariadb_server) -> None:
    conn, table = events_table
    blocks, expected = _blocks(TRICKY)
    admin = mariadb_server.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 0")
        fresh = mariadb_server.admin_connect(local_infile=True, autocommit=False)
        loader = EventLoader()
        try:
            with fresh.cursor() as cur:
                assert loader(cur, table, blocks) == len(expected)
            fresh.commit()
        finally:
            fresh.close()
    finally:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 1")
        admin.close()

    assert loader.local is False
    assert _stored(conn, table) == expected  # (the server stores -0.0 as 0.0, equal in Python)


def test_strict_mode_server_errors_are_not_swallowed(events_table) -> None:
    conn, table = events_table
    loader = EventLoader()
    with pytest.raises(pymysql.MySQLError), conn.cursor() as cur:
        loader(cur, f"{table[:-1]}_missing`", [(1, "1\t1\t1\tp\tC\t1\t1.0\t2.0\n", 1)])


@pytest.fixture
def events_with_parent(mariadb_server, unique_prefix):
    conn = mariadb_server.admin_connect(local_infile=True, autocommit=False, sql_mode="STRICT_ALL_TABLES")
    schema = f"`{unique_prefix}evp`"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {schema}")
        cur.execute(f"CREATE TABLE {schema}.parsed (sessid int PRIMARY KEY)")
        cur.execute(f"INSERT INTO {schema}.parsed VALUES (1), (2)")
        cur.execute(
            f"CREATE TABLE {schema}.events ({EVENTS_COLUMNS_DDL}, "
            f"FOREIGN KEY (sessid) REFERENCES {schema}.parsed (sessid)) CHARSET utf8mb4"
        )
    conn.commit()
    yield conn, f"{schema}.events", f"{schema}.parsed"
    conn.close()


def _checks_on(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT @@SESSION.foreign_key_checks")
        return cur.fetchone()[0] == 1


def test_with_the_parent_locked_the_rows_load_and_the_checks_come_back_on(events_with_parent) -> None:
    conn, table, parent = events_with_parent
    blocks, expected = _blocks(TRICKY)

    with conn.cursor() as cur:
        assert EventLoader(parent=parent)(cur, table, blocks) == len(expected)
    conn.commit()

    assert _stored(conn, table) == expected
    assert _checks_on(conn)


def test_a_session_without_its_parent_is_refused_as_the_foreign_key_would(events_with_parent) -> None:
    conn, table, parent = events_with_parent
    blocks, _ = _blocks(TRICKY + [{"pokes__C": np.array([1.0, 2.0])}])  # sessid 3 has no parent

    with pytest.raises(pymysql.err.IntegrityError, match=r"has no sessid 3"), conn.cursor() as cur:
        EventLoader(parent=parent)(cur, table, blocks)
    conn.rollback()

    assert _stored(conn, table) == []
    assert _checks_on(conn)
    # and without the lock-and-check, the foreign key itself refuses the same rows
    with pytest.raises(LoadMismatch, match="foreign key constraint fails"), conn.cursor() as cur:
        EventLoader()(cur, table, blocks)
    conn.rollback()
