"""Make sure the new and shadow tables exist before a run writes them.

DataJoint binds its table classes to one schema name per process. The declaration therefore runs
in a short-lived child process (``declare_here`` there), so the calling process never binds the
classes: one process (a Dagster run, a test session, a benchmark) can serve several prefixes. The
engine itself writes with plain SQL and needs no DataJoint classes.

Two processes may declare at once (two runs on a fresh install): the declaration runs under a
MariaDB named lock per prefix pair and creates only what is missing, so the second one waits and
then finds everything in place.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from brody_assets.config import DatabaseSettings, Secret, Settings

# How long a process waits for another one declaring the same prefixes (a fresh declaration of
# the 45 tables takes a few seconds).
DECLARE_LOCK_TIMEOUT_S = 300


def tables_declared(settings: Settings) -> bool:
    """True when every new and shadow table of the registry exists for these prefixes."""
    from brody_assets.db.connect import connect
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    conn = connect(settings.database, "pipeline", settings.source)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA LIKE %s OR TABLE_SCHEMA LIKE %s",
                (settings.new_prefix.replace("_", "\\_") + "%",
                 settings.shadow_prefix.replace("_", "\\_") + "%"),
            )
            present = {row[0] for row in cursor.fetchall()}
    finally:
        conn.close()
    wanted = {
        f"{settings.new_prefix if layer == 'new' else settings.shadow_prefix}{family}.{table}"
        for (layer, family, _), table in TABLE_NAMES.items()
    }
    return wanted <= present


def ensure_declared(settings: Settings) -> None:
    """Declare the tables unless they all exist already (in a child process)."""
    if not tables_declared(settings):
        declare_in_child(settings)


def declaration_lock_name(settings: Settings) -> str:
    """The MariaDB named lock that serialises declaring the tables of these prefixes (<= 64 chars)."""
    digest = hashlib.sha1(f"{settings.new_prefix}\0{settings.shadow_prefix}".encode()).hexdigest()
    return f"brody_assets.declare.{digest[:32]}"


def declare_here(settings: Settings) -> None:
    """DataJoint ``activate`` in *this* process (binds the table classes to these prefixes).

    Runs under the server's named lock :func:`declaration_lock_name`, so two processes declaring
    the same prefixes at once (two runs on a fresh install) take turns: the second finds every
    schema and table in place and declares nothing (DataJoint creates only what is missing). The
    lock is released when this connection closes, even if the process is killed.
    """
    import datajoint as dj

    from brody_assets.migration.schemas import activate

    dj.config["enable_python_native_blobs"] = True
    connection = dj.Connection(host=settings.database.host, port=settings.database.port,
                               user=settings.database.user, password=settings.database.password.reveal(),
                               use_tls=settings.database.use_tls)
    name = declaration_lock_name(settings)
    got = connection.query("SELECT GET_LOCK(%s, %s)", args=(name, DECLARE_LOCK_TIMEOUT_S)).fetchone()[0]
    if got != 1:
        raise RuntimeError(
            f"another process has been declaring the tables of prefixes '{settings.new_prefix}' / "
            f"'{settings.shadow_prefix}' for over {DECLARE_LOCK_TIMEOUT_S} s (MariaDB lock {name}); "
            "is a migration stuck? See SHOW PROCESSLIST on the server."
        )
    try:
        activate(connection, settings.new_prefix, settings.shadow_prefix)
    finally:
        connection.query("SELECT RELEASE_LOCK(%s)", args=(name,))


def declare_in_child(settings: Settings) -> None:
    """Run :func:`declare_here` in a child process; the password travels through its stdin (a
    pipe: never a file, never the command line or the environment)."""
    args = {"host": settings.database.host, "port": settings.database.port,
            "user": settings.database.user, "tls": settings.database.use_tls,
            "new": settings.new_prefix, "shadow": settings.shadow_prefix}
    result = subprocess.run(
        [sys.executable, "-m", "brody_assets.migration.declare", json.dumps(args)],
        input=settings.database.password.reveal(), capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"declaring the new and shadow tables failed: {result.stderr[-2000:]}")


def _main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    password = sys.stdin.read()
    db = DatabaseSettings(args["host"], args["port"], args["user"], Secret(password), args["tls"])
    declare_here(Settings(database=db, legacy=db, new_prefix=args["new"], shadow_prefix=args["shadow"]))


if __name__ == "__main__":
    _main(sys.argv[1:])
