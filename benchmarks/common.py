"""Shared set-up for benchmarks: a project-run MariaDB, a demo legacy database, accounts, results file."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from brody_assets.config import PROJECT_ROOT, DatabaseSettings, Secret, Settings
from brody_assets.db import MariaDBServer, bootstrap

BENCH_HOME = PROJECT_ROOT / ".brody" / "bench"
RESULTS = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
END_DATE = dt.date(2026, 11, 20)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server(name: str, port: int) -> MariaDBServer:
    srv = MariaDBServer(BENCH_HOME / name, port)
    srv.start()
    return srv


def settings_for(new_server: MariaDBServer, legacy_server: MariaDBServer, prefix: str) -> Settings:
    tag = prefix.rstrip("_")
    return Settings(
        database=DatabaseSettings("127.0.0.1", new_server.port, f"{tag}_pipe", Secret(f"pipe-{tag}")),
        legacy=DatabaseSettings("127.0.0.1", legacy_server.port, f"{tag}_ro", Secret(f"ro-{tag}")),
        legacy_schema_prefix=prefix,
        new_prefix=f"{prefix}new_",
        shadow_prefix=f"{prefix}shadow_",
    )


def drop_prefix(srv: MariaDBServer, prefix: str) -> None:
    with srv.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (prefix.replace("_", "\\_") + "%",),
        )
        names = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name in names:
            cursor.execute(f"DROP DATABASE `{name}`")


def build_legacy(srv: MariaDBServer, prefix: str, scale: str, settings: Settings | None = None) -> dict:
    from brody_assets.demo.legacy import build_legacy_database

    drop_prefix(srv, prefix)
    with srv.admin_connect() as admin:
        manifest = build_legacy_database(admin, prefix, scale=scale, seed=7, end_date=END_DATE)
        if settings is not None:
            bootstrap(admin, settings)
    return manifest


def bootstrap_both(new_server: MariaDBServer, legacy_server: MariaDBServer, settings: Settings) -> None:
    for srv in {new_server.port: new_server, legacy_server.port: legacy_server}.values():
        with srv.admin_connect() as admin:
            bootstrap(admin, settings)


def settle(srv: MariaDBServer, timeout_s: float = 120.0) -> float:
    """Let the server finish the background work of earlier steps before a timed one: flush
    InnoDB's dirty pages (flushing as fast as it can meanwhile) and wait for purge. Returns the
    seconds it took (not part of any figure)."""
    started = time.perf_counter()

    def status(cursor, name: str) -> int:
        cursor.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        row = cursor.fetchone()
        return int(row[1]) if row else 0

    with srv.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@innodb_max_dirty_pages_pct, @@innodb_io_capacity, @@innodb_io_capacity_max")
        pct, capacity, capacity_max = cursor.fetchone()
        cursor.execute("SET GLOBAL innodb_io_capacity_max = 100000")
        cursor.execute("SET GLOBAL innodb_io_capacity = 100000")
        cursor.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        try:
            while time.perf_counter() - started < timeout_s:
                dirty = status(cursor, "Innodb_buffer_pool_pages_dirty")
                history = status(cursor, "Innodb_history_list_length")
                if dirty < 64 and history < 1000:
                    break
                time.sleep(0.5)
        finally:
            cursor.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {float(pct)}")
            cursor.execute(f"SET GLOBAL innodb_io_capacity = {int(capacity)}")
            cursor.execute(f"SET GLOBAL innodb_io_capacity_max = {int(capacity_max)}")
    return time.perf_counter() - started


@contextmanager
def timed(label: str, store: dict[str, float]):
    started = time.perf_counter()
    yield
    store[label] = time.perf_counter() - started
    print(f"  {label}: {store[label]:.2f} s", flush=True)


def machine() -> str:
    return f"{platform.node()} ({os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()})"


def record(section: str, body: str) -> None:
    """Replace (or add) ``## section`` in benchmarks/RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in `benchmarks/`; each figure is measured in one run of its script.\n"
    header = f"## {section}"
    parts = text.split("\n## ")
    kept = [parts[0]] + [p for p in parts[1:] if not p.startswith(section)]
    RESULTS.write_text("\n## ".join(kept).rstrip() + f"\n\n{header}\n\n{body.strip()}\n")


def results_path() -> Path:
    return RESULTS
