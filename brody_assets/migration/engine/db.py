"""Connections for the engine: strict sessions, retried transactions, named per-table locks.

:class:`Db` wraps one pymysql connection. :meth:`Db.transaction` runs a function inside one
transaction and retries the whole transaction (with reconnect and backoff) when the server
drops the connection (2006, 2013, ...), reports a deadlock (1213) or a lock-wait timeout
(1205). The function must be idempotent; every engine step is (anti-joins). Any other error
is raised to the caller (the copy stages bisect the batch and ledger the failing rows).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pymysql

from brody_assets.config import DatabaseSettings
from brody_assets.db.connect import explain

log = logging.getLogger(__name__)
T = TypeVar("T")

# Writes never truncate or invent values: a too-wide value is a reject rule, never silently cut.
STRICT_MODE = "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
PERMISSIVE_MODE = "NO_ENGINE_SUBSTITUTION"  # legacy-shaped staging copies hold zero dates
RETRIABLE_CODES = {1205, 1213, 1927, 2003, 2006, 2013, 2055}


class LockTimeout(RuntimeError):
    """Another run holds the table's lock for longer than the configured timeout."""


def is_retriable(error: BaseException) -> bool:
    """Lost connection, deadlock or lock-wait timeout: the transaction may simply be retried."""
    if isinstance(error, pymysql.err.InterfaceError):
        return True
    if isinstance(error, pymysql.MySQLError) and error.args:
        return error.args[0] in RETRIABLE_CODES
    return False


class Db:
    """One connection to one server, with a fixed session setup and retried transactions."""

    def __init__(
        self,
        settings: DatabaseSettings,
        sql_mode: str = STRICT_MODE,
        max_retries: int = 5,
        backoff_s: float = 0.2,
        label: str = "db",
        local_infile: bool = False,
    ) -> None:
        self.settings = settings
        self.sql_mode = sql_mode
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.label = label
        self.local_infile = local_infile
        self.held_locks: list[str] = []
        self.lock_timeout_s = 600
        self.conn: pymysql.Connection | None = None
        self.database: str | None = None
        try:
            self.connect()
        except pymysql.MySQLError as error:  # the first connection: say what to fix
            explained = explain(error, settings, "legacy" if label == "legacy" else "pipeline")
            if explained is None:
                raise
            raise explained from None

    def use(self, database: str) -> None:
        """Make ``database`` the default schema (multi-table DELETEs need one); kept on reconnect."""
        self.database = database
        self.conn.select_db(database)

    def connect(self) -> None:
        """(Re)open the connection and set up the session (and re-take held locks)."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = pymysql.connect(
            host=self.settings.host,
            port=self.settings.port,
            user=self.settings.user,
            password=self.settings.password.reveal(),
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=10,
            local_infile=self.local_infile,
            **self.settings.tls_options(),
        )
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = %s", (self.sql_mode,))
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        if self.database:
            self.conn.select_db(self.database)
        for name in self.held_locks:
            self._get_lock(name, self.lock_timeout_s)

    def close(self) -> None:
        for name in list(self.held_locks):
            with contextlib.suppress(Exception):
                self.query("SELECT RELEASE_LOCK(%s)", (name,))
        self.held_locks.clear()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    # --- plain statements (autocommit), retried -----------------------------------------
    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple]:
        """Run one statement in autocommit mode and return its rows (retried when retriable)."""
        return self._retry(lambda: self._run(sql, args))

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> int:
        def run() -> int:
            with self.conn.cursor() as cur:
                return cur.execute(sql, args)

        return self._retry(run)

    def _run(self, sql: str, args: Sequence[Any] | None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def transaction(self, work: Callable[[pymysql.cursors.Cursor], T]) -> T:
        """Run ``work(cursor)`` in one transaction; retried as a whole on retriable errors."""

        def attempt() -> T:
            self.conn.begin()
            try:
                with self.conn.cursor() as cur:
                    result = work(cur)
                self.conn.commit()
                return result
            except BaseException:
                with contextlib.suppress(Exception):
                    self.conn.rollback()
                raise

        return self._retry(attempt)

    def _retry(self, fn: Callable[[], T]) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except Exception as error:  # noqa: BLE001 - classified below
                if not is_retriable(error) or attempt == self.max_retries:
                    raise
                delay = self.backoff_s * (2**attempt)
                log.warning("%s: retrying after %s (attempt %d, %.1fs)", self.label, error, attempt + 1, delay)
                time.sleep(delay)
                if not (isinstance(error, pymysql.MySQLError) and error.args and error.args[0] in (1205, 1213)):
                    self._reconnect_quietly()
        raise AssertionError("unreachable")

    def _reconnect_quietly(self) -> None:
        for attempt in range(self.max_retries + 1):
            try:
                self.connect()
                return
            except pymysql.MySQLError:
                time.sleep(self.backoff_s * (2**attempt))
        self.connect()

    # --- named locks ----------------------------------------------------------------------
    def _get_lock(self, name: str, timeout_s: int) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (name, timeout_s))
            (got,) = cur.fetchone()
        if got != 1:
            raise LockTimeout(f"could not take lock {name!r} within {timeout_s}s: another migration run holds it")

    @contextlib.contextmanager
    def lock(self, name: str, timeout_s: int) -> Iterator[None]:
        """Hold the server-wide named lock ``name`` (one run per table at a time)."""
        name = name[:64]
        self.lock_timeout_s = timeout_s
        self._retry(lambda: self._get_lock(name, timeout_s))
        self.held_locks.append(name)
        try:
            yield
        finally:
            self.held_locks.remove(name)
            with contextlib.suppress(Exception):
                self.query("SELECT RELEASE_LOCK(%s)", (name,))
