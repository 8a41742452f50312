"""Assembles the brody_assets Definitions from its domains. No logic, no I/O at import."""

from dagster import Definitions, in_process_executor

from brody_assets.legacy.assets import legacy_definitions
from brody_assets.migration.assets import migration_definitions
from brody_assets.resources import DataJointResource, DrivesResource, LegacyDatabaseResource

defs = Definitions.merge(
    legacy_definitions(),
    migration_definitions(),
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
