"""Shared fixtures: the project's real MariaDB server, admin connections and isolated schema prefixes.

Tests run against a project-managed server in ``.brody/test-server`` (``BRODY_TEST_DB_HOME``),
started on first use and left running for the next test run. Its port is ``BRODY_TEST_DB_PORT``
when set; otherwise a free port chosen once and recorded in ``<home>/port``, so the next run finds
the still-running server, and two checkouts on one machine never collide. Every test that
creates schemas does so under a fresh prefix, and those schemas are dropped at teardown.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pymysql
import pytest

from brody_assets.config import PROJECT_ROOT, DatabaseSettings, Secret, Settings
from brody_assets.db import MariaDBServer

TEST_SERVER_HOME = Path(os.environ.get("BRODY_TEST_DB_HOME", PROJECT_ROOT / ".brody" / "test-server"))


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def choose_test_port(home: Path, env: Mapping[str, str], variable: str = "BRODY_TEST_DB_PORT",
                     avoid: tuple[int, ...] = ()) -> int:
    """The test server's port: ``BRODY_TEST_DB_PORT``; else the running server's in ``home``; else
    the port recorded in ``<home>/port`` if still free; else a new free port (then recorded)."""
    if env.get(variable):
        return int(env[variable])
    record = home / "port"
    recorded = int(record.read_text().strip()) if record.is_file() else None
    server = MariaDBServer(home, recorded or 0)
    if server.is_running():
        running = server._running_port()
        if running:
            return running
    if recorded and recorded not in avoid and _port_is_free(recorded):
        return recorded
    port = 0
    while port == 0 or port in avoid:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    home.mkdir(parents=True, exist_ok=True)
    record.write_text(f"{port}\n")
    return port


TEST_SERVER_PORT = choose_test_port(TEST_SERVER_HOME, os.environ)
# The second server of the cross-server tests (legacy on its own server): its own home and port,
# chosen the same way (BRODY_TEST_LEGACY_DB_PORT, else running/recorded/free).
LEGACY_SERVER_HOME = Path(
    os.environ.get("BRODY_TEST_LEGACY_DB_HOME", PROJECT_ROOT / ".brody" / "test-legacy-server")
)
LEGACY_SERVER_PORT = choose_test_port(
    LEGACY_SERVER_HOME, os.environ, "BRODY_TEST_LEGACY_DB_PORT", avoid=(TEST_SERVER_PORT,)
)
TEST_ADMIN_USER = "brody_test_admin"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# the columns of __behavior_event (spec §2.21), for scratch tables of the event writer's tests
EVENTS_TABLE_DDL = (
    "sessid int NOT NULL, id_event int NOT NULL, trial int NOT NULL, event_type varchar(16) NOT NULL, "
    "event_name varchar(32) NOT NULL, entry_num int NOT NULL, in_time double, out_time double, "
    "PRIMARY KEY (sessid, id_event)"
)


def admin_password_for(server: MariaDBServer) -> str:
    """The test admin's password: generated once per test server, kept in a 0600 file beside it
    (the server's own admin logs in through the socket only; DataJoint needs TCP and a password)."""
    path = server.home.parent / f"{server.home.name}.admin-password"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


@pytest.fixture(scope="session")
def mariadb_server() -> MariaDBServer:
    """The test server (locked down like the project's own), started or reused when running."""
    server = MariaDBServer(TEST_SERVER_HOME, TEST_SERVER_PORT)
    server.start()
    password = admin_password_for(server)
    with server.admin_connect() as conn, conn.cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (TEST_ADMIN_USER, host, password)
            )
            cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (TEST_ADMIN_USER, host, password))
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
    """An admin connection over the socket (autocommit, permissive legacy sql_mode)."""
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
        password=admin_password_for(mariadb_server),
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
            "legacy.allow_writable_account": settings.legacy_allow_writable,
            "ephys_root_data_dir": [str(settings.archive_root or ""), str(settings.cup_root or "")],
        },
    }
    path.write_text(json.dumps(conf, indent=2))
    return path
