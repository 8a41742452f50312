"""Bootstrap a server for a deployment: the read-only legacy account and the pipeline account.

The SQL lives in ``resources/bootstrap.sql`` (a file a site edits); :mod:`brody_assets.db.grants`
fills its placeholders from :class:`~brody_assets.config.Settings` and this module runs it as the
server's admin. Which sections run depends on where legacy lives: on the pipeline's own server,
everything; with legacy on another server, the pipeline's server gets only the pipeline account and
the legacy server only the read-only account (never empty legacy schemas or a legacy account on the
pipeline's server). Every statement is idempotent. Grants an account holds beyond what the file
grants (from an older, wider bootstrap) are revoked. If a statement fails, the accounts and schemas
this run created are removed again, so a failed bootstrap leaves nothing half-created.
"""

from __future__ import annotations

import re

import pymysql
from pymysql.converters import escape_string

from brody_assets.config import ConfigError, Settings, check_prefixes
from brody_assets.db.grants import (
    BOOTSTRAP_SQL,
    LOCAL_CLIENT_HOSTS,
    legacy_schemas,
    pattern,
    pipeline_schemas,
    render_sql,
    sections_for,
    write_privileges,
)

__all__ = ["BOOTSTRAP_SQL", "BootstrapError", "bootstrap", "render_bootstrap", "write_privileges"]


class BootstrapError(RuntimeError):
    """A bootstrap statement failed, or the settings are unsafe; nothing was left half-created."""


def _server_role(conn: pymysql.Connection, settings: Settings) -> str:
    """``pipeline`` or ``legacy``: which of the configured servers ``conn`` is (by its port)."""
    if settings.legacy_on_pipeline_server:
        return "pipeline"
    with conn.cursor() as cursor:
        cursor.execute("SELECT @@port")
        port = int(cursor.fetchone()[0])
    if port == settings.legacy.port and port != settings.database.port:
        return "legacy"
    return "pipeline"


def render_bootstrap(settings: Settings, server: str = "pipeline") -> list[str]:
    """The bootstrap statements for ``server`` (``pipeline`` or ``legacy``), filled and escaped."""
    return render_sql(settings, sections_for(settings, server), path=BOOTSTRAP_SQL)


def bootstrap(conn: pymysql.Connection, settings: Settings, server: str | None = None) -> None:
    """Create the accounts (and, same-server, the legacy schemas); idempotent, all or nothing.

    ``server``: ``pipeline`` or ``legacy``; by default found from the connection's port.
    """
    try:
        check_prefixes(settings.new_prefix, settings.shadow_prefix, settings.legacy_schema_prefix)
    except ConfigError as error:
        raise BootstrapError(f"refusing to bootstrap: {error}") from None
    server = server or _server_role(conn, settings)
    statements = render_bootstrap(settings, server)
    secrets = [s for s in (settings.legacy.password.reveal(), settings.database.password.reveal()) if s]
    with conn.cursor() as cursor:
        cursor.execute("SELECT CONCAT(User, '@', Host) FROM mysql.user")
        users_before = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        schemas_before = {row[0] for row in cursor.fetchall()}
        for user, wanted in _wanted(settings, server).items():
            for host in LOCAL_CLIENT_HOSTS:
                _narrow(cursor, user, host, wanted)
        for number, statement in enumerate(statements, 1):
            try:
                cursor.execute(statement)
            except pymysql.MySQLError as error:
                _undo(cursor, users_before, schemas_before)
                shown = statement
                for secret in secrets:
                    shown = shown.replace(escape_string(secret), "********")
                raise BootstrapError(
                    f"bootstrap statement {number} failed ({error.args[-1]}); nothing was left "
                    f"half-created. Statement: {shown}"
                ) from None
        cursor.execute("FLUSH PRIVILEGES")


def _wanted(settings: Settings, server: str) -> dict[str, set[str]]:
    """Per account on this server: the database patterns it may hold grants on."""
    legacy = {pattern(s) for s in legacy_schemas(settings)}
    if not settings.legacy_on_pipeline_server:
        return {settings.legacy.user: legacy} if server == "legacy" else {
            settings.database.user: {pattern(s) for s in pipeline_schemas(settings)}
        }
    return {
        settings.legacy.user: legacy,
        settings.database.user: {pattern(s) for s in pipeline_schemas(settings)} | legacy,
    }


def _narrow(cursor, user: str, host: str, wanted: set[str]) -> None:
    """Revoke what ``user@host`` holds beyond ``wanted`` (grants of an older, wider bootstrap)."""
    try:
        cursor.execute("SHOW GRANTS FOR %s@%s", (user, host))
    except pymysql.MySQLError:
        return  # no such account here
    account = f"'{escape_string(user)}'@'{escape_string(host)}'"
    for (line,) in cursor.fetchall():
        match = re.match(r"GRANT (.+?) ON (\S+) TO ", line)
        if not match:
            role = re.match(r"GRANT (`[^`]+`) TO ", line)
            if role:
                cursor.execute(f"REVOKE {role.group(1)} FROM {account}")
            continue
        privileges, target = match.groups()
        if target == "*.*":
            if privileges.strip() != "USAGE":
                cursor.execute(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}")
                return _narrow(cursor, user, host, wanted)  # the database grants went with it
            continue
        database = re.match(r"`((?:[^`]|``)+)`\.", target)
        if database is None or database.group(1) not in wanted:
            cursor.execute(f"REVOKE ALL PRIVILEGES ON {target} FROM {account}")
            if line.rstrip().endswith("WITH GRANT OPTION"):
                cursor.execute(f"REVOKE GRANT OPTION ON {target} FROM {account}")


def _undo(cursor, users_before: set[str], schemas_before: set[str]) -> None:
    cursor.execute("SELECT User, Host FROM mysql.user")
    for user, host in cursor.fetchall():
        if f"{user}@{host}" not in users_before:
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
    cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    for (schema,) in cursor.fetchall():
        if schema not in schemas_before:
            cursor.execute(f"DROP DATABASE IF EXISTS `{schema}`")
