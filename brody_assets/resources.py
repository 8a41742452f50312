"""Dagster resources over the validated configuration: DataJoint, the read-only legacy DB, the drives.

Each resource names at most a config file; the settings (and passwords) are read from it when a run
uses the resource, never at import and never into run config, logs or metadata. Tests pass the same
resources pointed at the test server (a config file they write).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pymysql
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from brody_assets.config import ConfigError, Settings, load_settings
from brody_assets.db.connect import connect, explain
from brody_assets.db.server import LEGACY_SQL_MODE


class _SettingsResource(ConfigurableResource):
    """Shared: where the configuration comes from (default: $BRODY_CONFIG or ./dj_local_conf.json)."""

    config_file: str | None = None
    _settings: Settings | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file)
        return self._settings


_DJ_LOCK = threading.Lock()
_DJ_CONNECTIONS: dict[tuple, object] = {}


class DataJointResource(_SettingsResource):
    """The DataJoint connection to the new, shadow and ephys schemas (one per process).

    DataJoint's connection is not thread-safe: runs use the in-process executor, or one process
    per step, never threads sharing it.
    """

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Fail the run at its start, once, with an actionable message when the pipeline account
        cannot connect (instead of one failure per step)."""
        connect(self.settings.database, "pipeline", self.settings.source).close()

    def connection(self):
        import datajoint as dj

        settings = self.settings
        key = (os.getpid(), settings.database.host, settings.database.port, settings.database.user)
        with _DJ_LOCK:
            conn = _DJ_CONNECTIONS.get(key)
            if conn is None or not conn.is_connected:
                dj.config.update(settings.datajoint_config())
                try:
                    conn = dj.Connection(
                        host=settings.database.host,
                        user=settings.database.user,
                        password=settings.database.password.reveal(),
                        port=settings.database.port,
                        use_tls=settings.database.use_tls,
                    )
                except Exception as error:
                    explained = explain(error, settings.database, "pipeline", settings.source)
                    if explained is None:
                        raise
                    raise explained from None
                _DJ_CONNECTIONS[key] = conn
            return conn

    @property
    def new_prefix(self) -> str:
        return self.settings.new_prefix

    @property
    def shadow_prefix(self) -> str:
        return self.settings.shadow_prefix


def _legacy_preflight(settings: Settings, context: InitResourceContext) -> None:
    """Every run that reads legacy starts here: schemas present, account read-only (or refused)."""
    from brody_assets.legacy.preflight import legacy_preflight

    for warning in legacy_preflight(settings):
        if context.log:
            context.log.warning(warning)


class LegacyDatabaseResource(_SettingsResource):
    """Read-only access to the legacy schemas (``bdata``, ``ratinfo``, ``protocol``).

    When a run starts it checks, once: the account connects, the legacy schemas exist, and the
    account can only read (a writable account stops the run unless
    ``custom.legacy.allow_writable_account`` is true; then a loud warning is logged).
    """

    def setup_for_execution(self, context: InitResourceContext) -> None:
        _legacy_preflight(self.settings, context)

    @property
    def schema_prefix(self) -> str:
        return self.settings.legacy_schema_prefix

    @contextlib.contextmanager
    def connect(self) -> Iterator[pymysql.Connection]:
        """A connection as the read-only account, with the permissive sql_mode zero dates need."""
        conn = connect(
            self.settings.legacy, "legacy", self.settings.source, autocommit=True, sql_mode=LEGACY_SQL_MODE
        )
        try:
            yield conn
        finally:
            conn.close()


class DrivesResource(_SettingsResource):
    """The archive drive (raw SpikeGLX recordings, read-only) and the cup drive (Kilosort outputs)."""

    def _root(self, name: str) -> Path:
        root = getattr(self.settings, f"{name}_root")
        if root is None:
            raise ConfigError(
                f"the {name} drive is not configured: set 'custom.ephys_root_data_dir' in "
                "dj_local_conf.json to [archive drive, cup drive]"
            )
        if not root.is_dir():
            raise ConfigError(f"the {name} drive root {root} does not exist or is not a folder")
        return root

    @property
    def archive_root(self) -> Path:
        return self._root("archive")

    @property
    def cup_root(self) -> Path:
        return self._root("cup")


class MigrationResource(_SettingsResource):
    """Options of one migration run, settable in the UI launchpad (``resources.migration.config``).

    ``days_back``: the incremental window (the lab ran 3 days); ``full_backfill``: reconsider every
    legacy row; ``mode``: ``auto`` (server-side ``INSERT … SELECT`` when the legacy and new schemas
    share a server, else streamed batches), ``server`` or ``stream``. Lab decisions the old code
    hard-coded are options with the old values as defaults. The engine context (both connections)
    is opened once per run and closed when the run ends.
    """

    days_back: int = 3
    full_backfill: bool = False
    mode: str = "auto"
    excluded_contact_ids: list[int] = [53, 59, 97]
    duplicate_key_winner: str = "lowest_legacy_id"
    batch_rows: int = 30_000
    transform_workers: int = 0  # processes for the blob / behavior-event transforms (0: one per CPU)
    load_connections: int = 2  # connections loading behavior events at once (the server's threads)
    _context: object | None = PrivateAttr(default=None)
    _run_id: str | None = PrivateAttr(default=None)

    def options(self):
        from brody_assets.migration.registry import MigrationOptions

        return MigrationOptions(
            excluded_contact_ids=tuple(self.excluded_contact_ids),
            duplicate_key_winner=self.duplicate_key_winner,
            days_back=self.days_back,
            full_backfill=self.full_backfill,
            mode=self.mode,
            batch_rows=self.batch_rows,
            transform_workers=self.transform_workers,
            load_connections=self.load_connections,
        )

    @contextlib.contextmanager
    def yield_for_execution(self, context: InitResourceContext):
        self._context = None
        self._run_id = context.run_id if context.dagster_run else None
        connect(self.settings.database, "pipeline", self.settings.source).close()
        _legacy_preflight(self.settings, context)
        try:
            yield self
        finally:
            if self._context is not None:
                self._context.close()
                self._context = None

    def engine(self):
        """The engine context of this run (connections opened, tables declared, on first use)."""
        if self._context is None:
            from brody_assets.migration.declare import ensure_declared
            from brody_assets.migration.engine import open_context

            ensure_declared(self.settings)
            self._context = open_context(self.settings, self.options(), run_id=self._run_id)
        return self._context
