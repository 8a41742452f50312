"""Make sure the new and shadow tables exist before a run writes them.

DataJoint binds its table classes to one schema name per process. A process that already declared
the tables under other prefixes (a test session, a notebook) declares these in a child process
instead; the engine itself writes with plain SQL and needs no binding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from brody_assets.config import Settings


def tables_declared(settings: Settings) -> bool:
    """True when every new and shadow table of the registry exists for these prefixes."""
    import pymysql

    from brody_assets.migration.schemas.naming import TABLE_NAMES

    db = settings.database
    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal())
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
    """Declare the tables (idempotent), in a child process if this one is bound to other prefixes."""
    if tables_declared(settings):
        return
    from datajoint.errors import DataJointError

    from brody_assets.migration.engine import declare_tables
    from brody_assets.migration.schemas.activation import SchemaActivationError

    try:
        declare_tables(settings)
    except SchemaActivationError:
        _declare_in_child(settings)
    except DataJointError as error:
        if "already activated" not in str(error):
            raise
        _declare_in_child(settings)


def _declare_in_child(settings: Settings) -> None:
    secrets = {"pass": settings.database.password.reveal()}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(secrets, handle)
    os.chmod(handle.name, 0o600)
    code = (
        "import json, sys\n"
        "from brody_assets.config import DatabaseSettings, Secret, Settings\n"
        "from brody_assets.migration.engine import declare_tables\n"
        "a = json.loads(sys.argv[1]); p = json.load(open(sys.argv[2]))['pass']\n"
        "db = DatabaseSettings(a['host'], a['port'], a['user'], Secret(p), a['tls'])\n"
        "declare_tables(Settings(database=db, legacy=db, new_prefix=a['new'], shadow_prefix=a['shadow']))\n"
    )
    args = {"host": settings.database.host, "port": settings.database.port, "user": settings.database.user,
            "tls": settings.database.use_tls, "new": settings.new_prefix, "shadow": settings.shadow_prefix}
    try:
        result = subprocess.run([sys.executable, "-c", code, json.dumps(args), handle.name],
                                capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        raise RuntimeError(f"declaring the new and shadow tables failed: {result.stderr[-2000:]}")
