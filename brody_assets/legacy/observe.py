"""Observe legacy tables: row count, newest date and highest key, one cheap aggregate per table.

Plain Python + SQL (no Dagster): the observation assets and the CLI both call this.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pymysql

from brody_assets.db.columns import Column, pymysql_query, read_columns
from brody_assets.legacy.catalog import LegacyTable
from brody_assets.legacy.columns import remarks


class MissingLegacyTableError(RuntimeError):
    """A legacy table the migration reads does not exist (or the account cannot see it)."""


@dataclass(frozen=True)
class TableObservation:
    table: LegacyTable
    row_count: int
    newest_date: str | None
    max_key: int | None
    columns: tuple[Column, ...] = ()  # the table's DDL as the server holds it

    @property
    def data_version(self) -> str:
        return f"rows={self.row_count};newest={self.newest_date};maxkey={self.max_key}"


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)  # zero or partial dates come back as text ('0000-00-00')


def observe_table(conn: pymysql.Connection, table: LegacyTable, schema_prefix: str) -> TableObservation:
    """Count rows and find the newest date and the highest key of one legacy table."""
    columns = ["COUNT(*)"]
    columns.append(f"MAX(`{table.date_column}`)" if table.date_column else "NULL")
    single_key = len(table.primary_key) == 1
    columns.append(f"MAX(`{table.primary_key[0]}`)" if single_key else "NULL")
    sql = f"SELECT {', '.join(columns)} FROM {table.qualified(schema_prefix)}"
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            count, newest, max_key = cursor.fetchone()
    except pymysql.err.ProgrammingError as error:
        if error.args and error.args[0] in (1146, 1142, 1049):  # no table / denied / no schema
            raise MissingLegacyTableError(
                f"legacy table {table.qualified(schema_prefix)} is missing or not readable by this "
                f"account ({error.args[1]}). Check 'legacy.schema_prefix' in dj_local_conf.json and "
                "the read-only account's grants."
            ) from None
        raise
    return TableObservation(
        table=table,
        row_count=int(count),
        newest_date=_as_text(newest),
        max_key=int(max_key) if max_key is not None else None,
        columns=tuple(legacy_columns(conn, table, schema_prefix)),
    )


def legacy_columns(conn: pymysql.Connection, table: LegacyTable, schema_prefix: str) -> list[Column]:
    """The table's columns as the server holds them; descriptions as :func:`.columns.remarks`."""
    return [
        dataclasses.replace(column, comment=remarks(table, column.name, column.comment))
        for column in read_columns(pymysql_query(conn), f"{schema_prefix}{table.schema}", table.name)
    ]


def observe_tables(
    conn: pymysql.Connection, tables: Iterable[LegacyTable], schema_prefix: str
) -> tuple[list[TableObservation], list[str]]:
    """Observe every table; returns the observations and a message per missing table."""
    observations, missing = [], []
    for table in tables:
        try:
            observations.append(observe_table(conn, table, schema_prefix))
        except MissingLegacyTableError as error:
            missing.append(str(error))
    return observations, missing
