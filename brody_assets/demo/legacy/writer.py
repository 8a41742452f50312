"""Creating the legacy schemas and bulk-inserting rows (batched ``executemany``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .ddl import LEGACY_SCHEMAS, TABLE_ORDER, create_table_sql, schema_name
from .tables import Table

BATCH_ROWS = 5000
BLOB_BATCH_ROWS = 1000


def prepare_session(conn: Any) -> None:
    """Permissive legacy session: zero and partial dates allowed (spec §5 #19)."""
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("SET SESSION time_zone = '+00:00'")


def create_schemas(conn: Any, prefix: str) -> None:
    """Drop and re-create ``{prefix}bdata``, ``{prefix}ratinfo``, ``{prefix}protocol`` and the 19 tables."""
    with conn.cursor() as cur:
        for schema in LEGACY_SCHEMAS:
            name = schema_name(prefix, schema)
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET latin1 COLLATE latin1_swedish_ci")
        for table in TABLE_ORDER:
            cur.execute(create_table_sql(table, prefix))


def insert_rows(
    conn: Any, prefix: str, table: Table, rows: Iterable[list[Any]] | None = None
) -> int:
    """Insert ``rows`` (default: all of ``table``) in batches; returns the number inserted."""
    schema, name = table.name.split(".")
    cols = ", ".join(f"`{c}`" for c in table.columns)
    marks = ", ".join(["%s"] * len(table.columns))
    sql = f"INSERT INTO `{schema_name(prefix, schema)}`.`{name}` ({cols}) VALUES ({marks})"
    data = list(table.rows if rows is None else rows)
    size = BLOB_BATCH_ROWS if name in ("sessions", "parsed_events") else BATCH_ROWS
    with conn.cursor() as cur:
        for start in range(0, len(data), size):
            cur.execute("START TRANSACTION")
            cur.executemany(sql, data[start : start + size])
            cur.execute("COMMIT")
    return len(data)


def row_counts(conn: Any, prefix: str) -> dict[str, int]:
    """``{"ratinfo.water": n, ...}`` counted on the server."""
    counts = {}
    with conn.cursor() as cur:
        for table in TABLE_ORDER:
            schema, name = table.split(".")
            cur.execute(f"SELECT COUNT(*) FROM `{schema_name(prefix, schema)}`.`{name}`")
            counts[table] = int(cur.fetchone()[0])
    return counts
