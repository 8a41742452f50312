"""Where the ephys sensors keep what they know, beside the Dagster instance's own storage.

``<DAGSTER_HOME>/storage/ephys_sensors/discovery.json`` (and ``discovery.known.json``) hold the
:class:`~brody_assets.ephys.discovery_store.DiscoveryStore`: the
recordings already requested (with their sizes at that time), the folders already walked, the
copies still in progress and the unmatched list that ``ephys/unmatched_recordings`` shows. Both
sensors and the asset open it under an exclusive file lock, so two ticks never interleave.

Deleting the files makes the next tick walk the whole archive drive again; recordings already
ingested are not requested twice (their partitions and run keys exist), but files that changed
since are then no longer reported.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from brody_assets.ephys.discovery_store import DiscoveryStore

STATE_FOLDER = "ephys_sensors"
STATE_FILE = "discovery.json"


def store_path(instance) -> Path:
    """The store file of a Dagster instance (``instance.storage_directory()``)."""
    return Path(instance.storage_directory()) / STATE_FOLDER / STATE_FILE


@contextlib.contextmanager
def locked_store(path: Path, write: bool = True) -> Iterator[DiscoveryStore]:
    """Load the store under an exclusive lock; save it on exit when ``write`` (and no error)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            store = DiscoveryStore.load(path)
            yield store
            if write:
                store.save(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
