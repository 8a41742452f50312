"""The project-run MariaDB: lifecycle, port conflicts, bootstrap and the read-only account."""

from __future__ import annotations

import socket

import pymysql
import pytest

from brody_assets.db import MariaDBServer, PortTakenError, ServerError, bootstrap, write_privileges
from brody_assets.db.accounts import BootstrapError
from brody_assets_tests.conftest import make_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bootstrap_from_stopped_server_then_lifecycle(tmp_path):
    server = MariaDBServer(tmp_path / "db", _free_port())
    assert not server.status().running
    assert not server.status().initialized
    status = server.start()
    assert status.running and status.initialized
    assert (tmp_path / "db" / "data" / "mysql").is_dir()
    # start is idempotent: a running server of ours is reused
    assert server.start().pid == status.pid
    with server.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@bind_address, @@port, @@datadir")
        bind, port, datadir = cursor.fetchone()
    assert bind == "127.0.0.1"
    assert port == server.port
    assert datadir.rstrip("/") == str(tmp_path / "db" / "data")
    assert server.stop() is True
    assert not server.is_running()
    assert server.stop() is False
    # restart on the existing data directory, then reset wipes it
    server.start()
    server.reset()
    assert not server.status().initialized and not server.is_running()


def test_port_taken_by_another_program_is_a_clear_error(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        server = MariaDBServer(tmp_path / "db", port)
        with pytest.raises(PortTakenError, match=f"Port {port}.*already used by another program"):
            server.start()
    assert not (tmp_path / "db" / "data").exists()


def test_bootstrap_accounts_read_only_legacy(mariadb_server, unique_prefix):
    settings = make_settings(mariadb_server, unique_prefix)
    with mariadb_server.admin_connect() as admin:
        bootstrap(admin, settings)
        bootstrap(admin, settings)  # idempotent
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE TABLE `{unique_prefix}ratinfo`.t (id INT PRIMARY KEY)")
            cursor.execute(f"INSERT INTO `{unique_prefix}ratinfo`.t VALUES (1)")
    ro = pymysql.connect(
        host="127.0.0.1",
        port=mariadb_server.port,
        user=settings.legacy.user,
        password=settings.legacy.password.reveal(),
        autocommit=True,
    )
    with ro, ro.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{unique_prefix}ratinfo`.t")
        assert cursor.fetchone()[0] == 1
        with pytest.raises(pymysql.err.OperationalError, match="command denied"):
            cursor.execute(f"INSERT INTO `{unique_prefix}ratinfo`.t VALUES (2)")
        with pytest.raises(pymysql.err.OperationalError, match="command denied"):
            cursor.execute(f"DELETE FROM `{unique_prefix}ratinfo`.t")
        assert write_privileges(ro) == []
    pipe = pymysql.connect(
        host="127.0.0.1",
        port=mariadb_server.port,
        user=settings.database.user,
        password=settings.database.password.reveal(),
        autocommit=True,
    )
    with pipe, pipe.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{settings.new_prefix}lab`")
        cursor.execute(f"CREATE TABLE `{settings.new_prefix}lab`.x (id INT PRIMARY KEY)")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cursor.execute("CREATE DATABASE `not_ours`")
        assert write_privileges(pipe)  # the pipeline account can write its own schemas


def test_failed_bootstrap_leaves_nothing_half_created(mariadb_server, unique_prefix, tmp_path):
    settings = make_settings(mariadb_server, unique_prefix)
    broken = tmp_path / "bootstrap.sql"
    broken.write_text(
        "CREATE DATABASE IF NOT EXISTS `{legacy_prefix}bdata`;\n"
        "CREATE USER IF NOT EXISTS '{legacy_user}'@'127.0.0.1' IDENTIFIED BY '{legacy_password}';\n"
        "GRANT NONSENSE ON nothing TO nobody;\n"
    )
    from brody_assets.db import accounts

    original = accounts.BOOTSTRAP_SQL
    accounts.BOOTSTRAP_SQL = broken
    try:
        with mariadb_server.admin_connect() as admin:
            with pytest.raises(BootstrapError, match="statement 3 failed") as raised:
                accounts.bootstrap(admin, settings)
            assert settings.legacy.password.reveal() not in str(raised.value)
            with admin.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (settings.legacy.user,))
                assert cursor.fetchone()[0] == 0
                cursor.execute("SHOW DATABASES LIKE %s", (f"{unique_prefix}bdata",))
                assert cursor.fetchall() == ()
    finally:
        accounts.BOOTSTRAP_SQL = original


def test_running_server_on_another_port_is_reported(tmp_path):
    server = MariaDBServer(tmp_path / "db", _free_port())
    server.start()
    try:
        other = MariaDBServer(tmp_path / "db", _free_port())
        with pytest.raises(ServerError, match="already running on port"):
            other.start()
    finally:
        server.stop()
