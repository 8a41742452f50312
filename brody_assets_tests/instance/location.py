"""A tiny code location for the instance tests: a job that waits (and says which process runs it)
and a job that finishes at once. Loaded by a real ``dagster-daemon`` through a workspace file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagster import Definitions, in_process_executor, job, op


@op
def wait_a_long_time() -> None:
    Path(os.environ["BRODY_TEST_PID_FILE"]).write_text(str(os.getpid()))
    time.sleep(600)


@op
def finish() -> int:
    return 1


@job(executor_def=in_process_executor)
def sleeper():
    wait_a_long_time()


@job(executor_def=in_process_executor)
def quick():
    finish()


defs = Definitions(jobs=[sleeper, quick])
