"""Static facts about the migration schemas: modules, table classes and MySQL names.

Nothing here connects to a database, so the migration registry, asset factories and checks can
refer to tables by ``(layer, family, class path)`` before anything is activated, e.g.
``TABLE_NAMES[("shadow", "lab", "Contacts")] == "__contacts"`` and
``TABLE_NAMES[("new", "subject", "Rats.Contact")] == "rats__contact"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import datajoint as dj
from datajoint.user_tables import UserTable
from datajoint.utils import from_camel_case

from . import (
    new_acquisition,
    new_action,
    new_lab,
    new_subject,
    shadow_acquisition,
    shadow_action,
    shadow_lab,
    shadow_subject,
)

LAYERS: tuple[str, ...] = ("new", "shadow")
# Activation (and foreign-key) order; drop in reverse.
FAMILIES: tuple[str, ...] = ("lab", "subject", "action", "acquisition")
DEFAULT_PREFIXES: dict[str, str] = {"new": "bl_new_", "shadow": "bl_shadow_"}

SCHEMA_MODULES: dict[str, dict[str, ModuleType]] = {
    "new": {
        "lab": new_lab,
        "subject": new_subject,
        "action": new_action,
        "acquisition": new_acquisition,
    },
    "shadow": {
        "lab": shadow_lab,
        "subject": shadow_subject,
        "action": shadow_action,
        "acquisition": shadow_acquisition,
    },
}

_TIER_PREFIX = {dj.Manual: "", dj.Lookup: "#", dj.Imported: "_", dj.Computed: "__"}


def schema_name(prefix: str, family: str) -> str:
    """MySQL schema name of a family under a prefix, e.g. ``("bl_new_", "lab") -> "bl_new_lab"``."""
    if family not in FAMILIES:
        raise KeyError(f"unknown schema family {family!r}; expected one of {FAMILIES}")
    return f"{prefix}{family}"


def _master_table_name(cls: type) -> str:
    for tier, mark in _TIER_PREFIX.items():
        if issubclass(cls, tier):
            return mark + from_camel_case(cls.__name__)
    raise TypeError(f"{cls.__name__} is not a DataJoint table class")


def iter_table_classes(module: ModuleType) -> Iterator[tuple[str, type, str]]:
    """Yield ``(class path, class, MySQL table name)`` for every master and part, in module order.

    Part tables are named ``"Master.Part"``. Works before activation (DataJoint only names parts
    once their master is bound to a schema, so the names are computed here).
    """
    for name, obj in vars(module).items():
        if not (isinstance(obj, type) and issubclass(obj, UserTable)):
            continue
        if obj.__module__ != module.__name__ or issubclass(obj, dj.Part):
            continue
        master = _master_table_name(obj)
        yield name, obj, master
        for part_name, part in vars(obj).items():
            if isinstance(part, type) and issubclass(part, dj.Part):
                yield f"{name}.{part_name}", part, f"{master}__{from_camel_case(part_name)}"


TABLE_NAMES: dict[tuple[str, str, str], str] = {
    (layer, family, path): table_name
    for layer, families in SCHEMA_MODULES.items()
    for family, module in families.items()
    for path, _cls, table_name in iter_table_classes(module)
}


def table_class(layer: str, family: str, path: str) -> type:
    """The DataJoint class for ``(layer, family, "Class" or "Master.Part")``; KeyError if unknown."""
    try:
        module = SCHEMA_MODULES[layer][family]
    except KeyError:
        raise KeyError(f"unknown schema {layer!r}/{family!r}") from None
    for candidate, cls, _table_name in iter_table_classes(module):
        if candidate == path:
            return cls
    raise KeyError(f"no table {path!r} in the {layer} {family} schema")
