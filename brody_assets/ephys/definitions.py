"""The ephys domain's Definitions: the nine partitioned assets, the ``ingest_recording`` job, and
the archive-drive sensor (with its ``ephys/unmatched_recordings`` asset) from ``sensors.py``."""

from __future__ import annotations

import importlib.util

from dagster import AssetSelection, Definitions, define_asset_job

from brody_assets.ephys.assets import ASSETS, build_ephys_assets, key
from brody_assets.ephys.partitions import RECORDINGS

INGEST_JOB = "ingest_recording"

ingest_recording_job = define_asset_job(
    INGEST_JOB,
    selection=AssetSelection.assets(*(key(name) for name in ASSETS)),
    partitions_def=RECORDINGS,
    description=(
        "Ingest one recording (partition = one SpikeGLX file set): validate the raw files and the "
        "Kilosort folder, then fill every ephys_chronic table for that recording. The archive-drive "
        "sensor requests it for each new recording; re-running a partition is a no-op."
    ),
)


def _sensor_definitions() -> Definitions | None:
    """The archive-drive sensor's Definitions, when ``sensors.py`` is part of this checkout."""
    if importlib.util.find_spec("brody_assets.ephys.sensors") is None:
        return None
    from brody_assets.ephys.sensors import sensor_definitions

    return sensor_definitions()


def ephys_definitions() -> Definitions:
    own = Definitions(assets=build_ephys_assets(), jobs=[ingest_recording_job])
    sensors = _sensor_definitions()
    return own if sensors is None else Definitions.merge(own, sensors)
