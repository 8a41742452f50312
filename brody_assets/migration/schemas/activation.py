"""Binding the declared schemas to a database: :func:`activate` and :func:`drop_schemas`.

The table classes are declared at import (``dj.Schema()`` without a name, as DataJoint elements
do) and bound here, in foreign-key order, under a new-layer and a shadow-layer prefix. DataJoint
binds a class to one database at a time, so one process serves one pair of prefixes:
calling :func:`activate` again with the same prefixes returns the same :class:`MigrationTables`;
calling it with other prefixes raises :class:`SchemaActivationError` while the schemas of the
first activation still exist (tests that drop their schemas may then activate fresh prefixes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import datajoint as dj

from .naming import (
    DEFAULT_PREFIXES,
    FAMILIES,
    LAYERS,
    SCHEMA_MODULES,
    TABLE_NAMES,
    schema_name,
    table_class,
)


class SchemaActivationError(RuntimeError):
    """The schemas are already bound to other prefixes in this process."""


@dataclass(frozen=True)
class MigrationTables:
    """Access to the activated new and shadow table classes.

    ``tables.new("action", "Water")``, ``tables.shadow("subject", "Rats.Contact")``.
    """

    connection: dj.Connection = field(repr=False)
    new_prefix: str
    shadow_prefix: str

    def prefix(self, layer: str) -> str:
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}; expected one of {LAYERS}")
        return self.new_prefix if layer == "new" else self.shadow_prefix

    def table(self, layer: str, family: str, path: str) -> type:
        """The activated class for ``(layer, family, "Class" or "Master.Part")``."""
        return table_class(layer, family, path)

    def new(self, family: str, path: str) -> type:
        return self.table("new", family, path)

    def shadow(self, family: str, path: str) -> type:
        return self.table("shadow", family, path)

    def schema_names(self) -> dict[str, dict[str, str]]:
        """``{"new": {"lab": "bl_new_lab", ...}, "shadow": {...}}``."""
        return {
            layer: {family: schema_name(self.prefix(layer), family) for family in FAMILIES}
            for layer in LAYERS
        }

    def full_table_name(self, layer: str, family: str, path: str) -> str:
        """Quoted MySQL name, e.g. ``"`bl_shadow_lab`.`__contacts`"``, for hand-written SQL."""
        database = schema_name(self.prefix(layer), family)
        return f"`{database}`.`{TABLE_NAMES[(layer, family, path)]}`"


_active: MigrationTables | None = None


def _existing_schemas(connection: dj.Connection, names: list[str]) -> list[str]:
    placeholders = ", ".join(["%s"] * len(names))
    rows = connection.query(
        "SELECT schema_name FROM information_schema.schemata "
        f"WHERE schema_name IN ({placeholders})",
        args=tuple(names),
    ).fetchall()
    return sorted(row[0] for row in rows)


def _all_schema_names(new_prefix: str, shadow_prefix: str) -> list[str]:
    prefixes = {"new": new_prefix, "shadow": shadow_prefix}
    return [schema_name(prefixes[layer], family) for layer in LAYERS for family in FAMILIES]


def activate(
    connection: dj.Connection,
    new_prefix: str = DEFAULT_PREFIXES["new"],
    shadow_prefix: str = DEFAULT_PREFIXES["shadow"],
) -> MigrationTables:
    """Create (if missing) and bind the 8 schemas ``<prefix>{lab,subject,action,acquisition}``.

    Declares any missing table; existing tables are left as they are. Idempotent for the same
    prefixes (the tables stay bound to the first call's connection); see the module docstring
    for other prefixes. A returned object is valid until the classes are rebound elsewhere.
    """
    global _active
    if not new_prefix or not shadow_prefix or new_prefix == shadow_prefix:
        raise ValueError("new_prefix and shadow_prefix must be non-empty and different")
    if _active is not None:
        if (_active.new_prefix, _active.shadow_prefix) == (new_prefix, shadow_prefix):
            return _active
        still_there = _existing_schemas(
            connection, _all_schema_names(_active.new_prefix, _active.shadow_prefix)
        )
        if still_there:
            raise SchemaActivationError(
                f"migration schemas are already activated in this process under prefixes "
                f"new={_active.new_prefix!r}, shadow={_active.shadow_prefix!r} "
                f"(schemas {still_there} still exist); cannot also activate "
                f"new={new_prefix!r}, shadow={shadow_prefix!r}. Use one prefix pair per process."
            )
    prefixes = {"new": new_prefix, "shadow": shadow_prefix}
    for layer in LAYERS:
        for family in FAMILIES:
            schema = SCHEMA_MODULES[layer][family].schema
            schema.activate(schema_name(prefixes[layer], family), connection=connection)
    _active = MigrationTables(connection, new_prefix, shadow_prefix)
    return _active


def drop_schemas(connection: dj.Connection, new_prefix: str, shadow_prefix: str) -> list[str]:
    """Drop whichever of the 8 schemas exist, dependants first; returns the names dropped.

    Destructive and unconditional (no prompt): meant for tests and ``db reset``.
    """
    order = [
        schema_name(prefix, family)
        for prefix in (new_prefix, shadow_prefix)
        for family in reversed(FAMILIES)
    ]
    existing = set(_existing_schemas(connection, order))
    dropped = []
    for name in order:
        if name in existing:
            dj.Schema(name, connection=connection, create_schema=False).drop(force=True)
            dropped.append(name)
    return dropped
