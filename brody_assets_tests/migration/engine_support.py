"""Helpers of the engine tests: a legacy database per module, a subprocess runner, snapshots.

``python -m brody_assets_tests.migration.engine_support CONFIG [--declare] [--options JSON]``
declares the tables or runs a whole migration in a fresh process (used for SIGKILL and
overlapping-run tests, and to keep DataJoint's process-global schema binding out of pytest).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql

from brody_assets.config import PROJECT_ROOT, load_settings
from brody_assets.migration.registry import MigrationOptions, entries
from brody_assets.migration.schemas.naming import TABLE_NAMES

END = dt.date(2024, 7, 30)


def options_json(**overrides: Any) -> str:
    base = {"today": END.isoformat()}
    base.update(overrides)
    return json.dumps(base, default=str)


def options_from_json(text: str) -> MigrationOptions:
    raw = json.loads(text)
    if raw.get("today"):
        raw["today"] = dt.date.fromisoformat(raw["today"])
    return MigrationOptions(**raw)


def run_process(config: Path, *args: str, wait: bool = True, env: dict | None = None) -> subprocess.Popen | str:
    """Run this module in a subprocess; returns its output (or the Popen when ``wait=False``)."""
    cmd = [sys.executable, "-m", "brody_assets_tests.migration.engine_support", str(config), *args]
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    if not wait:
        return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"subprocess failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def table_names(settings) -> list[str]:
    """Quoted names of every new and shadow table of the registry."""
    out = []
    for e in entries():
        for layer, prefix in (("new", settings.new_prefix), ("shadow", settings.shadow_prefix)):
            key = (layer, e.family, e.new_class)
            if key in TABLE_NAMES:
                out.append(f"`{prefix}{e.family}`.`{TABLE_NAMES[key]}`")
    return out


def snapshot(conn: pymysql.Connection, settings) -> dict[str, Any]:
    """Content checksums of every new/shadow table and the ledger (without timestamps / run ids)."""
    state: dict[str, Any] = {}
    with conn.cursor() as cur:
        for name in table_names(settings):
            cur.execute(f"CHECKSUM TABLE {name}")
            state[name] = cur.fetchone()[1]
            cur.execute(f"SELECT COUNT(*) FROM {name}")
            state[name + ":rows"] = cur.fetchone()[0]
        cur.execute(f"SELECT table_name, legacy_key, stage, reason, detail FROM `{settings.new_prefix}migration`."
                    "`quarantine` ORDER BY table_name, legacy_key")
        state["ledger"] = [tuple(r) for r in cur.fetchall()]
    return state


def reset_targets(conn: pymysql.Connection, settings) -> None:
    """Empty every new/shadow table, the ledger, run log, watermarks and staging."""
    with conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name in table_names(settings):
            cur.execute(f"TRUNCATE TABLE {name}")
        for table in ("quarantine", "run_log", "watermark"):
            cur.execute(f"DROP TABLE IF EXISTS `{settings.new_prefix}migration`.`{table}`")
        cur.execute(f"DROP DATABASE IF EXISTS `{settings.new_prefix}staging`")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")


def ledger_rows(conn: pymysql.Connection, settings) -> list[dict[str, Any]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SELECT * FROM `{settings.new_prefix}migration`.`quarantine`")
        return list(cur.fetchall())


def main(argv: list[str]) -> None:
    from brody_assets.migration.engine import declare_tables, migrate

    settings = load_settings(argv[0])
    if "--declare" in argv:
        declare_tables(settings)
        return
    options = options_from_json(argv[argv.index("--options") + 1]) if "--options" in argv else MigrationOptions()
    tables = argv[argv.index("--tables") + 1].split(",") if "--tables" in argv else None
    results = migrate(settings, options, tables)
    print(json.dumps({r.table: r.new.invariant.holds for r in results}))


if __name__ == "__main__":
    main(sys.argv[1:])
