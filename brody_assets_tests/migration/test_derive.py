"""Shadow definitions are generated from the new tables' definitions (no database needed)."""

from __future__ import annotations

import types

import pytest

from brody_assets.migration.schemas.derive import ShadowDefinitionError, shadow_definition

Parent = type("Parent", (), {"definition": "pid : int(3) auto_increment  # c\n---\nx : int"})
Table = type(
    "Table",
    (),
    {
        "__module__": __name__,
        "definition": """
        -> Parent.proj(parent_id='pid')
        t='00:00:00' : time        # comment: with colon
        ---
        old_id : int(10)
        -> [nullable] Parent
        added=null : varchar(3)
        """,
    },
)


def test_foreign_keys_are_resolved_and_key_columns_dropped():
    assert shadow_definition(Table, "old_id : int(10) unsigned  # legacy id").splitlines() == [
        "old_id : int(10) unsigned  # legacy id",
        "---",
        "parent_id               : int(3)",
        "t='00:00:00'            : time",
        "pid=null                : int(3)",
        "added=null              : varchar(3)",
    ]


def test_unresolvable_reference_is_an_error():
    bad = types.SimpleNamespace(__module__=__name__, __qualname__="Bad", definition="-> Nope\n")
    with pytest.raises(ShadowDefinitionError):
        shadow_definition(bad, "k : int")

