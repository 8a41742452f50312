"""The element's activation on the real MariaDB: schemas, linking module, extra rows, idempotence."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from brody_assets.config import PROJECT_ROOT
from brody_assets.ephys import element
from brody_assets_tests.ephys.ephys_support import admin_settings


def _query(server, sql, args=()):
    with server.admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


def test_importing_the_domain_neither_connects_nor_loads_the_element():
    code = textwrap.dedent("""
        import sys, time
        t = time.perf_counter()
        import brody_assets.ephys.element, brody_assets.ephys.partitions
        elapsed = time.perf_counter() - t
        print(sorted(m for m in sys.modules if m.startswith(("element_array_ephys", "spikeinterface",
                                                             "matplotlib"))), elapsed)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         check=True).stdout
    loaded, elapsed = out.rsplit(" ", 1)
    assert loaded == "[]"
    assert float(elapsed) < 2.0


def test_activation_declares_every_table_once_under_the_prefix(mariadb_server, unique_prefix, tmp_path):
    settings = admin_settings(mariadb_server, unique_prefix, tmp_path / "archive", tmp_path / "cup")
    assert not element.element_declared(settings)
    names = element.ensure_element(settings)
    assert element.element_declared(settings)

    schemas = {row[0] for row in _query(
        mariadb_server, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
        (settings.new_prefix.replace("_", "\\_") + "ephys%",))}
    assert schemas == {names.probe, names.ephys, names.report, names.link}
    assert names.ephys == f"{settings.new_prefix}ephys" and names.report == f"{settings.new_prefix}ephys_report"

    methods = {r[0] for r in _query(mariadb_server, f"SELECT clustering_method FROM {names.table('ClusteringMethod')}")}
    assert methods == {"kilosort2", "kilosort2.5", "kilosort3", "kilosort4"}
    labels = {r[0] for r in _query(mariadb_server, f"SELECT cluster_quality_label FROM {names.table('ClusterQualityLabel')}")}
    assert labels == {"good", "ok", "mua", "noise", "unsorted"}
    types = {r[0] for r in _query(mariadb_server, f"SELECT probe_type FROM {names.table('ProbeType')}")}
    assert "neuropixels 1.0 - 3B" in types and len(types) == 5
    (n_np1,) = _query(mariadb_server, f"SELECT COUNT(*) FROM {names.table('ProbeType.Electrode')} "
                                      "WHERE probe_type = 'neuropixels 1.0 - 3B'")[0]
    assert n_np1 == 960
    skull = {r[0] for r in _query(mariadb_server, f"SELECT skull_reference FROM {names.table('SkullReference')}")}
    assert skull == {"Bregma", "Lambda"}

    # Session = our EphysSession: -> migrated subject.rats, -> migrated acquisition.sessions, run
    fks = set(_query(
        mariadb_server,
        "SELECT DISTINCT TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME FROM "
        "information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA IN (%s, %s) "
        "AND REFERENCED_TABLE_NAME IS NOT NULL",
        (names.link, names.ephys)))
    assert ("ephys_session", f"{settings.new_prefix}subject", "rats") in fks
    assert ("ephys_session", f"{settings.new_prefix}acquisition", "sessions") in fks
    assert ("_ephys_recording", names.link, "ephys_session") in fks
    assert ("probe_insertion", f"{settings.new_prefix}subject", "rats") in fks
    assert ("insertion_location", names.link, "#skull_reference") in fks
    keys = [r[0] for r in _query(
        mariadb_server, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
        "AND TABLE_NAME = '_ephys_recording' AND COLUMN_KEY = 'PRI' ORDER BY ORDINAL_POSITION", (names.ephys,))]
    assert keys == ["ratname", "sessid", "run", "insertion_number"]

    # idempotent: the second call finds everything and starts no child process
    started = time.perf_counter()
    element.ensure_element(settings)
    assert time.perf_counter() - started < 1.0
    element.declare_in_child(settings)  # a forced re-activation changes nothing
    assert {r[0] for r in _query(mariadb_server, f"SELECT clustering_method FROM {names.table('ClusteringMethod')}")} == methods


def test_concurrent_declarations_are_serialised(mariadb_server, unique_prefix):
    settings = admin_settings(mariadb_server, unique_prefix)
    with ThreadPoolExecutor(2) as pool:  # two child processes at once
        list(pool.map(lambda _: element.declare_in_child(settings), range(2)))
    assert element.element_declared(settings)


def test_roots_both_cup_conventions(tmp_path):
    archive = tmp_path / "Raw"
    physdata = tmp_path / "PhysData"
    (physdata / "NP_sorted").mkdir(parents=True)
    assert element.processed_root(physdata) == physdata / "NP_sorted"
    assert element.processed_root(physdata / "NP_sorted") == physdata / "NP_sorted"
    assert element.ephys_roots(archive, physdata) == [archive, physdata]
    assert element.ephys_roots(archive, physdata / "NP_sorted") == [archive, physdata]
    other = tmp_path / "Test_ephys_pipeline_NP_sorted"
    other.mkdir()
    assert element.processed_root(other) == other
    first = element.ephys_roots(archive, physdata)
    first.append("x")
    assert element.ephys_roots(archive, physdata) == [archive, physdata]  # a fresh list each call


def test_linking_module_inside_the_element(mariadb_server, unique_prefix, tmp_path):
    """The element's own wrappers see our roots: fresh lists, the cup drive as processed root (P9)."""
    archive, physdata = tmp_path / "archive", tmp_path / "PhysData"
    (physdata / "NP_sorted").mkdir(parents=True)
    archive.mkdir()
    settings = admin_settings(mariadb_server, unique_prefix, archive, physdata)
    code = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from brody_assets.config import DatabaseSettings, Secret, Settings
        from brody_assets.ephys.element import activate_here
        db = DatabaseSettings("127.0.0.1", {mariadb_server.port}, {settings.database.user!r},
                              Secret({settings.database.password.reveal()!r}))
        el = activate_here(Settings(database=db, legacy=db, new_prefix={settings.new_prefix!r},
                                    shadow_prefix={settings.shadow_prefix!r},
                                    archive_root=Path({str(archive)!r}), cup_root=Path({str(physdata)!r})))
        once = el.ephys.get_ephys_root_data_dir()
        twice = el.ephys.get_ephys_root_data_dir()
        print(json.dumps({{"once": [str(p) for p in once], "twice": [str(p) for p in twice],
                          "processed": str(el.ephys.get_processed_root_data_dir()),
                          "subject": el.linking.Subject.full_table_name,
                          "session": el.ephys.EphysRecording.parents()}}))
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    expected = [str(archive), str(physdata), str(physdata / "NP_sorted")]
    assert out["once"] == out["twice"] == expected
    assert out["processed"] == str(Path(physdata / "NP_sorted"))
    assert out["subject"] == f"`{settings.new_prefix}subject`.`rats`"
    assert f"`{settings.new_prefix}ephys_link`.`ephys_session`" in out["session"]
