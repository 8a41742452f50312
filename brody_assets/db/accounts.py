"""Bootstrap the server for a deployment: legacy schemas, a read-only legacy account, a pipeline account.

The SQL lives in ``resources/bootstrap.sql`` (a file a site edits); this module fills its
placeholders from :class:`~brody_assets.config.Settings` and runs it as the server's admin. Every
statement is idempotent. If one fails, the accounts and schemas this run created are removed again,
so a failed bootstrap leaves nothing half-created.
"""

from __future__ import annotations

import re
from pathlib import Path

import pymysql
from pymysql.converters import escape_string

from brody_assets.config import PROJECT_ROOT, Settings

BOOTSTRAP_SQL = PROJECT_ROOT / "resources" / "bootstrap.sql"
LEGACY_SCHEMAS = ("bdata", "ratinfo", "protocol")
# Privileges that a read-only legacy account must not have.
WRITE_PRIVILEGES = (
    "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "REFERENCES",
    "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "CREATE ROUTINE",
    "ALTER ROUTINE", "EVENT", "TRIGGER", "ALL PRIVILEGES", "DELETE HISTORY",
)


class BootstrapError(RuntimeError):
    """A bootstrap statement failed; what this run had created was removed again."""


def _pattern(prefix: str) -> str:
    """A GRANT database pattern matching names that start with ``prefix`` literally."""
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def render_bootstrap(settings: Settings, path: Path | None = None) -> list[str]:
    """The bootstrap statements for these settings, placeholders filled and escaped."""
    values = {
        "legacy_prefix": settings.legacy_schema_prefix,
        "legacy_prefix_pattern": _pattern(settings.legacy_schema_prefix),
        "legacy_user": escape_string(settings.legacy.user),
        "legacy_password": escape_string(settings.legacy.password.reveal()),
        "pipeline_user": escape_string(settings.database.user),
        "pipeline_password": escape_string(settings.database.password.reveal()),
        "new_prefix_pattern": _pattern(settings.new_prefix),
        "shadow_prefix_pattern": _pattern(settings.shadow_prefix),
    }
    path = path or BOOTSTRAP_SQL
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.strip().startswith("--")
    )
    statements = [s.strip() for s in text.split(";") if s.strip()]
    return [re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], s) for s in statements]


def bootstrap(conn: pymysql.Connection, settings: Settings) -> None:
    """Create the legacy schemas and both accounts (idempotent; all or nothing)."""
    statements = render_bootstrap(settings)
    with conn.cursor() as cursor:
        cursor.execute("SELECT CONCAT(User, '@', Host) FROM mysql.user")
        users_before = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        schemas_before = {row[0] for row in cursor.fetchall()}
        for number, statement in enumerate(statements, 1):
            try:
                cursor.execute(statement)
            except pymysql.MySQLError as error:
                _undo(cursor, users_before, schemas_before)
                shown = statement
                for secret in (settings.legacy.password.reveal(), settings.database.password.reveal()):
                    if secret:
                        shown = shown.replace(escape_string(secret), "********")
                raise BootstrapError(
                    f"bootstrap statement {number} failed ({error.args[-1]}); nothing was left "
                    f"half-created. Statement: {shown}"
                ) from None
        cursor.execute("FLUSH PRIVILEGES")


def _undo(cursor, users_before: set[str], schemas_before: set[str]) -> None:
    cursor.execute("SELECT User, Host FROM mysql.user")
    for user, host in cursor.fetchall():
        if f"{user}@{host}" not in users_before:
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
    cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    for (schema,) in cursor.fetchall():
        if schema not in schemas_before:
            cursor.execute(f"DROP DATABASE IF EXISTS `{schema}`")


def write_privileges(conn: pymysql.Connection) -> list[str]:
    """The write privileges the connected account holds (for the read-only warning)."""
    with conn.cursor() as cursor:
        cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [row[0] for row in cursor.fetchall()]
    found = []
    for grant in grants:
        privileges = grant.split(" ON ")[0].removeprefix("GRANT ").upper()
        for privilege in (p.strip() for p in privileges.split(",")):
            if privilege in WRITE_PRIVILEGES:
                found.append(f"{privilege} ({grant.split(' TO ')[0].split(' ON ')[-1]})")
    return found
