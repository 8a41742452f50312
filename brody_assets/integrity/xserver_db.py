"""The two connections of a cross-server run of the checks, and what it has fetched so far.

The pipeline account on the pipeline server, the read-only legacy account on the legacy server
(the ``LegacyDatabaseResource``'s connection when the checks run in Dagster). See
:mod:`brody_assets.integrity.xserver`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pymysql.cursors

from brody_assets.config import DatabaseSettings, Settings
from brody_assets.db.server import LEGACY_SQL_MODE
from brody_assets.integrity import keydiff
from brody_assets.integrity.declarations import render_sql, unformat
from brody_assets.migration.registry import TableEntry

FETCH_LIMIT = 500_000


class CrossServerError(RuntimeError):
    """A mixed check cannot be run across the two servers (the message says why)."""


def cross_server(settings: Settings) -> bool:
    """Whether legacy lives on another server than the pipeline's schemas."""
    return (settings.legacy.host, settings.legacy.port) != (
        settings.database.host,
        settings.database.port,
    )


# -- connections ---------------------------------------------------------------------------------


def connect(account: DatabaseSettings) -> pymysql.Connection:
    """A connection with the permissive sql_mode the legacy zero dates need (both servers)."""
    return pymysql.connect(
        host=account.host,
        port=account.port,
        user=account.user,
        password=account.password.reveal(),
        autocommit=True,
        charset="utf8mb4",
        sql_mode=LEGACY_SQL_MODE,
        connect_timeout=10,
        **account.tls_options(),
    )


@dataclass
class Federation:
    """The two connections of a cross-server run and what it has fetched so far."""

    settings: Settings
    pipeline: Any
    legacy: Any
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    fetch_limit: int = FETCH_LIMIT
    staged: dict[str, tuple] = field(default_factory=dict)  # temp table -> (WHERE, columns)
    info_staged: bool = False
    watermarks: dict[str, Any] = field(default_factory=dict)
    found: dict[tuple, list[Any]] = field(default_factory=dict)  # (provider, entry) -> ids
    stats: dict[str, int] = field(
        default_factory=lambda: {"rows_fetched": 0, "keys_compared": 0, "queries": 0}
    )

    def close(self) -> None:
        """Close both connections (the temporary tables go with the pipeline's)."""
        with contextlib.suppress(Exception):
            self.stack.close()

    # -- small helpers -------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """Declaration SQL with schema placeholders filled, as the server sees it."""
        return unformat(render_sql(text, self.settings))

    def rows(self, conn, sql: str, args: Any = None) -> list[dict[str, Any]]:
        self.stats["queries"] += 1
        with conn.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(sql, args)
            return [dict(r) for r in cursor.fetchall()]

    def values(self, conn, sql: str) -> list[Any]:
        self.stats["queries"] += 1
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return [r[0] for r in cursor.fetchall()]

    def literal(self, value: Any) -> str:
        return self.pipeline.escape(value)

    def in_list(self, column: str, values: Iterable[Any]) -> str:
        values = list(dict.fromkeys(values))
        if not values:
            return "FALSE"
        return f"`{column}` IN ({', '.join(self.literal(v) for v in values)})"

    def watermark(self, e: TableEntry) -> Any:
        if e.name not in self.watermarks:
            found = self.values(
                self.pipeline,
                self.sql("SELECT w.high_key FROM {migration}.`watermark` w WHERE w.table_name = ")
                + self.literal(e.name),
            )
            self.watermarks[e.name] = found[0] if found else None
        return self.watermarks[e.name]

    def diff(self, left: keydiff.Side, right: keydiff.Side) -> keydiff.KeyDiff:
        result = keydiff.diff(left, right)
        self.stats["queries"] += result.queries
        self.stats["keys_compared"] += result.keys_fetched
        return result


def _same_time_zone(pipeline: Any, legacy: Any) -> None:
    """TIMESTAMP values travel, and are hashed, as text in the session's time zone: both sessions
    must use the same one. Servers in one zone keep theirs (so ``CURDATE()`` in a check means
    what it means on one server); servers in different zones both read in UTC."""
    zones = []
    for conn in (pipeline, legacy):
        with conn.cursor() as cursor:
            cursor.execute("SELECT @@session.time_zone, @@system_time_zone")
            zones.append(tuple(cursor.fetchone()))
    if zones[0] != zones[1]:
        for conn in (pipeline, legacy):
            with conn.cursor() as cursor:
                cursor.execute("SET SESSION time_zone = '+00:00'")


def open_federation(
    settings: Settings, legacy_connect: Callable[[], Any] | None = None
) -> Federation:
    """Connect the pipeline account and the read-only legacy account (``legacy_connect``: a
    context manager giving the legacy connection, e.g. ``LegacyDatabaseResource.connect``)."""
    stack = contextlib.ExitStack()
    try:
        pipeline = stack.enter_context(contextlib.closing(connect(settings.database)))
        if legacy_connect is not None:
            legacy = stack.enter_context(legacy_connect())
        else:
            legacy = stack.enter_context(contextlib.closing(connect(settings.legacy)))
        _same_time_zone(pipeline, legacy)
    except Exception:
        stack.close()
        raise
    return Federation(settings, pipeline, legacy, stack=stack)
