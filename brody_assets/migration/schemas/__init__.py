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

# The names below are loaded on first use (PEP 562): importing a light submodule such as
# ``.derive`` or ``.static`` must not import DataJoint (README: a fast code location).
_FROM = {
    "MigrationTables": "activation",
    "SchemaActivationError": "activation",
    "activate": "activation",
    "drop_schemas": "activation",
    "DEFAULT_PREFIXES": "naming",
    "FAMILIES": "naming",
    "LAYERS": "naming",
    "SCHEMA_MODULES": "naming",
    "TABLE_NAMES": "naming",
    "iter_table_classes": "naming",
    "schema_name": "naming",
    "table_class": "naming",
}


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    globals()[name] = value
    return value


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
