"""Constructors that fill an entry's boilerplate for the usual one-integer-key legacy table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brody_assets.migration.registry import Parent, TableEntry


def keyed(
    name: str,
    new_class: str,
    legacy: str,
    key: tuple[str, str, str],
    columns: Mapping[str, str],
    **fields: Any,
) -> TableEntry:
    """An entry whose legacy key is one integer column.

    ``key`` = (legacy key column, shadow key column, new-table column holding the same value).
    """
    legacy_col, shadow_col, new_col = key
    return TableEntry(
        name=name,
        new_class=new_class,
        legacy=legacy,
        legacy_key=(legacy_col,),
        columns=dict(columns),
        match=((shadow_col, new_col, f"l.`{legacy_col}`"),),
        source=f"{{L:{legacy}}} AS l",
        shadow_id=f"s.`{shadow_col}`",
        shadow_key_json=f"JSON_OBJECT('{legacy_col}', s.`{shadow_col}`)",
        **fields,
    )


def same(*names: str) -> dict[str, str]:
    """Columns copied unchanged: ``{name: l.name}``."""
    return {n: f"l.`{n}`" for n in names}


RIG = Parent("lab.riginfo", (("rigid", "rigid"),), "s.`rigid`")


def rat_parent(column: str = "ratname") -> Parent:
    """FK to new rats by name; the parent's legacy id is looked up in legacy rats."""
    return Parent(
        "subject.rats",
        ((column, "ratname"),),
        f"(SELECT lr.internalID FROM {{L:ratinfo.rats}} lr WHERE lr.ratname = s.`{column}` LIMIT 1)",
    )


def contact_parent(column: str = "user_id") -> Parent:
    return Parent(
        "lab.contacts",
        ((column, "user_id"),),
        f"(SELECT MIN(lc.contactid) FROM {{L:ratinfo.contacts}} lc "
        f"WHERE SUBSTRING_INDEX(lc.email, '@', 1) = s.`{column}`)",
    )


def rig_parent(column: str) -> Parent:
    return Parent("lab.riginfo", ((column, "rigid"),), f"s.`{column}`")
