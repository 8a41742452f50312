"""Before anything reads legacy: the schemas are there, and the account can only read.

Plain Python + SQL (no Dagster). :func:`legacy_preflight` runs when a run's legacy-reading
resource starts (``LegacyDatabaseResource``, ``MigrationResource``), so every job that reads legacy
checks, not one. A legacy schema the account cannot see is named as missing, with the prefix
setting to check; an account that can do more than read (directly, through any role it holds,
default or not, or through ``PUBLIC``) stops the run, unless
``custom.legacy.allow_writable_account`` is true, which turns the refusal into a loud warning.
"""

from __future__ import annotations

import pymysql

from brody_assets.config import Settings
from brody_assets.db.connect import connect
from brody_assets.db.grants import LEGACY_SCHEMAS, write_privileges

ALLOW_KEY = "custom.legacy.allow_writable_account"


class LegacyPreflightError(RuntimeError):
    """Legacy cannot be read safely: a schema is missing or the account can write."""


class MissingLegacySchemaError(LegacyPreflightError):
    """A legacy schema does not exist on the legacy server (or this account cannot see it)."""


class WritableLegacyAccountError(LegacyPreflightError):
    """The legacy account holds privileges beyond reading, and that is not allowed."""


def missing_schemas(conn: pymysql.Connection, settings: Settings) -> str | None:
    """A message naming the legacy schemas the account cannot see, or None when all are there."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        visible = sorted(row[0] for row in cursor.fetchall())
    wanted = [settings.legacy_schema(name) for name in LEGACY_SCHEMAS]
    missing = [name for name in wanted if name not in visible]
    if not missing:
        return None
    legacy = settings.legacy
    others = [s for s in visible if s not in ("information_schema", "performance_schema")]
    return (
        f"legacy schema{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
        f"do{'' if len(missing) > 1 else 'es'} not exist on {legacy.host}:{legacy.port} (check "
        f"custom.legacy.schema_prefix, now {settings.legacy_schema_prefix!r}). The account "
        f"'{legacy.user}' sees: {', '.join(others) or 'no schema at all'}"
    )


def writable_message(settings: Settings, granted: list[str]) -> str:
    return (
        f"LEGACY ACCOUNT IS NOT READ-ONLY: '{settings.legacy.user}' on "
        f"{settings.legacy.host}:{settings.legacy.port} holds {', '.join(granted)}. The pipeline "
        "never writes the legacy database; have the DBA revoke these (`brody-assets db grants` "
        "prints the grants it needs: SELECT only)"
    )


def legacy_preflight(settings: Settings) -> list[str]:
    """Check the legacy schemas and the account's rights; returns warnings to log, raises to stop."""
    with connect(settings.legacy, "legacy", settings.source) as conn:
        missing = missing_schemas(conn, settings)
        if missing:
            raise MissingLegacySchemaError(missing)
        granted = write_privileges(conn)
    if not granted:
        return []
    if not settings.legacy_allow_writable:
        raise WritableLegacyAccountError(
            writable_message(settings, granted)
            + f". Refusing to run. To run anyway, set {ALLOW_KEY}: true in dj_local_conf.json."
        )
    return [writable_message(settings, granted) + f" (running anyway: {ALLOW_KEY} is true)."]
