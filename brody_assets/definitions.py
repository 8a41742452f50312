"""Assembles the brody_assets Definitions from its domains. No logic, no I/O at import."""

from dagster import Definitions, in_process_executor

from brody_assets.config import load_owners
from brody_assets.ephys.definitions import ephys_definitions
from brody_assets.integrity.checks import integrity_definitions
from brody_assets.legacy.assets import legacy_definitions
from brody_assets.migration.assets import migration_definitions
from brody_assets.resources import DataJointResource, DrivesResource, LegacyDatabaseResource

# Who answers for the assets (custom.owners in dj_local_conf.json; default team:brody-lab).
_owners = load_owners()
_domains = [legacy_definitions(_owners), migration_definitions(_owners)]

defs = Definitions.merge(
    *_domains,
    # Integrity checks attach to the assets the other domains define.
    integrity_definitions(
        existing_asset_keys=[key for domain in _domains for a in domain.assets for key in a.keys],
        legacy_resource_key="legacy_db",  # legacy on another server is read through it
        owners=_owners,
    ),
    # Neuropixels recordings and their Kilosort outputs, one partition per recording.
    ephys_definitions(_owners),
    Definitions(
        resources={
            "legacy_db": LegacyDatabaseResource(),
            "datajoint": DataJointResource(),
            "drives": DrivesResource(),
        },
        # One process, steps in sequence: DataJoint's connection is per process and not
        # thread-safe, and a process per step costs ~8x on a 2-core machine (README: executor).
        executor=in_process_executor,
    ),
)
