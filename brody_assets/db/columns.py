"""What a table on the server looks like: its columns (name, type, comment, key, nullability).

Read from ``information_schema.COLUMNS``, the server's own record of the table's DDL: DataJoint
writes each attribute's ``# comment`` there, and the legacy tables' DDL is what the lab's server
holds. Plain SQL (no Dagster, no DataJoint); ``query`` is any ``(sql, args) -> rows`` function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Query = Callable[[str, Sequence[Any]], Sequence[Sequence[Any]]]

_COLUMNS_SQL = (
    "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_COMMENT, COLUMN_KEY, IS_NULLABLE "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
    "ORDER BY ORDINAL_POSITION"
)
# DataJoint stores its own type of special attributes in front of the comment: ":<type>:comment".
_DJ_TYPE = re.compile(r"^:([a-z0-9_@<>]+):")


@dataclass(frozen=True)
class Column:
    """One column of a server table."""

    name: str
    type: str  # the server's COLUMN_TYPE, e.g. "int(10) unsigned", "longblob"
    comment: str
    primary_key: bool
    nullable: bool


def read_columns(query: Query, schema: str, table: str) -> list[Column]:
    """The columns of ``schema.table`` in table order (empty when the table does not exist)."""
    columns = []
    for name, col_type, comment, key, nullable in query(_COLUMNS_SQL, (schema, table)):
        comment = str(comment or "")
        dj_type = _DJ_TYPE.match(comment)
        if dj_type:  # e.g. ":attach:the file" -> type "attach", comment "the file"
            col_type, comment = dj_type.group(1), comment[dj_type.end():]
        columns.append(Column(str(name), str(col_type), comment.strip(), key == "PRI", nullable == "YES"))
    return columns


def pymysql_query(conn) -> Query:
    """A :data:`Query` over a PyMySQL connection."""

    def query(sql: str, args: Sequence[Any]) -> list[tuple]:
        with conn.cursor() as cursor:
            cursor.execute(sql, tuple(args))
            return list(cursor.fetchall())

    return query
