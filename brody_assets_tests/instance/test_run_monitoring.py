"""A run whose process is killed is marked failed and the one-run queue moves on (issue 10.3).

A real ``dagster-daemon`` runs against a fresh ``DAGSTER_HOME`` holding the project's own
``resources/dagster.yaml`` (QueuedRunCoordinator with one run at a time, run monitoring on,
:class:`~brody_assets.instance.launcher.LocalRunLauncher`). Two runs are queued with
``dagster job launch``; the first one's process is killed with SIGKILL while the second waits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from brody_assets.config import PROJECT_ROOT

BIN = Path(sys.executable).parent


def _wait_for(what: str, predicate, deadline_s: float, log: Path):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    tail = log.read_text()[-4000:] if log.exists() else ""
    pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}; daemon log tail:\n{tail}")


def _run(instance: DagsterInstance, job: str):
    runs = instance.get_runs(filters=RunsFilter(job_name=job))
    return runs[0] if runs else None


@pytest.fixture
def daemon_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: brody_assets_tests.instance.location\n"
        f"      location_name: test_location\n      working_directory: {PROJECT_ROOT}\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT),
           "BRODY_TEST_PID_FILE": str(tmp_path / "worker.pid")}
    instance = DagsterInstance.from_config(str(home))  # storage created before anyone races for it
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        yield instance, workspace, env, tmp_path, log
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=10)
        instance.dispose()


SHELL_RUN = """
import sys
from pathlib import Path
from dagster import DagsterInstance
from brody_assets.instance.shell import run_job
run_job("sleeper", DagsterInstance.get(), workspace=Path(sys.argv[1]))
"""


@pytest.mark.slow
def test_killed_shell_run_is_marked_failed_and_the_queue_moves_on(daemon_home):
    """A run executing in its own process (as ``brody-assets materialize`` runs them) is killed:
    no parent is left to notice, only run monitoring. It is marked failed within about one poll
    interval and the run queued behind it starts."""
    instance, workspace, env, tmp_path, log = daemon_home
    assert instance.run_monitoring_enabled
    assert instance.run_launcher.supports_check_run_worker_health
    pid_file = tmp_path / "worker.pid"
    shell = subprocess.Popen([sys.executable, "-c", SHELL_RUN, str(workspace)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for("the shell run to start", lambda: pid_file.exists() and pid_file.read_text()
                  and _run(instance, "sleeper").status == DagsterRunStatus.STARTED, 120, log)
        assert int(pid_file.read_text()) == shell.pid
        done = subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", "quick"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        # Run monitoring looks at the live run and leaves it alone; one run at a time: the
        # queued run waits behind it.
        run_id = _run(instance, "sleeper").run_id
        _wait_for("run monitoring to check the live run",
                  lambda: f"Checking run {run_id}" in log.read_text(), 60, log)
        time.sleep(2)
        assert _run(instance, "quick").status == DagsterRunStatus.QUEUED
        assert _run(instance, "sleeper").status == DagsterRunStatus.STARTED

        shell.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        shell.kill()
        shell.wait(timeout=30)

    _wait_for("the killed run to be marked failed",
              lambda: _run(instance, "sleeper").status == DagsterRunStatus.FAILURE, 120, log)
    failed_after = time.monotonic() - killed_at
    _wait_for("the queued run to run",
              lambda: _run(instance, "quick").status == DagsterRunStatus.SUCCESS, 120, log)
    poll = instance.run_monitoring_settings["poll_interval_seconds"]
    assert failed_after < 2 * poll + 20, f"marked failed only after {failed_after:.0f} s"
    failure = instance.get_records_for_run(
        _run(instance, "sleeper").run_id, of_type=DagsterEventType.RUN_FAILURE).records
    message = failure[0].event_log_entry.dagster_event.message
    assert f"the run's process (pid {shell.pid}) is no longer running" in message, message


def test_process_state_sees_exited_and_zombie_processes():
    from brody_assets.instance.launcher import process_state

    alive, started = process_state(os.getpid())
    assert alive and started is not None and started <= time.time()
    child = subprocess.Popen(["sleep", "30"])
    assert process_state(child.pid)[0]
    child.kill()
    deadline = time.monotonic() + 10
    while process_state(child.pid)[0] and time.monotonic() < deadline:  # a zombie until reaped
        time.sleep(0.1)
    assert not process_state(child.pid)[0]
    child.wait()
    assert process_state(child.pid) == (False, None)


def test_worker_health_judges_by_pid_and_start_time():
    from dagster._core.launcher import WorkerStatus

    from brody_assets.instance.launcher import worker_health

    assert worker_health(os.getpid(), time.time()).status == WorkerStatus.RUNNING
    newcomer = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.2)
        # A process that started long after the run did cannot be its worker: the pid was reused.
        reused = worker_health(newcomer.pid, time.time() - 3600)
        assert reused.status == WorkerStatus.FAILED
        assert "now belongs to another process" in reused.msg
        assert worker_health(newcomer.pid, time.time()).status == WorkerStatus.RUNNING
    finally:
        newcomer.kill()
        newcomer.wait()
    gone = worker_health(newcomer.pid, time.time())
    assert gone.status == WorkerStatus.FAILED and "is no longer running" in gone.msg
