"""The ephys domain's Definitions: the nine partitioned assets, the ``ingest_recording`` job, and
the archive-drive sensor (with its ``ephys/unmatched_recordings`` asset) from ``sensors.py``."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetSelection, Definitions, define_asset_job

from brody_assets.config import DEFAULT_OWNERS
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


def ephys_definitions(owners: Sequence[str] = DEFAULT_OWNERS) -> Definitions:
    """The nine assets and ``ingest_recording``, merged with the drive sensors (``sensors.py``);
    every ephys asset carries ``owners`` (``custom.owners``), like the other domains' assets."""
    from brody_assets.ephys.sensors import sensor_definitions

    own = Definitions(assets=build_ephys_assets(), jobs=[ingest_recording_job])
    merged = Definitions.merge(own, sensor_definitions(ingest_recording_job))
    return Definitions(
        assets=[
            a.map_asset_specs(lambda spec: spec.replace_attributes(owners=list(owners)))
            for a in merged.assets
        ],
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        sensors=merged.sensors,
        schedules=merged.schedules,
        resources=merged.resources,
    )
