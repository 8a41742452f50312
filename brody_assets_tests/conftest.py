"""Shared fixtures: the project's real MariaDB server, admin connections and isolated schema prefixes.

Tests run against a project-managed server in ``.brody/test-server`` (port ``BRODY_TEST_DB_PORT``,
default 33317), started on first use and left running for the next test run. Every test that
creates schemas does so under a fresh prefix, and those schemas are dropped at teardown.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest

from brody_assets.config import PROJECT_ROOT, DatabaseSettings, Secret, Settings
from brody_assets.db import MariaDBServer

TEST_SERVER_HOME = Path(os.environ.get("BRODY_TEST_DB_HOME", PROJECT_ROOT / ".brody" / "test-server"))
TEST_SERVER_PORT = int(os.environ.get("BRODY_TEST_DB_PORT", "33317"))
# The second server of the cross-server tests (legacy on its own server).
LEGACY_SERVER_HOME = Path(
    os.environ.get("BRODY_TEST_LEGACY_DB_HOME", PROJECT_ROOT / ".brody" / "test-legacy-server")
)
LEGACY_SERVER_PORT = int(os.environ.get("BRODY_TEST_LEGACY_DB_PORT", str(TEST_SERVER_PORT + 1)))
TEST_ADMIN_USER = "brody_test_admin"
TEST_ADMIN_PASSWORD = "brody-test-admin"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def mariadb_server() -> MariaDBServer:
    """The test server, started (or reused when already running)."""
    server = MariaDBServer(TEST_SERVER_HOME, TEST_SERVER_PORT)
    server.start()
    with server.admin_connect() as conn, conn.cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                (TEST_ADMIN_USER, host, TEST_ADMIN_PASSWORD),
            )
            cursor.execute(
                f"GRANT ALL PRIVILEGES ON *.* TO '{TEST_ADMIN_USER}'@'{host}' WITH GRANT OPTION"
            )
    return server


@pytest.fixture(scope="session")
def legacy_mariadb_server() -> MariaDBServer:
    """A second server holding only legacy schemas (``BRODY_TEST_LEGACY_DB_PORT``), started (or
    reused when already running): the cross-server layout, legacy on its own server."""
    server = MariaDBServer(LEGACY_SERVER_HOME, LEGACY_SERVER_PORT)
    server.start()
    return server


def grant_legacy_read_only(server: MariaDBServer, settings: Settings) -> None:
    """On ``server``: the legacy account of ``settings``, SELECT on its legacy schemas only."""
    user, password = settings.legacy.user, settings.legacy.password.reveal()
    with server.admin_connect() as conn, conn.cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password)
            )
            for schema in ("bdata", "ratinfo", "protocol"):
                pattern = settings.legacy_schema(schema).replace("_", "\\_")
                cursor.execute(f"GRANT SELECT ON `{pattern}`.* TO %s@%s", (user, host))


def drop_legacy_account(server: MariaDBServer, user: str) -> None:
    with server.admin_connect() as conn, conn.cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))


@pytest.fixture
def admin_conn(mariadb_server: MariaDBServer) -> Iterator[pymysql.Connection]:
    """A root connection over the socket (autocommit, permissive legacy sql_mode)."""
    conn = mariadb_server.admin_connect()
    yield conn
    conn.close()


def _drop_schemas(server: MariaDBServer, prefix: str) -> None:
    with server.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (prefix.replace("_", "\\_") + "%",),
        )
        names = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


_counter = itertools.count()


@pytest.fixture(scope="session")
def prefix_factory(mariadb_server: MariaDBServer) -> Iterator[Callable[[], str]]:
    """Makes fresh schema prefixes; every schema under them is dropped at the end of the session."""
    made: list[str] = []
    run = secrets.token_hex(2)

    def make() -> str:
        prefix = f"t{run}{next(_counter)}_"
        made.append(prefix)
        return prefix

    yield make
    for prefix in made:
        _drop_schemas(mariadb_server, prefix)


@pytest.fixture
def unique_prefix(mariadb_server: MariaDBServer, prefix_factory) -> Iterator[str]:
    """A fresh schema prefix for one test; its schemas are dropped when the test ends."""
    prefix = prefix_factory()
    yield prefix
    _drop_schemas(mariadb_server, prefix)


@pytest.fixture(scope="session")
def dj_connection(mariadb_server: MariaDBServer):
    """A DataJoint connection to the test server as an account that may create any schema."""
    import datajoint as dj

    dj.config["database.use_tls"] = False
    dj.config["safemode"] = False
    dj.config["enable_python_native_blobs"] = True
    connection = dj.Connection(
        host="127.0.0.1",
        user=TEST_ADMIN_USER,
        password=TEST_ADMIN_PASSWORD,
        port=mariadb_server.port,
        use_tls=False,
    )
    yield connection
    connection.close()


def make_settings(
    server: MariaDBServer,
    legacy_prefix: str,
    new_prefix: str | None = None,
    shadow_prefix: str | None = None,
    archive_root: Path | None = None,
    cup_root: Path | None = None,
) -> Settings:
    """Settings for the test server, with per-prefix account names so tests stay isolated."""
    tag = legacy_prefix.rstrip("_")
    return Settings(
        database=DatabaseSettings(
            "127.0.0.1", server.port, f"{tag}_pipe"[:32], Secret("pipe-" + tag)
        ),
        legacy=DatabaseSettings("127.0.0.1", server.port, f"{tag}_ro"[:32], Secret("ro-" + tag)),
        legacy_schema_prefix=legacy_prefix,
        new_prefix=new_prefix or f"{legacy_prefix}new_",
        shadow_prefix=shadow_prefix or f"{legacy_prefix}shadow_",
        archive_root=archive_root,
        cup_root=cup_root,
    )


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save artifacts a person may look at (screenshots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def write_config(settings: Settings, path: Path) -> Path:
    """Write ``settings`` as a dj_local_conf.json in the lab's format (for resources under test)."""
    import json

    conf = {
        "database.host": settings.database.host,
        "database.port": settings.database.port,
        "database.user": settings.database.user,
        "database.password": settings.database.password.reveal(),
        "database.use_tls": False,
        "safemode": False,
        "custom": {
            "database.prefix": settings.new_prefix,
            "database.shadow_prefix": settings.shadow_prefix,
            "legacy.database.host": settings.legacy.host,
            "legacy.database.port": settings.legacy.port,
            "legacy.database.user": settings.legacy.user,
            "legacy.database.password": settings.legacy.password.reveal(),
            "legacy.schema_prefix": settings.legacy_schema_prefix,
            "ephys_root_data_dir": [str(settings.archive_root or ""), str(settings.cup_root or "")],
        },
    }
    path.write_text(json.dumps(conf, indent=2))
    return path
