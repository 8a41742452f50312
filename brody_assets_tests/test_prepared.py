"""Prepared statements over PyMySQL's connection (``brody_assets.db.prepared``), on the real MariaDB:
values arrive byte for byte, SQL errors are PyMySQL's own, and the statement lives in the
connection's transaction."""

from __future__ import annotations

import uuid

import numpy as np
import pymysql
import pytest

from brody_assets.db.prepared import PreparedStatement, PreparedStatementError, Streamed


@pytest.fixture
def table(admin_conn, unique_prefix):
    schema = f"{unique_prefix}prepared"
    with admin_conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{schema}`")
        cursor.execute(
            f"CREATE TABLE `{schema}`.t (id BIGINT PRIMARY KEY, n BIGINT NULL, x DOUBLE NULL, "
            "s VARCHAR(64) CHARACTER SET utf8mb4 NULL, u BINARY(16) NULL, b LONGBLOB NULL)")
    return f"`{schema}`.t"


def _rows(conn, table: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT id, n, x, s, u, b FROM {table} ORDER BY id")
        return list(cursor.fetchall())


def test_every_value_type_arrives_exactly(admin_conn, table):
    every_byte = bytes(range(256)) * 3 + b"'\\\"\x00\x1a"  # quotes, backslash, NUL, ^Z: nothing escaped
    big = np.random.default_rng(3).standard_normal(1_500_000).astype(np.float32)  # 6 MB, one parameter
    key = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    rows = [
        (1, -(2**63), 1.5e-300, "Ratón µV ✓", key, every_byte),
        (2, np.int64(2**62), np.float32(0.25), "", None, memoryview(big)),
        (3, None, None, None, None, b""),
        (4, True, -2.5e10, "x" * 64, key.bytes, bytearray(b"\x00\x01")),
    ]
    with PreparedStatement(admin_conn, f"INSERT INTO {table} (id, n, x, s, u, b) VALUES (?, ?, ?, ?, ?, ?)") as st:
        assert [st.execute(row) for row in rows] == [1, 1, 1, 1]
    got = _rows(admin_conn, table)
    assert got[0] == (1, -(2**63), 1.5e-300, "Ratón µV ✓", key.bytes, every_byte)
    assert got[1][:5] == (2, 2**62, 0.25, "", None) and got[1][5] == big.tobytes()
    assert got[2] == (3, None, None, None, None, b"")
    assert got[3] == (4, 1, -2.5e10, "x" * 64, key.bytes, b"\x00\x01")


def test_a_multi_row_statement_runs_again_with_new_values(admin_conn, table):
    with PreparedStatement(admin_conn, f"INSERT INTO {table} (id, b) VALUES (?, ?), (?, ?)") as st:
        assert st.n_params == 4
        assert st.execute([1, b"a", 2, b"b"]) == 2
        assert st.execute([3, b"c", 4, b"d"]) == 2
    assert [(r[0], r[5]) for r in _rows(admin_conn, table)] == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]


def test_sql_errors_are_pymysqls_and_the_connection_goes_on(admin_conn, table):
    with PreparedStatement(admin_conn, f"INSERT INTO {table} (id, b) VALUES (?, ?)") as st:
        st.execute([1, b"first"])
        with pytest.raises(pymysql.err.IntegrityError, match="Duplicate entry '1'"):
            st.execute([1, b"again"])
        st.execute([2, b"second"])  # the statement and the connection still work
    with pytest.raises(pymysql.err.OperationalError, match="Unknown column .nope."):
        PreparedStatement(admin_conn, f"INSERT INTO {table} (id, nope) VALUES (?, ?)")
    assert [(r[0], r[5]) for r in _rows(admin_conn, table)] == [(1, b"first"), (2, b"second")]


def test_it_runs_in_the_connections_transaction(admin_conn, table):
    admin_conn.begin()
    with PreparedStatement(admin_conn, f"INSERT INTO {table} (id, b) VALUES (?, ?)") as st:
        st.execute([1, b"rolled back"])
    admin_conn.rollback()
    assert _rows(admin_conn, table) == []


def test_bad_calls_are_refused_before_anything_is_sent(admin_conn, table):
    with PreparedStatement(admin_conn, f"INSERT INTO {table} (id, b) VALUES (?, ?)") as st:
        with pytest.raises(ValueError, match="takes 2 parameters, 1 given"):
            st.execute([1])
        with pytest.raises(TypeError, match="not list"):
            st.execute([1, [1, 2]])
        st.execute([5, b"still fine"])
    with pytest.raises(PreparedStatementError, match="returns rows"):
        PreparedStatement(admin_conn, f"SELECT id FROM {table} WHERE id = ?")
    assert [(r[0], r[5]) for r in _rows(admin_conn, table)] == [(5, b"still fine")]


def test_a_streamed_blob_arrives_whole_and_a_short_one_is_refused(admin_conn, table):
    pieces = [np.random.default_rng(i).bytes(300_000) for i in range(7)]  # 2.1 MB in 300 kB pieces
    read = []

    def lazily():  # the statement asks for the pieces one at a time, while it executes
        for piece in pieces:
            read.append(len(piece))
            yield memoryview(piece)

    with PreparedStatement(admin_conn, f"INSERT INTO {table} (id, s, b) VALUES (?, ?, ?)") as st:
        streamed = Streamed(lazily(), sum(map(len, pieces)))
        assert read == [] and len(streamed) == 2_100_000
        st.execute([1, "streamed", streamed])
        assert read == [300_000] * 7
        st.execute([2, "empty", Streamed(iter(()), 0)])
        with pytest.raises(ValueError, match=r"parameter 2 .* 600000 bytes streamed, 600001 announced"):
            st.execute([3, "short", Streamed(iter(pieces[:2]), 600_001)])
        st.execute([4, "after", Streamed(iter([b"ok"]), 2)])  # nothing of the refused value is left
    got = {r[0]: r[5] for r in _rows(admin_conn, table)}
    assert got == {1: b"".join(pieces), 2: b"", 4: b"ok"}
