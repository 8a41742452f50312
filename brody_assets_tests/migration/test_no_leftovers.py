"""No secret and no leftover on disk when a process is killed mid-work (issue 10.5).

Real processes, really killed (SIGKILL, so nothing of theirs can clean up): one while it declares
the tables (the pipeline password travels to the declaring child), one in the middle of a
behavior-event load (held by a table lock so the kill lands while its load file exists).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from brody_assets.config import PROJECT_ROOT
from brody_assets.db import bootstrap
from brody_assets_tests.conftest import EVENTS_TABLE_DDL, make_settings


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "BRODY_HOME": str(state)}


def _kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _files_holding(secret: bytes, folders: list[Path], since: float) -> list[Path]:
    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in (folder.rglob("*") if folder != Path(tempfile.gettempdir()) else folder.iterdir()):
            try:
                recent = path.is_file() and path.stat().st_mtime >= since
                if recent and path.stat().st_size < 50_000_000 and secret in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def _wait_for(predicate, timeout_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _declaring_children(prefix: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"brody_assets.migration.declare" in cmdline and prefix.encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def test_sigkill_during_declaration_leaves_no_password_on_disk(mariadb_server, unique_prefix, tmp_path):
    settings = make_settings(mariadb_server, unique_prefix)
    with mariadb_server.admin_connect() as admin:
        bootstrap(admin, settings)
    started = time.time() - 1
    script = tmp_path / "declare.py"
    script.write_text(textwrap.dedent(f"""
        from brody_assets.config import DatabaseSettings, Secret, Settings
        from brody_assets.migration.declare import declare_in_child
        db = DatabaseSettings("127.0.0.1", {settings.database.port}, {settings.database.user!r},
                              Secret({settings.database.password.reveal()!r}))
        declare_in_child(Settings(database=db, legacy=db, new_prefix={settings.new_prefix!r},
                                  shadow_prefix={settings.shadow_prefix!r}))
    """))
    process = subprocess.Popen([sys.executable, str(script)], env=_env(tmp_path / "state"),
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _declaring_children(settings.new_prefix), what="the declaring child")
        time.sleep(1.0)  # mid-declaration
        assert process.poll() is None and _declaring_children(settings.new_prefix)
    finally:
        _kill_group(process)
    script.unlink()  # the test's own script holds the password; it is not the pipeline's
    secret = settings.database.password.reveal().encode()
    leaks = _files_holding(
        secret, [Path(tempfile.gettempdir()), tmp_path, PROJECT_ROOT / ".brody" / "tmp"], since=started
    )
    assert leaks == []


def test_sigkill_mid_event_load_leaves_a_load_file_the_next_start_sweeps(
    mariadb_server, unique_prefix, tmp_path
):
    state = tmp_path / "state"
    table = f"`{unique_prefix}ev`.`events`"
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{unique_prefix}ev`")
        cursor.execute(f"CREATE TABLE {table} ({EVENTS_TABLE_DDL}) CHARSET utf8mb4")
    script = tmp_path / "load.py"
    script.write_text(textwrap.dedent(f"""
        from brody_assets.db import MariaDBServer
        from brody_assets.migration.engine.eventload import EventLoader
        server = MariaDBServer({str(mariadb_server.home)!r}, {mariadb_server.port})
        conn = server.admin_connect(local_infile=True, autocommit=False)
        lines = "".join(f"{{i}}\\t1\\t1\\tin\\tstate0\\t1\\t0.5\\t0.7\\n" for i in range(1, 2001))
        with conn.cursor() as cur:
            EventLoader()(cur, {table!r}, [(1, lines, 2000)])
        conn.commit()
    """))
    blocker = mariadb_server.admin_connect(autocommit=False)
    process = None
    try:
        with blocker.cursor() as cursor:
            cursor.execute(f"LOCK TABLES {table} WRITE")  # the load waits: its file stays on disk
        process = subprocess.Popen([sys.executable, str(script)], env=_env(state), start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        scratch = state / "tmp"
        _wait_for(lambda: list(scratch.glob("*/brody-events-*.tsv")), what="the event load file")
        time.sleep(0.3)
        assert process.poll() is None, process.stderr.read()
        _kill_group(process)
    finally:
        if process is not None and process.poll() is None:
            _kill_group(process)
        blocker.rollback()
        with blocker.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
        blocker.close()
    left = list((state / "tmp").glob("*/brody-events-*.tsv"))
    assert len(left) == 1  # SIGKILL: nothing of the process could clean up
    owner = left[0].parent
    assert owner.name.startswith(f"{process.pid}-")
    # the next process to start sweeps the folders of dead processes (and keeps its own)
    out = subprocess.run(
        [sys.executable, "-c", "from brody_assets.scratch import scratch_dir; print(scratch_dir())"],
        env=_env(state), capture_output=True, text=True, check=True,
    )
    assert not owner.exists()
    assert not list((state / "tmp").glob("*/brody-events-*.tsv"))
    assert not Path(out.stdout.strip()).exists()  # and removes its own when it exits
    with mariadb_server.admin_connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] == 0  # the killed load wrote nothing
