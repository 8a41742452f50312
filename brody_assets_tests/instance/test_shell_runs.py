"""Runs started from the shell are runs of the code location the UI shows (issue 14.4).

``brody-assets materialize --job integrity_report`` (a real job of the real code location; it needs
no database) runs in a fresh ``DAGSTER_HOME``; then the instance and the GraphQL API the UI uses
(on the workspace of ``workspace.yaml``) must list the run under its job, with the job's own
snapshot, and the UI's re-execution must accept it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from brody_assets.config import PROJECT_ROOT
from brody_assets.instance.shell import WORKSPACE, code_location

JOB = "integrity_report"

JOB_RUNS = """
query JobRuns($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { name runs { runId status } }
  }
  runsOrError {
    ... on Runs { results { runId pipelineName repositoryOrigin { repositoryLocationName repositoryName } } }
  }
}
"""

REEXECUTE = """
mutation Reexecute($params: ReexecutionParams!) {
  launchRunReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status parentRunId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


def test_shell_run_is_listed_under_its_job_in_the_code_location(tmp_path):
    home = tmp_path / "dagster_home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT),
           "BRODY_CONFIG": str(tmp_path / "no-config.json")}
    out = subprocess.run([sys.executable, "-m", "brody_assets.cli", "materialize", "--job", JOB],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"job {JOB}: succeeded" in out.stdout

    location = code_location(WORKSPACE)
    assert location.location_name == "brody_assets"
    instance = DagsterInstance.from_config(str(home))
    try:
        (run,) = instance.get_runs(filters=RunsFilter(job_name=JOB))
        assert run.status == DagsterRunStatus.SUCCESS
        origin = run.remote_job_origin
        assert origin is not None and origin.job_name == JOB
        assert origin.repository_origin.code_location_origin.location_name == "brody_assets"
        assert origin.repository_origin.repository_name == "__repository__"
        # The filter the UI's job page uses.
        by_label = RunsFilter(job_name=JOB, tags={REPOSITORY_LABEL_TAG: "__repository__@brody_assets"})
        assert [r.run_id for r in instance.get_runs(filters=by_label)] == [run.run_id]

        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as ws:
            context = ws.create_request_context()
            remote_job = (context.get_code_location("brody_assets")
                          .get_repository("__repository__").get_full_job(JOB))
            # The job executed is the code location's own: same snapshot, so no "changed" warning.
            assert run.job_snapshot_id == remote_job.identifying_job_snapshot_id
            selector = {"repositoryLocationName": "brody_assets",
                        "repositoryName": "__repository__", "pipelineName": JOB}
            result = execute_dagster_graphql(context, JOB_RUNS, {"selector": selector})
            assert not result.errors, result.errors
            job = result.data["pipelineOrError"]
            assert job["__typename"] == "Pipeline"
            assert [r["runId"] for r in job["runs"]] == [run.run_id]
            (listed,) = [r for r in result.data["runsOrError"]["results"] if r["runId"] == run.run_id]
            assert listed["repositoryOrigin"] == {"repositoryLocationName": "brody_assets",
                                                  "repositoryName": "__repository__"}

            again = execute_dagster_graphql(context, REEXECUTE, {"params": {
                "parentRunId": run.run_id, "strategy": "ALL_STEPS"}})
            assert not again.errors, again.errors
            launched = again.data["launchRunReexecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            assert launched["run"]["parentRunId"] == run.run_id
            # The instance queues it (one run at a time; the daemon would launch it).
            assert launched["run"]["status"] == "QUEUED"
    finally:
        instance.dispose()
