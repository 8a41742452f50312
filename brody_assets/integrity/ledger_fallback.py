"""Checks that read the migration's ledger before any migration has created it.

The legacy-side checks (e.g. ``contacts_email_present`` on ``legacy/ratinfo/contacts``) read the
quarantine ledger, and they may run before the first migration, e.g. in ``observe_legacy``. The
ledger's schema does not exist then, which is not an error: nothing has been quarantined or
handled yet. :func:`tolerate_missing_ledger` gives such checks an empty ledger instead of the
missing table (same columns, no rows), so a first run logs no ``Table '…migration.quarantine'
doesn't exist`` error. It only reads ``information_schema``; it never creates anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pymysql

from brody_assets.config import Settings
from brody_assets.integrity.declarations import CheckDeclaration

# An empty relation with each ledger table's columns (brody_assets/migration/engine/ledger.py).
EMPTY = {
    "quarantine": (
        "CAST(NULL AS CHAR(64)) AS table_name, CAST(NULL AS CHAR(255)) AS legacy_key, CAST(NULL AS SIGNED) AS key_int, "
        "CAST(NULL AS CHAR(8)) AS stage, CAST(NULL AS CHAR(32)) AS reason, CAST(NULL AS CHAR(1000)) AS detail, "
        "CAST(NULL AS SIGNED) AS problem, CAST(NULL AS CHAR(40)) AS run_id, CAST(NULL AS DATETIME(6)) AS first_seen, "
        "CAST(NULL AS DATETIME(6)) AS last_seen"
    ),
    "watermark": (
        "CAST(NULL AS CHAR(64)) AS table_name, CAST(NULL AS SIGNED) AS high_key, CAST(NULL AS SIGNED) AS pending_high, "
        "CAST(NULL AS DATETIME(6)) AS updated"
    ),
}


def missing_ledger_tables(settings: Settings) -> set[str]:
    """The ledger tables (``quarantine``, ``watermark``) that do not exist yet (empty if unknown)."""
    db = settings.database
    try:
        conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal(),
                               connect_timeout=10, **db.tls_options())
    except pymysql.MySQLError:
        return set()  # the checks themselves will report the connection problem
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                        (f"{settings.new_prefix}migration",))
            present = {str(r[0]) for r in cur.fetchall()}
    finally:
        conn.close()
    return set(EMPTY) - present


def _swap(sql: str | None, missing: set[str]) -> str | None:
    if not sql:
        return sql
    for table in missing:
        sql = sql.replace(f"{{migration}}.`{table}`", f"(SELECT {EMPTY[table]} FROM DUAL WHERE FALSE)")
    return sql


def tolerate_missing_ledger(
    declarations: Sequence[CheckDeclaration], settings: Settings
) -> Sequence[CheckDeclaration]:
    """The declarations, reading an empty ledger where the real one does not exist yet."""
    if not any("{migration}" in (d.query or "") + "".join(s.sql or "" for s in d.expectations) for d in declarations):
        return declarations
    missing = missing_ledger_tables(settings)
    if not missing:
        return declarations
    return [
        dataclasses.replace(
            d, query=_swap(d.query, missing),
            expectations=tuple(dataclasses.replace(s, sql=_swap(s.sql, missing)) for s in d.expectations),
        )
        for d in declarations
    ]
