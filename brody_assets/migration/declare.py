"""Make sure the new and shadow tables exist before a run writes them.

DataJoint binds its table classes to one schema name per process. The declaration therefore runs
in a short-lived child process (``declare_here`` there), so the calling process never binds the
classes: one process (a Dagster run, a test session, a benchmark) can serve several prefixes. The
engine itself writes with plain SQL and needs no DataJoint classes.
"""

from __future__ import annotations

import json
import subprocess
import sys

from brody_assets.config import DatabaseSettings, Secret, Settings


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


def declare_here(settings: Settings) -> None:
    """DataJoint ``activate`` in *this* process (binds the table classes to these prefixes)."""
    import datajoint as dj

    from brody_assets.migration.schemas import activate

    dj.config["enable_python_native_blobs"] = True
    connection = dj.Connection(host=settings.database.host, port=settings.database.port,
                               user=settings.database.user, password=settings.database.password.reveal(),
                               use_tls=settings.database.use_tls)
    activate(connection, settings.new_prefix, settings.shadow_prefix)


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
