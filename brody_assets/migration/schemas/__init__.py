"""DataJoint definitions of the migration's new (L2) and shadow (L1) schemas (spec §2).

Import declares, :func:`activate` binds::

    from brody_assets.migration.schemas import activate
    tables = activate(dj_connection)                 # bl_new_* and bl_shadow_*
    Water = tables.new("action", "Water")
    ShadowWater = tables.shadow("action", "Water")   # MySQL bl_shadow_action.__water

Modules: ``new_{lab,subject,action,acquisition}`` and ``shadow_{lab,subject,action,acquisition}``
(one per schema family and layer); ``naming`` holds the static name mappings
(:data:`SCHEMA_MODULES`, :data:`TABLE_NAMES`); ``activation`` binds and drops.
"""

from .activation import MigrationTables, SchemaActivationError, activate, drop_schemas
from .naming import (
    DEFAULT_PREFIXES,
    FAMILIES,
    LAYERS,
    SCHEMA_MODULES,
    TABLE_NAMES,
    iter_table_classes,
    schema_name,
    table_class,
)

__all__ = [
    "DEFAULT_PREFIXES",
    "FAMILIES",
    "LAYERS",
    "SCHEMA_MODULES",
    "TABLE_NAMES",
    "MigrationTables",
    "SchemaActivationError",
    "activate",
    "drop_schemas",
    "iter_table_classes",
    "schema_name",
    "table_class",
]
