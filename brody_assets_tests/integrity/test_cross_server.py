"""Legacy on its own server, end to end: the whole graph in both layouts, on the same demo data.

The same `small` demo legacy database (same seed, same days) is built twice: once beside the
pipeline's schemas on the test server (the same-server layout), once on a second real MariaDB
server under a site prefix (``lab<tag>_``) that only a SELECT-only account may read (the
cross-server layout; the pipeline account does not even exist there). ``brody-assets
materialize`` runs the whole graph (observe legacy, migrate, every integrity check, the report)
in a fresh process for each, and every check must pass or fail exactly alike, with the same
failing count.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import subprocess
import sys
from dataclasses import replace

import pymysql
import pytest

from brody_assets.config import PROJECT_ROOT, DatabaseSettings, Secret
from brody_assets.db import bootstrap
from brody_assets.db.accounts import write_privileges
from brody_assets.demo.legacy import build_legacy_database
from brody_assets.integrity import keydiff, xserver
from brody_assets.integrity.checks import all_declarations
from brody_assets.integrity.runner import run_checks
from brody_assets.migration.registry import entry
from brody_assets_tests.conftest import (
    _drop_schemas,
    drop_legacy_account,
    grant_legacy_read_only,
    make_settings,
    write_config,
)

END = dt.date.today()  # the windowed checks look at the last days before the real today
# Legacy lookup tables small enough to fetch whole for a check (hundreds of rows in the lab).
LOOKUP_TABLES = {
    "ratinfo.contacts",
    "ratinfo.rats",
    "ratinfo.riginfo",
    "bdata.calibration_info_tbl",
}


def test_every_large_legacy_table_a_mixed_check_reads_is_narrowed():
    """Across servers a mixed check fetches the legacy rows it can be about: every legacy table
    it reads, other than the small lookup tables, has a provider that narrows it (the lab's
    mass, water and sessions tables are never fetched whole), and every mixed expectation is an
    SQL one (column expectations cannot span two servers)."""
    unnarrowed = []
    for d in all_declarations():
        if not xserver.needs_federation(d):
            continue
        for spec in d.expectations:
            text = xserver.expectation_text(d, spec)
            if not (xserver.reads_legacy(text) and xserver.reads_pipeline(text)):
                continue
            assert spec.kind in ("unexpected_rows", "row_count_equal_query"), d.key
            refs = {f"{s}.{t}" for s, t in xserver._LEGACY_REF.findall(text)}
            unnarrowed += [(d.key, r) for r in refs - set(spec.cross_server or {}) - LOOKUP_TABLES]
    assert not unnarrowed, unnarrowed


def test_a_misspelt_provider_is_refused():
    from brody_assets.integrity.declarations import DeclarationError, declaration_from_dict

    raw = {
        "name": "x",
        "asset": "migrated/action/mass",
        "table": "{legacy.ratinfo}.mass",
        "expectations": [
            {
                "kind": "unexpected_rows",
                "sql": "SELECT 1 FROM {batch} AS b",
                "cross_server": {"ratinfo.mass": {"lots": "new"}},
            }
        ],
    }
    with pytest.raises(DeclarationError, match="cross_server"):
        declaration_from_dict(raw, "t.yaml")
    raw["expectations"][0]["cross_server"] = {"ratinfo.mass": {"lost": "new"}}
    assert declaration_from_dict(raw, "t.yaml").expectations[0].cross_server


def _materialize(settings, home, tmp) -> subprocess.Popen:
    """``brody-assets materialize`` started in a fresh process against ``settings``."""
    conf = write_config(settings, tmp / f"{settings.new_prefix}dj_local_conf.json")
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "BRODY_CONFIG": str(conf),
        "DAGSTER_HOME": str(home),
    }
    code = "from brody_assets.cli import main; raise SystemExit(main(['materialize']))"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _report(home):
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    from brody_assets.definitions import defs
    from brody_assets.integrity.report import summarize

    keys = list(defs.resolve_asset_graph().asset_check_keys)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        return summarize(instance, keys)


@pytest.fixture(scope="module")
def layouts(mariadb_server, legacy_mariadb_server, prefix_factory, tmp_path_factory):
    """Both layouts built from the same demo data and run end to end, once."""
    tmp = tmp_path_factory.mktemp("cross_server")
    tag = secrets.token_hex(2)
    site = f"lab{tag}_"
    same = make_settings(mariadb_server, prefix_factory())
    cross = replace(
        make_settings(mariadb_server, prefix_factory()),
        legacy=DatabaseSettings(
            "127.0.0.1", legacy_mariadb_server.port, f"lab{tag}_ro", Secret(f"ro-{tag}")
        ),
        legacy_schema_prefix=site,
    )
    try:
        with mariadb_server.admin_connect() as admin:
            build_legacy_database(admin, same.legacy_schema_prefix, "small", seed=7, end_date=END)
            bootstrap(admin, same)
            bootstrap(admin, cross)  # the pipeline account (and, today, empty legacy schemas)
        with legacy_mariadb_server.admin_connect() as admin:
            manifest = build_legacy_database(admin, site, "small", seed=7, end_date=END)
        grant_legacy_read_only(legacy_mariadb_server, cross)
        out = {"settings": {"same": same, "cross": cross}, "manifest": manifest}
        running = {}
        for label, settings in (("same", same), ("cross", cross)):  # both at once: wall time
            home = tmp / f"dagster_{label}"
            home.mkdir()
            running[label] = (_materialize(settings, home, tmp), home)
        for label, (process, home) in running.items():
            log, _ = process.communicate(timeout=900)
            out[label] = {
                "code": process.returncode,
                "log": log,
                "rows": _report(home),
                "html": sorted((home / "storage").rglob("*.html")),
            }
        yield out
    finally:
        _drop_schemas(legacy_mariadb_server, site)
        _drop_schemas(mariadb_server, site)
        drop_legacy_account(legacy_mariadb_server, cross.legacy.user)
        drop_legacy_account(mariadb_server, cross.legacy.user)


def _summary(rows):
    return {(r.asset, r.name, r.status, r.unexpected_count) for r in rows}


def test_cross_server_layout_is_really_two_servers(layouts, legacy_mariadb_server):
    cross = layouts["settings"]["cross"]
    assert xserver.cross_server(cross)
    assert not xserver.cross_server(layouts["settings"]["same"])
    with pytest.raises(pymysql.err.OperationalError):  # the pipeline account has no login there
        pymysql.connect(
            host="127.0.0.1",
            port=legacy_mariadb_server.port,
            user=cross.database.user,
            password=cross.database.password.reveal(),
            connect_timeout=5,
        ).close()
    with xserver.connect(cross.legacy) as conn:
        assert write_privileges(conn) == []  # SELECT only
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM `{cross.legacy_schema('ratinfo')}`.`mass`")
            assert cursor.fetchone()[0] > 100
    # the migration streamed from the other server (its run log says so)
    assert "stream" in _run_modes(cross)


def _run_modes(settings) -> set[str]:
    with xserver.connect(settings.database) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT mode FROM `{settings.new_prefix}migration`.`run_log`")
        return {row[0] for row in cursor.fetchall()}


def test_whole_graph_gives_the_same_check_results_in_both_layouts(layouts):
    same, cross = layouts["same"], layouts["cross"]
    assert same["code"] == cross["code"], (same["log"][-3000:], cross["log"][-3000:])
    assert same["html"] and cross["html"]  # the report asset wrote its page in both layouts
    assert len(same["rows"]) == len(cross["rows"]) >= len(all_declarations())
    for label in ("same", "cross"):
        # the report also lists the ephys checks (per recording); these layouts have no drives
        rows = [r for r in layouts[label]["rows"] if not r.asset.startswith("ephys/")]
        assert len(rows) >= len(all_declarations())
        assert not [r for r in rows if r.status == "NEVER_RUN"], label
        errored = [(r.asset, r.name, r.error) for r in rows if r.error and r.error != "none"]
        assert not errored, (label, errored[:5])
    assert _summary(same["rows"]) == _summary(cross["rows"]), sorted(
        _summary(same["rows"]) ^ _summary(cross["rows"])
    )[:20]
    failing = [r for r in cross["rows"] if r.status == "FAILED"]
    assert 20 <= len(failing) < len(cross["rows"])  # the demo's defects are found, not everything
    names = {(r.name, r.status) for r in cross["rows"]}
    for blocking in ("mass_src_to_shadow", "contacts_shadow_to_new", "reconciles_with_legacy"):
        assert any(n == blocking for n, _ in names), blocking


def test_lost_and_drifted_rows_are_found_across_servers(
    layouts, legacy_mariadb_server, mariadb_server
):
    """A ledger row removed (data lost), a legacy value edited and a legacy row deleted on the
    other server: the blocking checks fail with ERROR and the drift check names both rows."""
    cross = layouts["settings"]["cross"]
    site = cross.legacy_schema_prefix
    keys = {
        "migrated/action/mass:mass_src_to_shadow",
        "migrated/action/mass:reconciles_with_legacy",
        "migrated/action/mass:mirror_drift",
        "migrated/action/water:mirror_drift",
    }
    declarations = [d for d in all_declarations() if d.key in keys]
    with mariadb_server.admin_connect() as admin, admin.cursor() as cur:
        ledger = f"`{cross.new_prefix}migration`.`quarantine`"
        cur.execute(
            f"SELECT key_int FROM {ledger} WHERE table_name = 'action.mass' AND stage = 'shadow' "
            "ORDER BY key_int LIMIT 1"
        )
        (lost,) = cur.fetchone()
        cur.execute(
            f"DELETE FROM {ledger} WHERE table_name = 'action.mass' AND key_int = %s", (lost,)
        )
    with legacy_mariadb_server.admin_connect() as admin, admin.cursor() as cur:
        cur.execute(
            f"SELECT MAX(weighing) FROM `{site}ratinfo`.`mass` WHERE weighing <> %s", (lost,)
        )
        (edited,) = cur.fetchone()
        cur.execute(
            f"UPDATE `{site}ratinfo`.`mass` SET mass = mass + 3 WHERE weighing = %s", (edited,)
        )
        cur.execute(f"SELECT MAX(watering) FROM `{site}ratinfo`.`water`")
        (deleted,) = cur.fetchone()
        cur.execute(f"DELETE FROM `{site}ratinfo`.`water` WHERE watering = %s", (deleted,))
    outcomes = {o.key: o for o in run_checks(cross, declarations)}
    for key in (
        "migrated/action/mass:mass_src_to_shadow",
        "migrated/action/mass:reconciles_with_legacy",
    ):
        o = outcomes[key]
        assert not o.passed and o.severity == "ERROR" and o.blocking and o.error is None, key
        assert re.search(rf"\|\s*{lost}\s*\|", o.failing_rows), o.failing_rows
    mass = outcomes["migrated/action/mass:mirror_drift"]
    edited_rows = [r for r in mass.expectations[0].rows if r["weighing"] == edited]
    assert [r["changed_columns"] for r in edited_rows] == ["mass"], mass.failing_rows
    water = outcomes["migrated/action/water:mirror_drift"]
    assert water.expectations[1].rows == [{"water_id": deleted}]


def test_only_differing_keys_travel(layouts):
    """The reconciliation of mass compares hashed buckets: far fewer keys cross than rows exist,
    and the keys it nominates are exactly the rows missing from the new table."""
    cross = layouts["settings"]["cross"]
    e = entry("action.mass")
    federation = xserver.open_federation(cross)
    try:
        ids = xserver.lost_ids(federation, e, "new")
        with federation.pipeline.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM `{cross.new_prefix}action`.`mass`")
            (migrated,) = cursor.fetchone()
            cursor.execute(
                f"SELECT key_int FROM `{cross.new_prefix}migration`.`quarantine` "
                "WHERE table_name = 'action.mass'"
            )
            quarantined = {row[0] for row in cursor.fetchall()}
    finally:
        federation.close()
    assert set(ids) >= quarantined - {None} and ids  # the ledger rows, and at most a lost one more
    assert len(set(ids) - quarantined) <= 1
    assert federation.stats["keys_compared"] < migrated  # not a copy of the table


def test_both_servers_write_the_same_canonical_text(
    mariadb_server, legacy_mariadb_server, prefix_factory
):
    """latin1 text, NULLs, zero and real dates, FLOAT(2,2) vs DECIMAL, ZEROFILL vs plain
    integers: the same rows hash alike on a latin1 legacy table and a utf8mb4 pipeline table; a
    changed value is nominated."""
    prefix = prefix_factory()
    rows = [
        (1, "Müller", None, "2024-02-29", 0.25, 1),
        (2, "Çelik ", "x", "0000-00-00", 0.1, 0),
        (3, None, "", "1999-12-31", None, None),
    ]
    made = []
    for server, charset in ((legacy_mariadb_server, "latin1"), (mariadb_server, "utf8mb4")):
        with server.admin_connect() as admin, admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{prefix}k` CHARACTER SET {charset}")
            made.append(server)
            kind = "FLOAT(2,2)" if charset == "latin1" else "DECIMAL(4,2)"
            flag = "TINYINT(3) UNSIGNED ZEROFILL" if charset == "latin1" else "TINYINT(3)"
            cur.execute(
                f"CREATE TABLE `{prefix}k`.t (id INT PRIMARY KEY, name VARCHAR(20), note VARCHAR(5), "
                f"d DATE, v {kind}, z {flag}) CHARACTER SET {charset}"
            )
            cur.executemany(f"INSERT INTO `{prefix}k`.t VALUES (%s, %s, %s, %s, %s, %s)", rows)
    try:
        with mariadb_server.admin_connect() as right, legacy_mariadb_server.admin_connect() as left:

            def sides():
                values = (
                    keydiff.canonical_value("t.name"),
                    keydiff.canonical_value("t.note"),
                    keydiff.canonical_value("t.d"),
                    keydiff.canonical_value("t.v", "decimal(4,2)"),
                    keydiff.canonical_value("t.z", "tinyint(3)"),
                )
                key = (keydiff.canonical_value("t.id"),)
                return (
                    keydiff.Side(left, f"`{prefix}k`.t AS t", key, values, carry=("t.id",)),
                    keydiff.Side(right, f"`{prefix}k`.t AS t", key, values, carry=("t.id",)),
                )

            same = keydiff.diff(*sides(), first_buckets=2, fanout=2, leaf_rows=1)
            assert same.nominated == 0 and same.left_rows == same.right_rows == 3
            with right.cursor() as cur:
                cur.execute(f"UPDATE `{prefix}k`.t SET name = 'Muller' WHERE id = 1")
                cur.execute(f"DELETE FROM `{prefix}k`.t WHERE id = 3")
            found = keydiff.diff(*sides(), first_buckets=2, fanout=2, leaf_rows=1)
            assert [c[0] for c in found.changed.values()] == [1]
            assert [c[0] for c in found.left_only.values()] == [3]
            assert not found.right_only
    finally:
        for server in made:
            _drop_schemas(server, prefix)


def test_an_unreachable_legacy_server_fails_the_mixed_checks_saying_so(layouts):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cross = layouts["settings"]["cross"]
    gone = replace(cross, legacy=replace(cross.legacy, port=port))
    [declaration] = [
        d for d in all_declarations() if d.key == "migrated/action/mass:reconciles_with_legacy"
    ]
    [outcome] = run_checks(gone, [declaration])
    assert not outcome.passed and outcome.error
    assert "Can't connect" in outcome.error or "connect" in outcome.error.lower()
    assert cross.legacy.password.reveal() not in outcome.error


def test_a_lost_row_of_the_window_fails_its_day_alike_in_both_layouts(layouts, mariadb_server):
    """I20 across servers reads whole days only where the bucket compare finds a lost row, and
    reports that day with the same counts as the direct join on one server."""
    [declaration] = [
        d for d in all_declarations() if d.key == "migrated/action/mass:window_count_reconciliation"
    ]
    rows = {}
    for label in ("same", "cross"):
        settings = layouts["settings"][label]
        with mariadb_server.admin_connect() as admin, admin.cursor() as cur:
            new_mass = f"`{settings.new_prefix}action`.`mass`"
            cur.execute(f"SELECT MAX(mass_id) FROM {new_mass}")  # the newest: in the window
            (newest,) = cur.fetchone()
            cur.execute(f"DELETE FROM {new_mass} WHERE mass_id = %s", (newest,))
        [outcome] = run_checks(settings, [declaration])
        assert not outcome.passed and outcome.error is None, label
        rows[label] = outcome.expectations[0].rows
    assert rows["same"] == rows["cross"] and len(rows["cross"]) == 1
    assert rows["cross"][0]["unaccounted"] == 1


def test_servers_in_different_time_zones_agree_on_timestamps(layouts, legacy_mariadb_server):
    """rat_history.logtime is a TIMESTAMP: read by servers in two time zones, its values still
    hash and travel alike (both sessions read in UTC), so no drift is invented."""
    cross = layouts["settings"]["cross"]
    wanted = {"migrated/subject/rat_history:mirror_drift", "migrated/subject/rat_history:pk_unique"}
    declarations = [d for d in all_declarations() if d.key in wanted]
    before = {o.key: (o.passed, o.unexpected_count) for o in run_checks(cross, declarations)}
    with legacy_mariadb_server.admin_connect() as admin, admin.cursor() as cur:
        cur.execute("SET GLOBAL time_zone = '+05:00'")
    try:
        with xserver.connect(cross.legacy) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@session.time_zone")
            assert cur.fetchone()[0] == "+05:00"  # the legacy server now reads in another zone
        after = {o.key: (o.passed, o.unexpected_count) for o in run_checks(cross, declarations)}
    finally:
        with legacy_mariadb_server.admin_connect() as admin, admin.cursor() as cur:
            cur.execute("SET GLOBAL time_zone = 'SYSTEM'")
    assert after == before and len(after) == 2
