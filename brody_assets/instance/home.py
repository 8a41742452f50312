"""``$DAGSTER_HOME``: written from ``resources/dagster.yaml`` and its storage created once, under a lock.

The instance keeps its run, event-log and schedule storage in SQLite files under the home. Several
processes creating that storage at the same moment could race (two ``brody-assets`` commands on a
fresh home once left the run storage with two schema heads, after which every command failed). So
the first process to open a home creates the storage while holding an exclusive lock on
``<home>/.instance.lock`` (``flock``: released by the system even if the process is killed); the
others wait, then find the storage there. Afterwards SQLite's own locking serialises writes.

``dagster-mysql`` was the alternative: its 0.29.27 release requires ``dagster==1.13.27`` exactly and
cannot be installed beside this project's ``dagster==1.13.28`` (README: instance storage).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from brody_assets import paths
from brody_assets.config import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "resources" / "dagster.yaml"
LOCK_NAME = ".instance.lock"


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_config(home: Path) -> None:
    """Copy the template to ``home/dagster.yaml`` unless one is there (atomically: never half a file)."""
    target = home / "dagster.yaml"
    if target.exists():
        return
    handle, temporary = tempfile.mkstemp(dir=home, prefix=".dagster.yaml.")
    os.close(handle)
    shutil.copyfile(TEMPLATE, temporary)
    os.replace(temporary, target)


def prepare_home(home: Path | None = None) -> Path:
    """Make ``home`` (default: :func:`brody_assets.paths.dagster_home`) a ready Dagster instance home.

    Sets ``DAGSTER_HOME`` for this process and its children. Safe to call from several processes at
    once; cheap when the home is ready.
    """
    home = Path(home or paths.dagster_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    with _exclusive(home / LOCK_NAME):
        _write_config(home)
        instance = _open(home)
        try:
            # Touch every storage so that anything created lazily is created now, under the lock.
            instance.get_runs(limit=1)
            instance.fetch_materializations(_any_key(), limit=1)
            instance.all_instigator_state()
        finally:
            instance.dispose()
    return home


def _open(home: Path):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


def _any_key():
    from dagster import AssetKey

    return AssetKey(["brody_assets", "instance_ready"])


def open_instance(home: Path | None = None):
    """The instance at ``home`` (prepared first); the caller disposes of it (or uses ``with``)."""
    return _open(prepare_home(home))
