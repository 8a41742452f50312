"""``brody-assets doctor``: is this site ready for a migration? Read-only checks, one line each.

Run before the first migration (``scripts/setup.sh`` runs it after ``db start`` / ``demo build``).
It connects as both accounts and checks, in order: the connections, the TLS setting, the server
versions, the accounts' grants (legacy: SELECT only — anything more is a loud WARNING; pipeline:
may create its prefixed schemas), that every legacy table and column the migration registry reads
exists with a compatible type (the drift check of :mod:`brody_assets.migration.engine.drift`),
``max_allowed_packet`` against the largest legacy blob, the pipeline server against the largest
ephys row (one LFP electrode's trace), ``sql_mode``, and that the drive roots are mounted. Every
finding is ``OK``, ``WARN`` or ``FAIL`` with the fix; a ``FAIL`` is a blocker (exit status 1).

The doctor never writes: no schema, table, row or file is created or changed anywhere. It only
runs ``SELECT``, ``SHOW`` and session-level ``SET SESSION`` statements. No Dagster import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql

from brody_assets.config import DatabaseSettings, Settings
from brody_assets.db.grants import write_privileges
from brody_assets.drives_check import check_drive_roots
from brody_assets.migration.engine.db import PERMISSIVE_MODE, STRICT_MODE
from brody_assets.migration.engine.drift import find_drift, server_columns
from brody_assets.migration.reads import LEGACY_TYPES
from brody_assets.migration.registry import entries

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
FAMILIES_OF_NEW = ("lab", "subject", "action", "acquisition")
MIN_MARIADB, MIN_MYSQL = (10, 5), (8, 0)
BLOB_SAMPLE_ROWS = 200  # newest legacy rows whose blob sizes are sampled
LONG_RECORDING_HOURS = 4  # the longest recording a site should ingest without changing its server
PIPELINE_KEYS = ("database", "DJ_HOST / DJ_PORT / DJ_USER / DJ_PASS")
LEGACY_KEYS = ("custom.legacy.database", "BRODY_LEGACY_HOST / _PORT / _USER / _PASSWORD")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report."""

    status: str  # "OK" | "WARN" | "FAIL"
    topic: str
    message: str
    fix: str = ""

    def lines(self) -> list[str]:
        out = [f"{self.status:<5} {self.topic:<24} {self.message}"]
        if self.fix and self.status != "OK":
            out.append(f"{'':<5} {'':<24} fix: {self.fix}")
        return out


class _Conn:
    """A read-only view of one connection: ``query`` returns rows (the drift check's interface)."""

    def __init__(self, conn: pymysql.Connection) -> None:
        self.conn = conn

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def value(self, sql: str, args: Sequence[Any] | None = None) -> Any:
        rows = self.query(sql, args)
        return rows[0][0] if rows else None


def _connect(db: DatabaseSettings, label: str, keys: tuple[str, str], source: str) -> tuple[_Conn | None, Finding]:
    """Connect as one account; the finding names the account, host, port and the key to fix."""
    prefix, env = keys
    who = f"{label} account {db.user}@{db.host}:{db.port}"
    try:
        conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal(),
                               autocommit=True, charset="utf8mb4", connect_timeout=5, **db.tls_options())
    except pymysql.MySQLError as error:
        code = error.args[0] if error.args else None
        reason = str(error.args[-1]) if error.args else str(error)
        if code == 1045:
            what, fix = "access denied (wrong password or unknown account)", f"'{prefix}.user' / '{prefix}.password'"
        elif code in (2003, 2002):
            what, fix = "nothing answers there (server down, or wrong host or port)", (
                f"'{prefix}.host' / '{prefix}.port' (or start the server: brody-assets db start)")
        elif code == 2005:
            what, fix = "unknown host", f"'{prefix}.host'"
        elif code == 2026 or "SSL" in reason:
            what, fix = "TLS handshake failed", f"'{prefix}.use_tls'"
        else:
            what, fix = f"error {code}", f"'{prefix}.*'"
        return None, Finding("FAIL", f"{label} connection", f"{who}: {what} ({reason})",
                             f"set {fix} in {source} (environment: {env})")
    version = _Conn(conn).value("SELECT VERSION()")
    return _Conn(conn), Finding("OK", f"{label} connection", f"{who}, server {version}")


def _tls(db: DatabaseSettings, conn: _Conn, label: str, key: str) -> Finding:
    cipher = (conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'") or [("", "")])[0][1]
    if cipher:
        return Finding("OK", f"{label} TLS", f"encrypted ({cipher})")
    if db.host in LOCAL_HOSTS:
        return Finding("OK", f"{label} TLS", f"off ('{key}.use_tls': false; the server is on this machine)")
    return Finding("WARN", f"{label} TLS", f"off: passwords and data cross the network to {db.host} unencrypted",
                   f"enable TLS on the server and set '{key}.use_tls': true")


def _version(conn: _Conn, label: str) -> Finding:
    text = str(conn.value("SELECT VERSION()"))
    numbers = tuple(int(n) for n in re.findall(r"\d+", text)[:2])
    mariadb = "mariadb" in text.lower()
    need = MIN_MARIADB if mariadb else MIN_MYSQL
    if numbers >= need:
        return Finding("OK", f"{label} server version", text)
    return Finding("FAIL", f"{label} server version", f"{text} is older than {'MariaDB' if mariadb else 'MySQL'} "
                   f"{'.'.join(map(str, need))} (window functions, JSON and REGEXP_REPLACE are needed)",
                   "upgrade the server")


def _grants(conn: _Conn) -> list[tuple[list[str], str]]:
    """(privileges, 'db.table') of every grant of the account and its enabled (default) roles."""
    out = []
    for (line,) in conn.query("SHOW GRANTS"):
        match = re.match(r"GRANT (.+?) ON (\S+) TO ", str(line))
        if match:
            out.append(([p.strip().upper() for p in match.group(1).split(",")], match.group(2)))
    return out


def _covers(target: str, schema: str) -> bool:
    """Whether a grant target (```t\\_new\\_%`.*``, ``*.*``) covers every table of ``schema``."""
    db, _, table = target.rpartition(".")
    if table != "*":
        return False
    if db == "*":
        return True
    pattern, text, i = "", db.strip("`"), 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            pattern, i = pattern + re.escape(text[i + 1]), i + 2
            continue
        pattern += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.fullmatch(pattern, schema) is not None


def _legacy_grants(conn: _Conn, settings: Settings) -> Finding:
    writes = write_privileges(conn.conn)  # direct grants, every role (default or not) and PUBLIC
    if writes:
        return Finding("WARN", "legacy grants", f"LEGACY ACCOUNT CAN WRITE: {settings.legacy.user} holds "
                       + "; ".join(writes), "revoke every privilege but SELECT from the legacy account "
                       "(resources/bootstrap.sql grants SELECT only); the pipeline never writes legacy")
    return Finding("OK", "legacy grants", f"{settings.legacy.user}: SELECT only")


def _pipeline_grants(conn: _Conn, settings: Settings) -> Finding:
    schemas = [f"{settings.new_prefix}{f}" for f in (*FAMILIES_OF_NEW, "migration", "staging")]
    schemas += [f"{settings.shadow_prefix}{f}" for f in FAMILIES_OF_NEW]
    grants = _grants(conn)
    denied = [s for s in schemas if not any(
        _covers(target, s) and ({"ALL PRIVILEGES", "CREATE"} & set(privs)) for privs, target in grants)]
    if denied:
        return Finding("FAIL", "pipeline grants", f"{settings.database.user} may not create "
                       + ", ".join(denied), "grant it ALL on the prefixed schemas (brody-assets db bootstrap, "
                       "or your DBA: GRANT ALL PRIVILEGES ON `<prefix>%`.* TO the pipeline account)")
    return Finding("OK", "pipeline grants", f"{settings.database.user} may create "
                   f"{settings.new_prefix}* and {settings.shadow_prefix}* schemas")


def _drift(conn: _Conn, settings: Settings) -> list[Finding]:
    problems = find_drift(conn, settings.legacy_schema_prefix, entries())
    if not problems:
        tables = len(LEGACY_TYPES)
        columns = sum(len(c) for c in LEGACY_TYPES.values())
        return [Finding("OK", "legacy schema", f"{tables} tables, {columns} columns as the migration reads them "
                        f"(schema prefix '{settings.legacy_schema_prefix}')")]
    if len([p for p in problems if p.column is None]) == len(LEGACY_TYPES):
        return [Finding("FAIL", "legacy schema", f"none of the {len(LEGACY_TYPES)} legacy tables the migration reads "
                        f"is visible under schema prefix '{settings.legacy_schema_prefix}' (e.g. "
                        f"`{settings.legacy_schema_prefix}ratinfo`.`rats`)",
                        "check 'custom.legacy.schema_prefix' (BRODY_LEGACY_SCHEMA_PREFIX) and the legacy "
                        "account's SELECT grants")]
    fix = ("check 'custom.legacy.schema_prefix' and the account's SELECT grants" if all(p.column is None for p in problems)
           else "restore the legacy column, or update the registry entry and LEGACY_TYPES (brody_assets/migration/reads.py)")
    return [Finding("FAIL", "legacy schema", p.describe(settings.legacy_schema_prefix), fix) for p in problems]


def _pipeline_reads_legacy(conn: _Conn, settings: Settings) -> Finding:
    """On a shared server the copy runs server-side, reading legacy through the pipeline account."""
    seen = server_columns(conn, settings.legacy_schema_prefix, LEGACY_TYPES)
    unseen = sorted(set(LEGACY_TYPES) - set(seen))
    if unseen:
        return Finding("FAIL", "pipeline reads legacy", f"{settings.database.user} cannot read "
                       + ", ".join(f"{settings.legacy_schema_prefix}{t}" for t in unseen),
                       "grant the pipeline account SELECT on the legacy schemas (legacy and pipeline share "
                       "a server, so the copy runs server-side as the pipeline account)")
    return Finding("OK", "pipeline reads legacy", "legacy and pipeline share a server: the copy runs server-side")


def _largest_blob(legacy: _Conn, settings: Settings) -> int:
    ids = {e.legacy: e.id_column for e in entries()}
    largest = 0
    for table, columns in LEGACY_TYPES.items():
        for column, family in columns.items():
            if family != "blob" or table not in ids:
                continue
            schema, name = table.split(".")
            size = legacy.value(
                f"SELECT MAX(LENGTH(x)) FROM (SELECT `{column}` AS x FROM `{settings.legacy_schema_prefix}{schema}`."
                f"`{name}` ORDER BY `{ids[table]}` DESC LIMIT {BLOB_SAMPLE_ROWS}) AS s")
            largest = max(largest, int(size or 0))
    return largest


def _packets(pipeline: _Conn, legacy: _Conn, settings: Settings) -> list[Finding]:
    try:
        largest = _largest_blob(legacy, settings)
    except pymysql.MySQLError as error:
        return [Finding("WARN", "max_allowed_packet", f"legacy blob sizes not readable ({error.args[-1]})")]
    # a blob row is written alone when larger than PyMySQL's 1 MB multi-row statements; escaped
    # binary may double in size on the way to the pipeline's server
    need = {"pipeline": max(4 << 20, 2 * largest + (1 << 20)), "legacy": largest + (1 << 20)}
    out = []
    for label, conn in (("pipeline", pipeline), ("legacy", legacy)):
        have = int(conn.value("SELECT @@GLOBAL.max_allowed_packet"))
        text = (f"{label} server {_size(have)}; largest legacy blob {_size(largest)} (newest "
                f"{BLOB_SAMPLE_ROWS} rows), needs {_size(need[label])}")
        if have >= need[label]:
            out.append(Finding("OK", "max_allowed_packet", text))
        else:
            out.append(Finding("FAIL", "max_allowed_packet", text,
                               f"set max_allowed_packet = {2 ** (need[label] - 1).bit_length() >> 20}M on the {label} server"))
    return out


def _lfp_rows(conn: _Conn) -> Finding:
    """The largest ephys row is one ``LFP.Electrode`` trace (float32 at ~500 Hz: 7.2 MB per
    recording-hour). The pipeline server must take it as one parameter (``max_allowed_packet``),
    and MySQL, unlike MariaDB, refuses a BLOB larger than 10 % of its redo log."""
    from brody_assets.ephys.ingest.lfp import LFP_TARGET_RATE

    per_hour = 4 * LFP_TARGET_RATE * 3600
    packet = int(conn.value("SELECT @@GLOBAL.max_allowed_packet"))
    # setting -> (its value, recording hours it allows, the value LONG_RECORDING_HOURS needs)
    limits = {"max_allowed_packet": (packet, max(packet - 4096, 0) / per_hour,
                                     LONG_RECORDING_HOURS * per_hour + 4096)}
    if "mariadb" not in str(conn.value("SELECT VERSION()")).lower():
        try:  # MySQL 8.0.30 and newer
            redo = int(conn.value("SELECT @@GLOBAL.innodb_redo_log_capacity"))
        except pymysql.MySQLError:
            redo = int(conn.value("SELECT @@GLOBAL.innodb_log_file_size * @@GLOBAL.innodb_log_files_in_group"))
        limits["innodb_redo_log_capacity"] = (redo, 0.1 * redo / per_hour, 10 * LONG_RECORDING_HOURS * per_hour)
    name = min(limits, key=lambda k: limits[k][1])
    have, hours, need = limits[name]
    text = (f"one LFP electrode row holds {per_hour / 1e6:.1f} MB per recording-hour; this server takes "
            f"recordings up to {hours:.1f} h ({name} {_size(have)}"
            + (": MySQL refuses a BLOB over 10 % of its redo log)" if name != "max_allowed_packet" else ")"))
    if hours >= LONG_RECORDING_HOURS:
        return Finding("OK", "ephys rows", text)
    return Finding("WARN", "ephys rows", text + "; a longer recording's lfp step fails, naming the size",
                   f"set {name} = {-(-int(need) // 2**20)}M on the pipeline server for recordings up to "
                   f"{LONG_RECORDING_HOURS} h")


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _sql_mode(conn: _Conn, label: str, session_mode: str) -> Finding:
    server = str(conn.value("SELECT @@GLOBAL.sql_mode"))
    conn.query("SET SESSION sql_mode = %s", (session_mode,))  # session only, like every pipeline connection
    got = set(str(conn.value("SELECT @@SESSION.sql_mode")).split(","))
    if not set(session_mode.split(",")) <= got:
        return Finding("FAIL", f"{label} sql_mode", f"the session cannot use {session_mode} (got {','.join(sorted(got))})",
                       "allow sessions to set sql_mode (no init_connect overriding it)")
    return Finding("OK", f"{label} sql_mode", f"server default '{server}'; the pipeline's sessions set "
                   f"{'strict modes for writes' if session_mode == STRICT_MODE else 'a permissive mode (zero dates)'}")


def _same_server(settings: Settings) -> bool:
    return (settings.legacy.host, settings.legacy.port) == (settings.database.host, settings.database.port)


def run_doctor(settings: Settings) -> list[Finding]:
    """Every check, in order; never writes anything."""
    source = str(settings.source or "dj_local_conf.json")
    findings: list[Finding] = [Finding("OK", "configuration", source)]
    pipeline, found = _connect(settings.database, "pipeline", PIPELINE_KEYS, source)
    findings.append(found)
    legacy, found = _connect(settings.legacy, "legacy", LEGACY_KEYS, source)
    findings.append(found)
    checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = []
    if pipeline:
        checks += [
            ("pipeline TLS", lambda: _tls(settings.database, pipeline, "pipeline", "database")),
            ("pipeline server version", lambda: _version(pipeline, "pipeline")),
            ("pipeline grants", lambda: _pipeline_grants(pipeline, settings)),
            ("pipeline sql_mode", lambda: _sql_mode(pipeline, "pipeline", STRICT_MODE)),
            ("ephys rows", lambda: _lfp_rows(pipeline)),
        ]
    if legacy:
        checks += [
            ("legacy TLS", lambda: _tls(settings.legacy, legacy, "legacy", "custom.legacy.database")),
            ("legacy server version", lambda: _version(legacy, "legacy")),
            ("legacy grants", lambda: _legacy_grants(legacy, settings)),
            ("legacy schema", lambda: _drift(legacy, settings)),
            ("legacy sql_mode", lambda: _sql_mode(legacy, "legacy", PERMISSIVE_MODE)),
        ]
    if pipeline and legacy and _same_server(settings):
        checks.append(("pipeline reads legacy", lambda: _pipeline_reads_legacy(pipeline, settings)))
    if pipeline and legacy:
        checks.append(("max_allowed_packet", lambda: _packets(pipeline, legacy, settings)))
    try:
        for topic, check in checks:
            try:
                found = check()
            except pymysql.MySQLError as error:  # a query the account may not run: say so, go on
                found = Finding("FAIL", topic, f"cannot be checked: {error.args[-1] if error.args else error}",
                                "give the account the rights to read information_schema and its own grants")
            findings += found if isinstance(found, list) else [found]
    finally:
        for conn in (pipeline, legacy):
            if conn:
                conn.conn.close()
    for problem in check_drive_roots(settings):
        findings.append(Finding("FAIL" if problem.blocking else "WARN", f"{problem.drive} drive",
                                f"{problem.path or '(not configured)'} {problem.problem}", problem.fix))
    for drive in ("archive", "cup"):
        if not any(f.topic == f"{drive} drive" for f in findings):
            findings.append(Finding("OK", f"{drive} drive", f"{getattr(settings, f'{drive}_root')} is mounted and readable"))
    return findings


def report(findings: Sequence[Finding]) -> tuple[list[str], int]:
    """The printed lines and the exit status (1 when any finding is a blocker)."""
    lines = [line for f in findings for line in f.lines()]
    fails = sum(f.status == "FAIL" for f in findings)
    warns = sum(f.status == "WARN" for f in findings)
    lines.append(f"{fails} blocker(s), {warns} warning(s): "
                 + ("ready to migrate." if not fails else "fix the FAIL lines before migrating."))
    return lines, 1 if fails else 0
