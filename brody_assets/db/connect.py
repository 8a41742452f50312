"""Connections whose failures say what to fix: the account, the server and the setting to change.

:func:`connect` opens a pymysql connection for the ``pipeline`` or the ``legacy`` account; when
the server refuses it (1045), cannot be reached (2002/2003/2005/2006/2013) or lacks the database
asked for (1049, 1044), :class:`DatabaseConnectionError` names the account, ``host:port`` and the
key of ``dj_local_conf.json`` (and environment variable) to change. :func:`explain` turns an error
from another client (DataJoint, SQLAlchemy) into the same message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql

from brody_assets.config import DatabaseSettings

UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_KEYS = {
    "pipeline": {
        "label": "pipeline account",
        "host": "database.host", "port": "database.port",
        "user": "database.user", "password": "database.password",
        "env_server": "DJ_HOST / DJ_PORT", "env_login": "DJ_USER / DJ_PASS",
        "prefix": "custom.database.prefix",
    },
    "legacy": {
        "label": "read-only legacy account",
        "host": "custom.legacy.database.host", "port": "custom.legacy.database.port",
        "user": "custom.legacy.database.user", "password": "custom.legacy.database.password",
        "env_server": "BRODY_LEGACY_HOST / BRODY_LEGACY_PORT",
        "env_login": "BRODY_LEGACY_USER / BRODY_LEGACY_PASSWORD",
        "prefix": "custom.legacy.schema_prefix",
    },
}


class DatabaseConnectionError(ConnectionError):
    """A connection was refused or failed; the message names the account, server and setting."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _code_and_text(error: BaseException) -> tuple[int | None, str]:
    inner = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
    args = getattr(inner, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return None, str(inner)


def explain(
    error: BaseException, account: DatabaseSettings, role: str, source: Path | str | None = None,
    database: str | None = None,
) -> DatabaseConnectionError | None:
    """The actionable error for a failed connection, or None when ``error`` is something else."""
    code, text = _code_and_text(error)
    keys = _KEYS[role]
    where = f"{account.host}:{account.port}"
    config = f"in {source}" if source else "in dj_local_conf.json"
    who = f"the {keys['label']} '{account.user}'"
    if code == 1045:
        message = (
            f"{who} was refused by the server at {where} (wrong user name or password). "
            f"Fix '{keys['user']}' / '{keys['password']}' {config} (or {keys['env_login']}), "
            "or create the account (`brody-assets db bootstrap`; `brody-assets db grants` prints its SQL)."
        )
    elif code in UNREACHABLE:
        message = (
            f"cannot connect to the server at {where} as {who}: nothing answers there. "
            f"Fix '{keys['host']}' / '{keys['port']}' {config} (or {keys['env_server']}); for the "
            "project's own server, is it running? (`brody-assets db status`)"
        )
    elif code in (1049, 1044):
        name = database or _quoted(text) or "?"
        if role == "legacy":
            message = (
                f"legacy schema {name} does not exist on {where} (check {keys['prefix']}), or "
                f"{who} has no grant on it."
            )
        else:
            message = (
                f"database {name} does not exist on {where}, or {who} may not use it: run "
                f"`brody-assets db bootstrap` (or check {keys['prefix']})."
            )
    else:
        return None
    return DatabaseConnectionError(f"{message} [server said: ({code}) {text}]", code)


def _quoted(text: str) -> str | None:
    start = text.rfind("'", 0, len(text) - 1)
    return text[start + 1 : -1] if text.endswith("'") and start >= 0 else None


def connect(
    account: DatabaseSettings, role: str, source: Path | str | None = None, **options: Any
) -> pymysql.Connection:
    """``pymysql.connect`` as ``account`` (TLS per its setting), with actionable errors."""
    settings: dict[str, Any] = {"connect_timeout": 10, "charset": "utf8mb4", **account.tls_options()}
    settings.update(options)
    try:
        return pymysql.connect(
            host=account.host, port=account.port, user=account.user,
            password=account.password.reveal(), **settings,
        )
    except pymysql.MySQLError as error:
        explained = explain(error, account, role, source, database=options.get("database"))
        if explained is None:
            raise
        raise explained from None
