"""Legacy rows fetched through the read-only account into temporary tables of the pipeline's
connection (same column types, charsets and collations), and the legacy server's
``information_schema`` rows for the schema-comparison checks. Nothing is written on the legacy
server; on the pipeline server, only ``TEMPORARY`` tables (gone with the connection).
"""

from __future__ import annotations

import re
from typing import Any

import pymysql
import pymysql.cursors

from brody_assets.integrity.declarations import CheckDeclaration, schema_for
from brody_assets.integrity.xserver_db import CrossServerError, Federation

LEGACY_SCHEMAS = ("bdata", "ratinfo", "protocol")
INFO = re.compile(r"\binformation_schema\.(COLUMNS|TABLES)\b")


def temp_name(schema: str, table: str) -> str:
    return f"_xs_{schema}__{table}"


def _columns(fed: Federation, real_schema: str, table: str) -> list[dict[str, Any]]:
    return fed.rows(
        fed.legacy,
        "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, CHARACTER_SET_NAME AS cs, "
        "COLLATION_NAME AS co, COLUMN_KEY AS k FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (real_schema, table),
    )


def stage(
    fed: Federation, d: CheckDeclaration, schema: str, table: str, where: str, text: str
) -> None:
    """Copy the legacy rows of ``schema.table`` matching ``where`` into a temporary table."""
    name = temp_name(schema, table)
    real = fed.settings.legacy_schema(schema)
    columns = _columns(fed, real, table)
    if not columns:
        raise CrossServerError(
            f"{d.key}: legacy table {real}.{table} not found (or not readable) on the legacy "
            f"server as {fed.settings.legacy.user}"
        )
    # Blob columns travel only when the check names them (parsed_events.peh is most of legacy).
    kept = [
        c
        for c in columns
        if "blob" not in c["type"].lower() or re.search(rf"\b{re.escape(c['name'])}\b", text)
    ]
    holds = (where, tuple(c["name"] for c in kept))
    if fed.staged.get(name) == holds:
        return
    defs = []
    for c in kept:
        charset = f" CHARACTER SET {c['cs']} COLLATE {c['co']}" if c["cs"] else ""
        defs.append(f"`{c['name']}` {c['type']}{charset} NULL")
    primary = [c["name"] for c in columns if c["k"] == "PRI"]
    if primary and all(c in {k["name"] for k in kept} for c in primary):
        defs.append("PRIMARY KEY (" + ", ".join(f"`{c}`" for c in primary) + ")")
    target = f"`{schema_for('migration', fed.settings)}`.`{name}`"
    names = ", ".join(f"`{c['name']}`" for c in kept)
    with fed.pipeline.cursor() as cursor:
        cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {target}")
        cursor.execute(f"CREATE TEMPORARY TABLE {target} ({', '.join(defs)})")
    fed.staged.pop(name, None)
    total = 0
    insert = f"INSERT INTO {target} ({names}) VALUES ({', '.join(['%s'] * len(kept))})"
    with fed.legacy.cursor(pymysql.cursors.SSCursor) as source:
        source.execute(
            f"SELECT {names} FROM `{real}`.`{table}` WHERE {where} LIMIT {fed.fetch_limit + 1}"
        )
        while True:
            chunk = source.fetchmany(5000)
            if not chunk:
                break
            total += len(chunk)
            if total > fed.fetch_limit:
                source.fetchall()
                raise CrossServerError(
                    f"{d.key}: would fetch more than {fed.fetch_limit:,} rows of legacy "
                    f"{real}.{table} to compare across servers; give this expectation a "
                    "narrower cross_server provider"
                )
            with fed.pipeline.cursor() as cursor:
                cursor.executemany(insert, chunk)
    fed.stats["rows_fetched"] += total
    fed.staged[name] = holds


def stage_information_schema(fed: Federation) -> None:
    """The legacy server's description of the legacy schemas, as two temporary tables."""
    if fed.info_staged:
        return
    schema = schema_for("migration", fed.settings)
    names = [fed.settings.legacy_schema(s) for s in LEGACY_SCHEMAS]
    marks = ", ".join(["%s"] * len(names))
    tables = [
        ("TABLES", "TABLE_SCHEMA, TABLE_NAME", 2),
        ("COLUMNS", "TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE", 4),
    ]
    for view, cols, n in tables:
        with fed.legacy.cursor() as cursor:
            cursor.execute(
                f"SELECT {cols} FROM information_schema.{view} WHERE TABLE_SCHEMA IN ({marks})",
                names,
            )
            rows = list(cursor.fetchall())
        target = f"`{schema}`.`_xs_is_{view.lower()}`"
        defs = ", ".join(
            f"`{c.strip()}` {'LONGTEXT' if c.strip() == 'COLUMN_TYPE' else 'VARCHAR(64)'} "
            "CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci"
            for c in cols.split(",")
        )
        with fed.pipeline.cursor() as cursor:
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {target}")
            cursor.execute(f"CREATE TEMPORARY TABLE {target} ({defs})")
            if rows:
                cursor.executemany(f"INSERT INTO {target} VALUES ({', '.join(['%s'] * n)})", rows)
        fed.stats["rows_fetched"] += len(rows)
    fed.info_staged = True


def information_schema(fed: Federation, text: str) -> str:
    """``information_schema.X`` read as: the pipeline server's, without any schema named like a
    legacy one, plus the legacy server's rows for the legacy schemas."""
    schema = schema_for("migration", fed.settings)
    names = ", ".join(fed.literal(fed.settings.legacy_schema(s)) for s in LEGACY_SCHEMAS)
    cols = {
        "TABLES": "TABLE_SCHEMA, TABLE_NAME",
        "COLUMNS": "TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE",
    }

    def swap(match: re.Match) -> str:
        view = match.group(1)
        return (
            f"(SELECT {cols[view]} FROM information_schema.{view} WHERE TABLE_SCHEMA NOT IN "
            f"({names}) UNION ALL SELECT {cols[view]} FROM `{schema}`.`_xs_is_{view.lower()}`)"
        )

    return INFO.sub(swap, text)
