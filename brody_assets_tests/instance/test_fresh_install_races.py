"""Two processes at once on a fresh install: nothing races (issue 10.4).

Each test starts two real processes that wait for the same go-signal, so their first steps
overlap: declaring the tables of a fresh schema prefix (MariaDB named lock), creating a fresh
Dagster instance home (file lock), and, end to end, two ``brody-assets materialize --job
migrate_all`` on a fresh prefix and a fresh ``DAGSTER_HOME``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from brody_assets.config import PROJECT_ROOT
from brody_assets.db import bootstrap
from brody_assets.migration.declare import tables_declared
from brody_assets_tests.conftest import make_settings, write_config

# Each child waits for the go file, then runs its part.
GATED = """
import os, sys, time
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.005)
"""


def _both_at_once(program: str, args: list[str], tmp_path: Path, env: dict | None = None,
                  timeout: int = 300) -> list[subprocess.CompletedProcess]:
    go = tmp_path / f"go-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    procs = [subprocess.Popen([sys.executable, "-c", GATED + program, str(go), *args], env=env,
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(1.5)  # both have imported what they need and wait
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _accounts(mariadb_server, prefix, tmp_path):
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        bootstrap(admin, settings)
    return settings, write_config(settings, tmp_path / "dj_local_conf.json")


def test_two_processes_declare_the_tables_of_a_fresh_prefix(mariadb_server, unique_prefix, tmp_path):
    settings, conf = _accounts(mariadb_server, unique_prefix, tmp_path)
    assert not tables_declared(settings)
    program = """
from brody_assets.config import load_settings
from brody_assets.migration.declare import ensure_declared
ensure_declared(load_settings(sys.argv[2]))
"""
    results = _both_at_once(program, [str(conf)], tmp_path)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    assert tables_declared(settings)


def test_two_processes_create_a_fresh_instance_home(tmp_path):
    program = """
from pathlib import Path
from brody_assets.instance.home import prepare_home
prepare_home(Path(sys.argv[2]))
"""
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        results = _both_at_once(program, [str(home)], tmp_path, timeout=120)
        for r in results:
            assert r.returncode == 0, r.stderr[-3000:]
        # Usable afterwards, from another process: a run is recorded and read back.
        check = subprocess.run(
            [sys.executable, "-c", "import sys; from dagster import DagsterInstance, job, op\n"
             "@op\ndef one(): return 1\n@job\ndef probe(): one()\n"
             "i = DagsterInstance.from_config(sys.argv[1])\n"
             "assert probe.execute_in_process(instance=i).success\n"
             "print(len(i.get_runs()))", str(home)],
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stderr[-3000:]
        assert check.stdout.strip() == "1"


@pytest.mark.slow
def test_two_materializations_on_a_fresh_prefix_and_a_fresh_home(mariadb_server, unique_prefix,
                                                                 tmp_path):
    from brody_assets.demo.legacy import build_legacy_database

    settings, conf = _accounts(mariadb_server, unique_prefix, tmp_path)
    with mariadb_server.admin_connect() as admin:
        build_legacy_database(admin, unique_prefix, scale="small", seed=3, end_date=dt.date(2026, 11, 20))
    home = tmp_path / "dagster_home"
    program = """
from brody_assets.cli import main
sys.exit(main(["materialize", "--job", "migrate_all"]))
"""
    results = _both_at_once(program, [], tmp_path, timeout=600,
                            env={"BRODY_CONFIG": str(conf), "DAGSTER_HOME": str(home)})
    for r in results:
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        assert "job migrate_all: succeeded" in r.stdout
    assert tables_declared(settings)
    instance = DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs(filters=RunsFilter(job_name="migrate_all"))
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS] * 2
    finally:
        instance.dispose()
