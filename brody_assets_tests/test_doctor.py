"""``brody-assets doctor`` on the real server: healthy, drifted, writable legacy, no drive, bad password.

Every run is the real command in a subprocess. Each test also proves the doctor wrote nothing:
the server's global write counters (the test server serves only this test session) and every
schema and table are unchanged, and no file appeared in the working folder, home, temp folder
or drives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from brody_assets import doctor
from brody_assets.config import PROJECT_ROOT, Secret
from brody_assets.db import bootstrap
from brody_assets_tests.conftest import make_settings, write_config

WRITE_COUNTERS = (
    "Com_create_db", "Com_create_table", "Com_create_user", "Com_create_view", "Com_insert", "Com_insert_select",
    "Com_update", "Com_update_multi", "Com_delete", "Com_delete_multi", "Com_replace", "Com_replace_select",
    "Com_alter_table", "Com_drop_table", "Com_drop_db", "Com_grant", "Com_revoke", "Com_load", "Com_truncate",
)


@pytest.fixture(scope="module")
def site(mariadb_server, prefix_factory, tmp_path_factory):
    from brody_assets.demo.legacy import build_legacy_database

    prefix = prefix_factory()
    home = tmp_path_factory.mktemp("doctor")
    drives = home / "drives"
    for drive in ("archive", "cup"):
        (drives / drive / "rat001").mkdir(parents=True)
    settings = make_settings(mariadb_server, prefix, archive_root=drives / "archive", cup_root=drives / "cup")
    with mariadb_server.admin_connect() as admin:
        build_legacy_database(admin, prefix, scale="small", seed=3, end_date=dt.date(2026, 11, 20))
        bootstrap(admin, settings)
    return settings, home


def _files(*roots: Path) -> set[tuple[str, int, float]]:
    out = set()
    for root in roots:
        for path in root.rglob("*"):
            stat = path.stat()
            out.add((str(path), stat.st_size, stat.st_mtime))
    return out


def _server_state(server) -> tuple:
    with server.admin_connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(["%s"] * len(WRITE_COUNTERS)) + ")",
                    WRITE_COUNTERS)
        counters = dict(cur.fetchall())
        cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') "
                    "ORDER BY 1, 2")
        tables = cur.fetchall()
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1")
        schemas = cur.fetchall()
    return counters, tables, schemas


def _doctor(settings, home: Path, server) -> subprocess.CompletedProcess:
    """Run the doctor; assert it wrote nothing on the server or on disk."""
    conf = write_config(settings, home / "dj_local_conf.json")
    work, tmp = home / "work", home / "tmp"
    work.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    watched = (home, *(p for p in (settings.archive_root, settings.cup_root) if p and p.exists()))
    files, state = _files(*watched), _server_state(server)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TMPDIR": str(tmp), "BRODY_CONFIG": str(conf),
           "BRODY_HOME": str(home / "state"), "PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "brody_assets.cli", "doctor"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert _server_state(server) == state, "the doctor changed something on the server"
    assert _files(*watched) == files, "the doctor created or changed a file"
    return done


def _lines(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(status)]


def test_a_healthy_site_passes(site, mariadb_server):
    settings, home = site
    done = _doctor(settings, home, mariadb_server)
    assert done.returncode == 0, done.stdout + done.stderr
    topics = " ".join(line.split()[1] for line in _lines(done.stdout, "OK"))
    for topic in ("pipeline", "legacy", "max_allowed_packet", "archive", "cup"):
        assert topic in topics, done.stdout
    assert not _lines(done.stdout, "FAIL") and not _lines(done.stdout, "WARN"), done.stdout
    assert "legacy schema" in done.stdout and "SELECT only" in done.stdout and "MariaDB" in done.stdout
    # the project's server (256 MiB packets, MariaDB: no redo-log limit on a BLOB) takes 37 hours
    assert any("ephys rows" in line and "recordings up to 37.3 h (max_allowed_packet 256 MiB)" in line
               for line in _lines(done.stdout, "OK")), done.stdout


def test_a_drifted_legacy_column_is_a_blocker(site, mariadb_server):
    settings, home = site
    table = f"`{settings.legacy_schema_prefix}ratinfo`.`water`"
    with mariadb_server.admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} RENAME COLUMN `volume` TO `vol`")
        try:
            done = _doctor(settings, home, mariadb_server)
        finally:
            cur.execute(f"ALTER TABLE {table} RENAME COLUMN `vol` TO `volume`")
    assert done.returncode == 1
    (fail,) = _lines(done.stdout, "FAIL")
    assert "`water`" in fail and "`volume` is missing" in fail and "action.water" in fail, done.stdout


def test_a_writable_legacy_account_is_a_loud_warning(site, mariadb_server):
    settings, home = site
    on = f"ON `{settings.legacy_schema_prefix}ratinfo`.*"
    who = f"'{settings.legacy.user}'@'127.0.0.1'"
    with mariadb_server.admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT INSERT, UPDATE {on} TO {who}")
        try:
            done = _doctor(settings, home, mariadb_server)
        finally:
            cur.execute(f"REVOKE INSERT, UPDATE {on} FROM {who}")
    assert done.returncode == 0, done.stdout  # a warning, not a blocker
    (warn,) = _lines(done.stdout, "WARN")
    assert "LEGACY ACCOUNT CAN WRITE" in warn and "INSERT" in warn and "UPDATE" in warn, done.stdout


def test_a_missing_drive_root_is_a_blocker(site, mariadb_server):
    settings, home = site
    unmounted = dataclasses.replace(settings, archive_root=home / "not-mounted")
    done = _doctor(unmounted, home, mariadb_server)
    assert done.returncode == 1
    (fail,) = _lines(done.stdout, "FAIL")
    assert "archive drive" in fail and "not-mounted" in fail and "does not exist" in fail
    assert "custom.ephys_root_data_dir" in done.stdout


def test_a_wrong_password_names_account_host_port_and_key(site, mariadb_server):
    settings, home = site
    wrong = dataclasses.replace(settings, database=dataclasses.replace(settings.database, password=Secret("nope")))
    done = _doctor(wrong, home, mariadb_server)
    assert done.returncode == 1
    (fail,) = _lines(done.stdout, "FAIL")
    db = settings.database
    assert f"{db.user}@{db.host}:{db.port}" in fail and "access denied" in fail, done.stdout
    assert "'database.password'" in done.stdout and "DJ_PASS" in done.stdout
    assert "legacy connection" in done.stdout and _lines(done.stdout, "OK")  # the legacy side still checked


def test_write_rights_through_a_default_role_are_seen(site, mariadb_server):
    settings, home = site
    role = f"{settings.legacy.user}_writer"
    who = f"'{settings.legacy.user}'@'127.0.0.1'"
    with mariadb_server.admin_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE ROLE `{role}`")
        cur.execute(f"GRANT DELETE ON `{settings.legacy_schema_prefix}bdata`.* TO `{role}`")
        cur.execute(f"GRANT `{role}` TO {who}")
        cur.execute(f"SET DEFAULT ROLE `{role}` FOR {who}")
        try:
            done = _doctor(settings, home, mariadb_server)
        finally:
            cur.execute(f"SET DEFAULT ROLE NONE FOR {who}")
            cur.execute(f"DROP ROLE `{role}`")
    assert done.returncode == 0, done.stdout
    (warn,) = _lines(done.stdout, "WARN")
    assert "LEGACY ACCOUNT CAN WRITE" in warn and "DELETE" in warn, done.stdout


def test_a_wrong_legacy_prefix_is_one_clear_blocker(site, mariadb_server):
    settings, home = site
    done = _doctor(dataclasses.replace(settings, legacy_schema_prefix="nosuch_"), home, mariadb_server)
    assert done.returncode == 1
    (schema,) = [line for line in _lines(done.stdout, "FAIL") if "legacy schema" in line]
    assert "none of the 19 legacy tables" in schema and "'nosuch_'" in schema, done.stdout
    assert "custom.legacy.schema_prefix" in done.stdout


class _Settings:
    """A server's answers to the ephys-rows check's queries."""

    def __init__(self, **values) -> None:
        self.values = values

    def value(self, sql: str, args=None):
        for name, value in self.values.items():
            if name in sql:
                if isinstance(value, Exception):
                    raise value
                return value
        raise AssertionError(f"unexpected query {sql}")


@pytest.mark.parametrize(("server", "status", "says"), [
    (_Settings(max_allowed_packet=16 << 20, VERSION="10.11.6-MariaDB"), "WARN",
     ["up to 2.3 h (max_allowed_packet 16 MiB)", "set max_allowed_packet = 28M"]),
    (_Settings(max_allowed_packet=64 << 20, VERSION="10.6.18-MariaDB"), "OK", ["up to 9.3 h"]),
    (_Settings(max_allowed_packet=64 << 20, VERSION="8.0.36", innodb_redo_log_capacity=100 << 20), "WARN",
     ["up to 1.5 h (innodb_redo_log_capacity 100 MiB: MySQL refuses", "set innodb_redo_log_capacity = 275M"]),
    (_Settings(max_allowed_packet=64 << 20, VERSION="5.7.44",
               innodb_redo_log_capacity=pymysql.err.OperationalError(1193, "Unknown system variable"),
               innodb_log_file_size=1 << 30), "OK", ["up to 9.3 h (max_allowed_packet"]),
])
def test_the_largest_ephys_row_against_the_servers_limits(server, status, says):
    found = doctor._lfp_rows(server)
    assert found.status == status and found.topic == "ephys rows"
    text = "\n".join(found.lines())
    assert all(piece in text for piece in says), text
