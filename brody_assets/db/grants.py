"""Exact schema names and account grants: what the pipeline may touch, and what an account holds.

Nothing here connects on its own. :data:`PIPELINE_SCHEMAS` lists, by exact name, every schema the
pipeline creates under its prefixes: the bootstrap grants on those and nothing wider (a new schema
is one more name here). :func:`render_sql` fills ``resources/bootstrap.sql``; :func:`account_grants`
reads what the connected account really holds, through roles too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pymysql
from pymysql.converters import escape_string

from brody_assets.config import PROJECT_ROOT, Settings, check_prefixes

BOOTSTRAP_SQL = PROJECT_ROOT / "resources" / "bootstrap.sql"
LEGACY_SCHEMAS = ("bdata", "ratinfo", "protocol")
# Every schema the pipeline creates, as (prefix setting, suffix). The migration's four families in
# both layers, the quarantine ledger (``migration``), the streamed path's ``staging`` copy and the
# ephys schemas. Add a name here when a domain adds a schema; the grants follow.
PIPELINE_SCHEMAS: tuple[tuple[str, str], ...] = (
    *(("new", family) for family in ("lab", "subject", "action", "acquisition")),
    ("new", "migration"),
    ("new", "staging"),
    *(("new", name) for name in ("ephys", "ephys_probe", "ephys_report", "ephys_link")),
    *(("shadow", family) for family in ("lab", "subject", "action", "acquisition")),
)
LOCAL_CLIENT_HOSTS = ("127.0.0.1", "localhost")
# Privileges that let an account read and nothing else; anything else can write or administer.
READ_ONLY_PRIVILEGES = frozenset(
    {"USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES", "PROCESS", "REPLICATION CLIENT",
     "BINLOG MONITOR", "SLAVE MONITOR"}
)
SECTIONS = ("legacy-schemas", "legacy-account", "pipeline-account", "pipeline-reads-legacy")


def pattern(name: str) -> str:
    """A GRANT database pattern matching exactly ``name`` (``_`` and ``%`` are wildcards there)."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def pipeline_schemas(settings: Settings) -> list[str]:
    """The exact names of every schema the pipeline account owns, for these prefixes."""
    prefixes = {"new": settings.new_prefix, "shadow": settings.shadow_prefix}
    return [f"{prefixes[layer]}{suffix}" for layer, suffix in PIPELINE_SCHEMAS]


def legacy_schemas(settings: Settings) -> list[str]:
    return [settings.legacy_schema(name) for name in LEGACY_SCHEMAS]


def sections_for(settings: Settings, server: str) -> tuple[str, ...]:
    """Which bootstrap sections run on ``server`` (``pipeline`` or ``legacy``) for these settings.

    With legacy on the pipeline's own server, everything runs there. With legacy elsewhere, the
    pipeline's server gets only the pipeline account (no legacy schemas, no legacy account), and the
    legacy server only the read-only account.
    """
    if settings.legacy_on_pipeline_server:
        return SECTIONS
    return ("pipeline-account",) if server == "pipeline" else ("legacy-account",)


def _sections(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = "always"  # statements before any section marker (a site's own file) always run
    lines: list[str] = []

    def flush() -> None:
        text = "\n".join(lines)
        found.setdefault(current, []).extend(s.strip() for s in text.split(";") if s.strip())
        lines.clear()

    for line in path.read_text().splitlines():
        marker = re.match(r"\s*--\s*@section\s+([\w-]+)", line)
        if marker:
            flush()
            current = marker.group(1)
        elif not line.strip().startswith("--"):
            lines.append(line)
    flush()
    return found


def _account(user: str, host: str) -> str:
    return f"'{escape_string(user)}'@'{escape_string(host)}'"


def render_sql(
    settings: Settings,
    sections: Sequence[str] = SECTIONS,
    path: Path | None = None,
    client_hosts: Sequence[str] = LOCAL_CLIENT_HOSTS,
    passwords: bool = True,
) -> list[str]:
    """The statements of ``sections``, placeholders filled and escaped (statements repeated per
    schema / account where they hold a singular placeholder). Refuses unsafe prefixes first.

    ``passwords=False`` writes a placeholder a DBA replaces instead of each password.
    """
    check_prefixes(settings.new_prefix, settings.shadow_prefix, settings.legacy_schema_prefix)
    password = {
        "legacy_password": escape_string(settings.legacy.password.reveal())
        if passwords else "<the legacy password: custom.legacy.database.password>",
        "pipeline_password": escape_string(settings.database.password.reveal())
        if passwords else "<the pipeline password: database.password>",
    }
    accounts = {
        role: [_account(user, host) for host in client_hosts]
        for role, user in (("legacy", settings.legacy.user), ("pipeline", settings.database.user))
    }
    values = {
        **password,
        "legacy_prefix": settings.legacy_schema_prefix,
        "legacy_user": escape_string(settings.legacy.user),
        "pipeline_user": escape_string(settings.database.user),
        "legacy_accounts": ", ".join(accounts["legacy"]),
        "pipeline_accounts": ", ".join(accounts["pipeline"]),
    }
    repeated = {  # singular placeholders: the statement is repeated once per value
        "legacy_schema": [{"legacy_schema": s, "legacy_schema_pattern": pattern(s)} for s in legacy_schemas(settings)],
        "pipeline_schema": [
            {"pipeline_schema": s, "pipeline_schema_pattern": pattern(s)} for s in pipeline_schemas(settings)
        ],
        "legacy_account": [{"legacy_account": a} for a in accounts["legacy"]],
        "pipeline_account": [{"pipeline_account": a} for a in accounts["pipeline"]],
    }
    found = _sections(path or BOOTSTRAP_SQL)
    statements: list[str] = []
    for section in ("always", *sections):
        for statement in found.get(section, []):
            groups = [
                options for name, options in repeated.items()
                if re.search(r"\{" + name + r"(_pattern)?\}", statement)
            ]
            for combination in itertools.product(*groups) if groups else [()]:
                filled = dict(values)
                for part in combination:
                    filled.update(part)
                statements.append(re.sub(r"\{(\w+)\}", lambda m, f=filled: f[m.group(1)], statement))
    return statements


# -- what an account holds ------------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    privilege: str
    target: str  # `db`.*, `db`.`table`, *.*
    via: str  # "direct", "role `r`", "PUBLIC"

    def describe(self) -> str:
        return f"{self.privilege} on {self.target}" + ("" if self.via == "direct" else f" (through {self.via})")


def parse_grant_lines(lines: Iterable[str]) -> list[Grant]:
    """The privileges of ``SHOW GRANTS`` lines (column lists and GRANT OPTION included); a line
    granted to a role (``TO `role```, no ``@host``) is marked as coming through that role."""
    grants = []
    for line in lines:
        match = re.match(
            r"GRANT (.+?) ON (?:(?:FUNCTION|PROCEDURE|PACKAGE(?: BODY)?) )?(\S+) TO (`[^`]*`(@`[^`]*`)?|PUBLIC)",
            line,
        )
        if not match:
            continue  # "GRANT `role` TO user": followed through the role itself
        grantee = match.group(3)
        via = "direct" if match.group(4) else ("PUBLIC" if grantee == "PUBLIC" else f"role {grantee}")
        privileges = re.sub(r"\([^)]*\)", "", match.group(1))
        for privilege in (p.strip().upper() for p in privileges.split(",")):
            grants.append(Grant(privilege, match.group(2), via))
        if line.rstrip().endswith("WITH GRANT OPTION"):
            grants.append(Grant("GRANT OPTION", match.group(2), via))
    return grants


def account_grants(conn: pymysql.Connection) -> list[Grant]:
    """Everything the connected account may do: its own grants, every role granted to it (default
    or not: it may ``SET ROLE`` to any; nested roles come with their parent) and grants to
    ``PUBLIC``. The session's current role is restored afterwards."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER(), CURRENT_ROLE()")
        user, current_role = cursor.fetchone()
        cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
        lines = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT ROLE_NAME FROM information_schema.APPLICABLE_ROLES WHERE GRANTEE = %s",
                       (user,))
        roles = [row[0] for row in cursor.fetchall()]
        try:
            for role in roles:
                cursor.execute(f"SET ROLE `{role.replace('`', '``')}`")
                cursor.execute("SHOW GRANTS")
                lines.extend(row[0] for row in cursor.fetchall())
        finally:
            if roles:
                restore = f"`{current_role.replace('`', '``')}`" if current_role else "NONE"
                cursor.execute(f"SET ROLE {restore}")
        try:
            cursor.execute("SHOW GRANTS FOR PUBLIC")
            lines.extend(row[0] for row in cursor.fetchall())
        except pymysql.MySQLError:
            pass  # servers before MariaDB 10.11 have no PUBLIC
    return parse_grant_lines(dict.fromkeys(lines))


def write_privileges(conn: pymysql.Connection) -> list[str]:
    """What the connected account may do beyond reading (empty for a read-only account)."""
    seen: list[str] = []
    for grant in account_grants(conn):
        if grant.privilege not in READ_ONLY_PRIVILEGES and grant.describe() not in seen:
            seen.append(grant.describe())
    return seen
