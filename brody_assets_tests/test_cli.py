"""The brody-assets command: clear errors for bad input; the demo build end to end on a real server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from brody_assets.config import PROJECT_ROOT

CLI = [sys.executable, "-m", "brody_assets.cli"]


def _run(args, tmp_path, env_extra=None):
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": str(tmp_path), "BRODY_HOME": str(tmp_path / "state"),
           "PYTHONPATH": str(PROJECT_ROOT),  # this checkout's code, whatever the venv has installed
           **(env_extra or {})}
    return subprocess.run(CLI + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _conf(tmp_path, port) -> Path:
    conf = json.loads((PROJECT_ROOT / "resources" / "dj_local_conf.json").read_text())
    conf["database.port"] = port
    conf["custom"]["legacy.database.port"] = port
    path = tmp_path / "dj_local_conf.json"
    path.write_text(json.dumps(conf))
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_missing_config_is_a_clear_error(tmp_path):
    out = _run(["db", "status"], tmp_path)
    assert out.returncode == 2
    assert "No configuration file at" in out.stderr and "dj_local_conf.json" in out.stderr
    assert "Traceback" not in out.stderr


def test_malformed_config_names_the_key(tmp_path):
    conf = json.loads((PROJECT_ROOT / "resources" / "dj_local_conf.json").read_text())
    conf["database.port"] = "not-a-port"
    (tmp_path / "dj_local_conf.json").write_text(json.dumps(conf))
    out = _run(["config"], tmp_path)
    assert out.returncode == 2
    assert "'database.port' must be an integer" in out.stderr


def test_port_taken_by_another_server(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        _conf(tmp_path, port)
        out = _run(["db", "start"], tmp_path)
    assert out.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already used by another program" in out.stderr


def test_demo_build_status_stop_and_unknown_scale(tmp_path):
    port = _free_port()
    _conf(tmp_path, port)
    try:
        out = _run(["demo", "build", "--scale", "huge"], tmp_path)
        assert out.returncode == 2
        assert "unknown scale 'huge'; valid scales: lab, small" in out.stderr
        out = _run(["demo", "build", "--scale", "small"], tmp_path)
        assert out.returncode == 0, out.stderr
        assert "injected defect rows" in out.stdout
        manifest = json.loads((tmp_path / "state" / "demo" / "manifest.json").read_text())
        assert manifest["scale"] == "small" and manifest["defects"]
        archive = tmp_path / ".brody" / "drives" / "archive"
        assert list(archive.rglob("*.ap.meta")), "demo drives were not written"
        out = _run(["db", "status"], tmp_path)
        assert out.returncode == 0 and f"127.0.0.1:{port}" in out.stdout
        out = _run(["config"], tmp_path)
        assert "change-me" not in out.stdout  # passwords never printed
    finally:
        out = _run(["db", "stop"], tmp_path)
        shutil.rmtree(tmp_path / "state", ignore_errors=True)
    assert out.returncode == 0
    assert _run(["db", "status"], tmp_path).returncode == 3


def test_db_grants_prints_exact_grants_for_a_site_with_its_own_servers(tmp_path):
    conf = json.loads((PROJECT_ROOT / "resources" / "dj_local_conf.json").read_text())
    conf["database.host"] = "datajoint01.pni.princeton.edu:3306"
    del conf["database.port"]
    conf["database.password"] = "secret-pipeline-pw"
    conf["custom"]["legacy.database.host"] = "bdata00.pni.princeton.edu"
    conf["custom"]["legacy.database.password"] = "secret-legacy-pw"
    conf["custom"]["legacy.schema_prefix"] = "lab_"
    (tmp_path / "dj_local_conf.json").write_text(json.dumps(conf))
    out = _run(["db", "grants", "--client-host", "10.1.2.3"], tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    pipeline, _, legacy = text.partition("-- 2. On the legacy server bdata00.pni.princeton.edu:3306")
    assert "-- 1. On the pipeline server datajoint01.pni.princeton.edu:3306" in pipeline
    assert "GRANT ALL PRIVILEGES ON `bl\\_new\\_lab`.* TO 'brody_pipeline'@'10.1.2.3';" in pipeline
    assert "GRANT ALL PRIVILEGES ON `bl\\_shadow\\_action`.* TO 'brody_pipeline'@'10.1.2.3';" in pipeline
    assert "brody_legacy_ro" not in pipeline and "lab\\_bdata" not in pipeline
    assert "GRANT SELECT ON `lab\\_bdata`.* TO 'brody_legacy_ro'@'10.1.2.3';" in legacy
    assert [line for line in legacy.splitlines() if line.startswith("GRANT")] == [
        f"GRANT SELECT ON `lab\\_{name}`.* TO 'brody_legacy_ro'@'10.1.2.3';"
        for name in ("bdata", "ratinfo", "protocol")
    ]
    assert "CREATE DATABASE" not in text and "%`" not in text  # nothing created, no wildcard
    assert "secret-" not in text and "<the legacy password" in legacy


def _failing_materialize(tmp_path, mariadb_server, settings, name):
    from brody_assets_tests.conftest import write_config

    folder = tmp_path / name
    folder.mkdir()
    write_config(settings, folder / "dj_local_conf.json")
    return _run(["materialize"], folder)


def test_a_failing_materialize_prints_one_clear_error_per_cause(tmp_path, mariadb_server, prefix_factory):
    import datetime as dt

    from brody_assets.config import DatabaseSettings, Secret
    from brody_assets.db import bootstrap
    from brody_assets.demo.legacy import build_legacy_database
    from brody_assets_tests.conftest import make_settings

    prefix = prefix_factory()
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        build_legacy_database(admin, prefix, scale="small", seed=3, end_date=dt.date(2026, 11, 20))
        bootstrap(admin, settings)
    pipe = settings.database
    wrong_password = settings.with_overrides(
        database=DatabaseSettings(pipe.host, pipe.port, pipe.user, Secret("not-the-password"))
    )
    out = _failing_materialize(tmp_path, mariadb_server, wrong_password, "pw")
    shown = out.stdout + out.stderr
    assert out.returncode == 1, shown
    errors = [line for line in shown.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, shown
    assert f"the pipeline account '{pipe.user}' was refused by the server at 127.0.0.1:{pipe.port}" in errors[0]
    assert "'database.user' / 'database.password' in" in errors[0]
    assert errors[0].startswith("error: the pipeline account")  # the cause, not Dagster's wrapper
    assert "job migrate_all: FAILED" in shown
    assert "Traceback" not in shown and "Stack Trace" not in shown and "not-the-password" not in shown
    assert len(shown.splitlines()) < 40, shown

    wrong_port = settings.with_overrides(database=DatabaseSettings(pipe.host, 1, pipe.user, pipe.password))
    out = _failing_materialize(tmp_path, mariadb_server, wrong_port, "port")
    shown = out.stdout + out.stderr
    errors = [line for line in shown.splitlines() if line.startswith("error:")]
    assert out.returncode == 1 and len(errors) == 1, shown
    assert f"cannot connect to the server at 127.0.0.1:1 as the pipeline account '{pipe.user}'" in errors[0]
    assert "'database.host' / 'database.port'" in errors[0]
    assert "Traceback" not in shown and len(shown.splitlines()) < 40, shown


def test_run_summary_shows_table_totals_beside_the_runs_own_figures():
    from brody_assets.run import RunReport

    report = RunReport(migrated={
        "migrated/action/water": (606, 588, 18, 4_210, 29),
        "migrated/action/mass": (10, 10, 0, 3_000, 0),
    })
    lines = report.lines()
    assert lines[0] == (
        "migrated tables: 2; the tables now hold 7,210 rows, the quarantine ledger 29; this run: "
        "legacy rows in scope (616) = migrated (598) + quarantined (18)"
    )
    water = next(line for line in lines if "migrated/action/water" in line)
    assert water.split() == ["migrated/action/water", "4,210", "29", "606", "=", "588", "+", "18"]


def test_materialize_fails_when_the_archive_drive_is_not_there(tmp_path, mariadb_server, prefix_factory):
    """An archive drive root that does not exist is an error line and exit 1, never exit 0."""
    from brody_assets_tests.conftest import make_settings, write_config

    settings = make_settings(mariadb_server, prefix_factory(), archive_root=tmp_path / "not-mounted",
                             cup_root=tmp_path / "cup")
    write_config(settings, tmp_path / "dj_local_conf.json")
    out = _run(["materialize", "--job", "ingest_recording"], tmp_path)
    shown = out.stdout + out.stderr
    assert f"error: ephys: the archive drive root {tmp_path / 'not-mounted'} is not there" in shown, shown
    assert out.returncode == 1, shown
