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


# -- locked down (issue 10.1) -------------------------------------------------------------------
def _tcp_login(port: int, user: str, password: str = "") -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, connect_timeout=5)


def test_root_over_tcp_without_password_is_refused(mariadb_server):
    for user in {"root", mariadb_server.admin_user, mariadb_server.server_user}:
        with pytest.raises(pymysql.err.OperationalError) as refused:
            _tcp_login(mariadb_server.port, user)
        assert refused.value.args[0] in (1045, 1130, 1698), refused.value
    with mariadb_server.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host <> 'localhost')"
        )
        assert cursor.fetchall() == ()
        cursor.execute("SELECT plugin FROM mysql.user WHERE User = 'root'")
        assert [row[0] for row in cursor.fetchall()] == ["unix_socket"]


def test_outfile_outside_secure_file_priv_is_refused(mariadb_server, tmp_path):
    outside = tmp_path / "stolen.txt"
    with mariadb_server.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@secure_file_priv")
        assert cursor.fetchone()[0].rstrip("/") == str(mariadb_server.files_dir)
        with pytest.raises(pymysql.err.MySQLError, match="secure-file-priv") as refused:
            cursor.execute("SELECT User FROM mysql.user INTO OUTFILE %s", (str(outside),))
        assert refused.value.args[0] == 1290
        with pytest.raises(pymysql.err.MySQLError, match="secure-file-priv"):
            cursor.execute("SELECT LOAD_FILE('/etc/passwd') IS NULL INTO OUTFILE '/tmp/x'")
    assert not outside.exists()


def test_server_runs_as_mysql_where_the_os_allows(mariadb_server):
    import os
    import pwd

    owner = pwd.getpwuid(os.stat(f"/proc/{mariadb_server.pid()}").st_uid).pw_name
    assert owner == mariadb_server.server_user
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("mysql")
        except KeyError:  # the documented fallback: no 'mysql' user, the server runs as its starter
            assert owner == "root"
        else:  # Debian's mariadb-server creates the user: root hands the server to it
            assert owner == "mysql"
            assert pwd.getpwuid(mariadb_server.datadir.stat().st_uid).pw_name == "mysql"
    assert mariadb_server.home.stat().st_mode & 0o007 == 0  # other OS users cannot reach the socket


def test_a_data_directory_initialised_the_old_way_is_fixed_on_start(tmp_path):
    """Before the lockdown: root with an empty password over TCP, no secure_file_priv. A server
    still running that way is restarted locked down; its data (a schema) survives."""
    import getpass
    import subprocess
    import time

    from brody_assets.db.server import _binary

    home = tmp_path / "old"
    home.mkdir()
    subprocess.run(
        [_binary("mariadb-install-db"), f"--datadir={home / 'data'}", "--auth-root-authentication-method=normal",
         f"--user={getpass.getuser()}", "--skip-test-db"],
        check=True, capture_output=True,
    )
    port = _free_port()
    old = subprocess.Popen(
        [_binary("mariadbd"), f"--datadir={home / 'data'}", f"--socket={home / 'mysqld.sock'}",
         f"--port={port}", "--bind-address=127.0.0.1", f"--user={getpass.getuser()}",
         f"--pid-file={home / 'mysqld.pid'}", f"--log-error={home / 'error.log'}", "--skip-log-bin"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    server = MariaDBServer(home, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = _tcp_login(port, "root")
                break
            except pymysql.MySQLError:
                assert time.monotonic() < deadline, "the old-style server did not start"
                time.sleep(0.3)
        with conn, conn.cursor() as cursor:  # the hole, as it was
            cursor.execute("CREATE DATABASE kept_data")
            cursor.execute("SELECT @@secure_file_priv")
            assert not cursor.fetchone()[0]
        server.start()
        assert old.wait(timeout=60) == 0  # the unsafe server was stopped and replaced
        with pytest.raises(pymysql.err.OperationalError):
            _tcp_login(port, "root")
        with server.admin_connect() as admin, admin.cursor() as cursor:
            cursor.execute("SHOW DATABASES LIKE 'kept_data'")
            assert cursor.fetchall() == (("kept_data",),)
            cursor.execute("SELECT @@secure_file_priv")
            assert cursor.fetchone()[0].rstrip("/") == str(server.files_dir)
    finally:
        server.stop()
        if old.poll() is None:
            old.kill()


# -- grants that cannot widen (issue 10.2, 13.3) ---------------------------------------------------
def _accounts(admin, user: str) -> list[str]:
    with admin.cursor() as cursor:
        cursor.execute("SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host", (user,))
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("prefix", ["", "%", "a%", "_", "x`y", "it's_"])
def test_bootstrap_refuses_an_empty_or_wildcard_prefix(mariadb_server, unique_prefix, prefix):
    settings = make_settings(mariadb_server, unique_prefix).with_overrides(new_prefix=prefix)
    with mariadb_server.admin_connect() as admin:
        with pytest.raises(BootstrapError, match="refusing to bootstrap: 'custom.database.prefix'"):
            bootstrap(admin, settings)
        assert _accounts(admin, settings.database.user) == []
        assert _accounts(admin, settings.legacy.user) == []


def test_pipeline_grants_are_the_exact_schemas(mariadb_server, unique_prefix):
    from brody_assets.db.grants import pipeline_schemas

    settings = make_settings(mariadb_server, unique_prefix)
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        # an account left by an older, wider bootstrap: a wildcard grant and a global one
        cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY 'old'", (settings.database.user,))
        wide = unique_prefix.replace("_", "\\_") + "%"
        cursor.execute(f"GRANT ALL PRIVILEGES ON `{wide}`.* TO '{settings.database.user}'@'127.0.0.1'")
        cursor.execute("GRANT SELECT ON *.* TO %s@'127.0.0.1'", (settings.database.user,))
        bootstrap(admin, settings)
        cursor.execute("SHOW GRANTS FOR %s@'127.0.0.1'", (settings.database.user,))
        granted = "\n".join(row[0] for row in cursor.fetchall())
    assert wide not in granted and "SELECT ON *.*" not in granted
    pipe = pymysql.connect(host="127.0.0.1", port=mariadb_server.port, user=settings.database.user,
                           password=settings.database.password.reveal(), autocommit=True)
    with pipe, pipe.cursor() as cursor:
        for schema in pipeline_schemas(settings):  # every schema the pipeline uses
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{schema}`")
        for other in (f"{settings.new_prefix}other", f"{settings.new_prefix}labx", f"{unique_prefix}x",
                      "mysql"):
            with pytest.raises(pymysql.err.OperationalError, match="denied"):
                cursor.execute(f"CREATE DATABASE `{other}`")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cursor.execute("SELECT COUNT(*) FROM mysql.global_priv")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cursor.execute("DROP DATABASE mysql")


def test_legacy_elsewhere_creates_no_legacy_schema_or_account_on_the_pipeline_server(
    mariadb_server, unique_prefix
):
    from brody_assets.config import DatabaseSettings

    base = make_settings(mariadb_server, unique_prefix)
    settings = base.with_overrides(
        legacy=DatabaseSettings("bdata00.example.org", 3306, base.legacy.user, base.legacy.password)
    )
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        bootstrap(admin, settings)
        assert _accounts(admin, settings.legacy.user) == []
        assert _accounts(admin, settings.database.user) == ["127.0.0.1", "localhost"]
        cursor.execute("SHOW DATABASES LIKE %s", (unique_prefix.replace("_", "\\_") + "%",))
        assert cursor.fetchall() == ()
        cursor.execute("SHOW GRANTS FOR %s@'127.0.0.1'", (settings.database.user,))
        assert "bdata" not in "\n".join(row[0] for row in cursor.fetchall())
        # the same bootstrap on the legacy server: only the read-only account, no schema created
        bootstrap(admin, settings, server="legacy")
        assert _accounts(admin, settings.legacy.user) == ["127.0.0.1", "localhost"]
        cursor.execute("SHOW DATABASES LIKE %s", (unique_prefix.replace("_", "\\_") + "%",))
        assert cursor.fetchall() == ()


def test_write_privileges_through_roles_default_or_not(mariadb_server, unique_prefix):
    settings = make_settings(mariadb_server, unique_prefix)
    role, nested = f"{unique_prefix}writer", f"{unique_prefix}deleter"
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        bootstrap(admin, settings)
        cursor.execute(f"CREATE ROLE `{role}`")
        cursor.execute(f"CREATE ROLE `{nested}`")
        try:
            cursor.execute(f"GRANT DELETE ON `{settings.legacy_schema('bdata')}`.* TO `{nested}`")
            cursor.execute(f"GRANT `{nested}` TO `{role}`")
            cursor.execute(f"GRANT `{role}` TO %s@'127.0.0.1'", (settings.legacy.user,))
            ro = pymysql.connect(host="127.0.0.1", port=mariadb_server.port, user=settings.legacy.user,
                                 password=settings.legacy.password.reveal())
            with ro:  # a role the account may SET ROLE to, not even its default
                assert any("DELETE" in p and "through role" in p for p in write_privileges(ro))
            cursor.execute(f"SET DEFAULT ROLE `{role}` FOR %s@'127.0.0.1'", (settings.legacy.user,))
            ro = pymysql.connect(host="127.0.0.1", port=mariadb_server.port, user=settings.legacy.user,
                                 password=settings.legacy.password.reveal())
            with ro:
                assert any("DELETE" in p for p in write_privileges(ro))
            bootstrap(admin, settings)  # bootstrap takes the role away again
            ro = pymysql.connect(host="127.0.0.1", port=mariadb_server.port, user=settings.legacy.user,
                                 password=settings.legacy.password.reveal())
            with ro:
                assert write_privileges(ro) == []
        finally:
            cursor.execute(f"DROP ROLE IF EXISTS `{role}`")
            cursor.execute(f"DROP ROLE IF EXISTS `{nested}`")
