"""The quarantine ledger and the run bookkeeping, in schema ``{new_prefix}migration``.

``quarantine``: one row per legacy row that could not be migrated (table, legacy key as
canonical JSON text, the integer legacy id for range scans, stage, reason code, detail, spec
problem, run id, first/last seen). ``run_log``: one row per table, stage and run with counts
and seconds. ``watermark``: per table the highest legacy id already handled (``high_key``) and
the upper bound planned by the current run's shadow stage (``pending_high``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .db import Db
from .names import Names

DDL = (
    """CREATE TABLE IF NOT EXISTS {ledger} (
  table_name VARCHAR(64) NOT NULL,
  legacy_key VARCHAR(255) NOT NULL,
  key_int BIGINT NULL,
  stage VARCHAR(8) NOT NULL,
  reason VARCHAR(32) NOT NULL,
  detail VARCHAR(1000) NOT NULL,
  problem SMALLINT NULL,
  run_id VARCHAR(40) NOT NULL,
  first_seen DATETIME(6) NOT NULL,
  last_seen DATETIME(6) NOT NULL,
  PRIMARY KEY (table_name, legacy_key),
  KEY by_id (table_name, key_int)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
    """CREATE TABLE IF NOT EXISTS `{schema}`.`run_log` (
  run_id VARCHAR(40) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  stage VARCHAR(8) NOT NULL,
  started DATETIME(6) NOT NULL,
  seconds DOUBLE NOT NULL,
  mode VARCHAR(8) NOT NULL,
  scope VARCHAR(255) NOT NULL,
  counts JSON NOT NULL,
  PRIMARY KEY (run_id, table_name, stage)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS `{schema}`.`watermark` (
  table_name VARCHAR(64) NOT NULL PRIMARY KEY,
  high_key BIGINT NULL,
  pending_high BIGINT NULL,
  updated DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)

UPSERT_TAIL = (
    " ON DUPLICATE KEY UPDATE stage = VALUES(stage), reason = VALUES(reason), detail = VALUES(detail), "
    "problem = VALUES(problem), run_id = VALUES(run_id), last_seen = VALUES(last_seen)"
)
COLUMNS = "(table_name, legacy_key, key_int, stage, reason, detail, problem, run_id, first_seen, last_seen)"


def ensure(db: Db, names: Names) -> None:
    """Create the ledger schema and tables when missing."""
    db.execute(f"CREATE DATABASE IF NOT EXISTS `{names.ledger_schema}` CHARACTER SET utf8mb4")
    for statement in DDL:
        db.execute(statement.format(ledger=names.ledger, schema=names.ledger_schema))


def upsert_rows(cur: Any, names: Names, rows: list[tuple]) -> None:
    """Ledger ``rows`` of (table, legacy key dict, key_int, stage, reason, detail, problem, run_id)."""
    if not rows:
        return
    sql = (
        f"INSERT INTO {names.ledger} {COLUMNS} VALUES (%s, %s, %s, %s, %s, LEFT(%s, 1000), %s, %s, "
        f"NOW(6), NOW(6)){UPSERT_TAIL}"
    )
    cur.executemany(sql, [(t, canonical(k), ki, st, r, d, p, run) for t, k, ki, st, r, d, p, run in rows])


def canonical(key: dict[str, Any]) -> str:
    """The ledger's text form of a legacy key, identical to MariaDB's ``JSON_OBJECT`` output."""
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}" for k, v in key.items()) + "}"


def ledger_ids(db: Db, names: Names, table: str) -> list[int]:
    rows = db.query(
        f"SELECT DISTINCT key_int FROM {names.ledger} WHERE table_name = %s AND key_int IS NOT NULL ORDER BY 1",
        (table,),
    )
    return [int(r[0]) for r in rows]


def watermark(db: Db, names: Names, table: str) -> tuple[int | None, int | None]:
    rows = db.query(
        f"SELECT high_key, pending_high FROM `{names.ledger_schema}`.`watermark` WHERE table_name = %s", (table,)
    )
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def set_pending(db: Db, names: Names, table: str, pending: int | None) -> None:
    db.execute(
        f"INSERT INTO `{names.ledger_schema}`.`watermark` (table_name, high_key, pending_high, updated) "
        "VALUES (%s, NULL, %s, NOW(6)) ON DUPLICATE KEY UPDATE pending_high = VALUES(pending_high), "
        "updated = VALUES(updated)",
        (table, pending),
    )


def commit_watermark(db: Db, names: Names, table: str, high: int | None) -> None:
    db.execute(
        f"INSERT INTO `{names.ledger_schema}`.`watermark` (table_name, high_key, pending_high, updated) "
        "VALUES (%s, %s, NULL, NOW(6)) ON DUPLICATE KEY UPDATE high_key = CASE WHEN %s IS NULL THEN high_key "
        "WHEN high_key IS NULL THEN %s ELSE GREATEST(high_key, %s) END, pending_high = NULL, updated = VALUES(updated)",
        (table, high, high, high, high),
    )


def log_run(db: Db, names: Names, run_id: str, table: str, stage: str, started: dt.datetime,
            seconds: float, mode: str, scope: str, counts: dict[str, Any]) -> None:
    db.execute(
        f"REPLACE INTO `{names.ledger_schema}`.`run_log` VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (run_id, table, stage, started, seconds, mode, scope[:255], json.dumps(counts, default=str)),
    )
