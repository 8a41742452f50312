"""Runs started from the shell, executed against the workspace's code location (issue 14.4).

``brody-assets materialize``, ``brody-assets integrity --run`` and the setup command run jobs in
their own process (the output stays in the terminal, the exit status says how it went), but the
run they record is the one the UI would have launched: its job origin names the code location of
``workspace.yaml`` (``brody_assets``) and the repository, so the run shows under its job, in the
Overview timeline, and can be re-executed from the UI. The job executed is the code location's own
job definition (same snapshot), not an ad-hoc copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, JobExecutionResult
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    CodeLocationOrigin,
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.workspace.autodiscovery import (
    loadable_targets_from_python_file,
    loadable_targets_from_python_module,
)
from dagster._core.workspace.load import location_origins_from_yaml_paths

from brody_assets.config import PROJECT_ROOT

WORKSPACE = PROJECT_ROOT / "workspace.yaml"


class ShellRunError(RuntimeError):
    """The workspace file does not name a code location this process can run."""


def code_location(workspace: Path = WORKSPACE, location_name: str | None = None) -> CodeLocationOrigin:
    """The code location ``workspace`` declares (the only one, or the one named ``location_name``)."""
    if not Path(workspace).is_file():
        raise ShellRunError(f"no workspace file at {workspace}: runs from the shell are recorded "
                            "as runs of its code location")
    origins = location_origins_from_yaml_paths([str(workspace)])
    chosen = [o for o in origins if location_name in (None, o.location_name)]
    if len(chosen) != 1:
        names = ", ".join(o.location_name for o in origins) or "none"
        raise ShellRunError(
            f"{workspace}: expected exactly one code location"
            f"{f' named {location_name!r}' if location_name else ''}; found {names}"
        )
    return chosen[0]


def _reconstructable_repository(origin: CodeLocationOrigin) -> ReconstructableRepository:
    if not isinstance(origin, ManagedGrpcPythonEnvCodeLocationOrigin):
        raise ShellRunError(
            f"code location {origin.location_name!r} is served by a separate process "
            f"({type(origin).__name__}); shell runs need a python_module or python_file location"
        )
    target = origin.loadable_target_origin
    directory = target.working_directory
    if target.module_name:
        attribute = target.attribute or _only_attribute(
            loadable_targets_from_python_module(target.module_name, directory), origin)
        return ReconstructableRepository.for_module(target.module_name, attribute, directory)
    if target.python_file:
        attribute = target.attribute or _only_attribute(
            loadable_targets_from_python_file(target.python_file, directory), origin)
        return ReconstructableRepository.for_file(target.python_file, attribute, directory)
    raise ShellRunError(f"code location {origin.location_name!r}: no python_module or python_file")


def _only_attribute(targets, origin: CodeLocationOrigin) -> str:
    if len(targets) != 1:
        raise ShellRunError(f"code location {origin.location_name!r}: expected one Definitions "
                            f"object, found {[t.attribute for t in targets]}")
    return targets[0].attribute


def job_in_location(job_name: str, workspace: Path = WORKSPACE,
                    location_name: str | None = None) -> tuple[ReconstructableJob, RemoteJobOrigin]:
    """The job as this process runs it, and its origin as the UI knows it."""
    origin = code_location(workspace, location_name)
    repository = _reconstructable_repository(origin)
    definition = repository.get_definition()
    if not definition.has_job(job_name):
        raise ShellRunError(f"code location {origin.location_name!r} has no job {job_name!r}")
    remote = RemoteRepositoryOrigin(code_location_origin=origin, repository_name=definition.name)
    return repository.get_reconstructable_job(job_name), remote.get_job_origin(job_name)


def run_job(
    job_name: str,
    instance: DagsterInstance,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    workspace: Path = WORKSPACE,
    location_name: str | None = None,
) -> JobExecutionResult:
    """Execute ``job_name`` in this process, recorded as a run of the workspace's code location."""
    job, remote_origin = job_in_location(job_name, workspace, location_name)
    load_data = job.repository.get_definition().repository_load_data
    job = job.with_repository_load_data(load_data)
    run = instance.create_run_for_job(
        job_def=job.get_definition(),
        run_config=run_config,
        tags=tags,
        job_code_origin=job.get_python_origin(),
        remote_job_origin=remote_origin,
        repository_load_data=load_data,
    )
    return execute_run(job, run, instance, raise_on_error=False)
