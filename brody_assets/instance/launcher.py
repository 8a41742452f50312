"""A run launcher whose run monitoring notices a run whose process died (issue 10.3).

Dagster's ``DefaultRunLauncher`` cannot tell whether a run's process is alive, so a run whose
process was killed (``kill -9``, a reboot, a crashed ``brody-assets materialize``) stayed
``STARTED`` forever and, with one run at a time, blocked the queue. :class:`LocalRunLauncher`
launches exactly as the default one does and adds the health check the daemon's run monitoring
calls (``run_monitoring`` in ``resources/dagster.yaml``): the run's worker is the process that
wrote the run's ``RUN_START`` event; the run is healthy while that process is alive (and is the
same process: its start time is not after the run's start), otherwise the daemon marks the run
failed and the queue moves on.

Every run of this instance executes on this machine (the default launcher starts run workers here,
and shell runs execute in the ``brody-assets`` process), so a process id names the worker.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

# A process that started this long after the run's RUN_START event cannot be its worker (the pid
# was reused). Generous, so that a wall-clock step (NTP, a resumed VM) never fails a live run; a
# pid is reused only after the system has gone through all the others, far later than this.
_START_SLACK_S = 60.0


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def process_state(pid: int) -> tuple[bool, float | None]:
    """(alive, start time as a Unix timestamp or None when unknown) of process ``pid``.

    A zombie (exited, not yet reaped by its parent) counts as dead.
    """
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except FileNotFoundError:
        return False, None
    except OSError:
        text = ""
    if not text:  # no /proc (not Linux): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False, None
        except PermissionError:
            return True, None
        return True, None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):
        return False, None
    boot = _boot_time()
    if boot is None:
        return True, None
    return True, boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def worker_health(pid: int, run_started_at: float) -> CheckRunHealthResult:
    """The health of the run worker ``pid``, whose run started at ``run_started_at`` (Unix time)."""
    alive, started = process_state(pid)
    if not alive:
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run's process (pid {pid}) is no longer running",
            run_worker_id=str(pid),
        )
    if started is not None and started > run_started_at + _START_SLACK_S:
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's process (pid {pid}) is gone; pid {pid} now belongs to another process",
            run_worker_id=str(pid),
        )
    return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {pid} alive", run_worker_id=str(pid))


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a worker health check by process id, for run monitoring."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1
        ).records
        event = records[0].event_log_entry if records else None
        pid = event.dagster_event.pid if event is not None and event.dagster_event else None
        if pid is None:
            # STARTED without a recorded worker process: nothing to judge by, so it is left running.
            return CheckRunHealthResult(WorkerStatus.RUNNING,
                                        "no run worker process id recorded")
        return worker_health(pid, event.timestamp)
