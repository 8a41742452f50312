"""The new (L2) and shadow (L1) schemas, checked on the real MariaDB against spec §2.

Expectations (``spec_expectations``) are written from the spec's tables (§2.1-2.21, §2.0b), not
from the DataJoint definitions, and cross-checked against the column counts of §6.3.
"""

from __future__ import annotations

import re

import pytest

from brody_assets.migration.schemas import (
    TABLE_NAMES,
    SchemaActivationError,
    activate,
    drop_schemas,
)
from brody_assets_tests.migration.spec_expectations import COUNTS_6_3, NEW, SHADOW, SHADOW_PARTS

FAMILIES = ("lab", "subject", "action", "acquisition")


def _strip_int_width(type_: str) -> str:
    # DataJoint copies a referenced integer key without its display width (int(3) -> int(11));
    # the width is cosmetic in MariaDB, so foreign-key columns are compared without it.
    return re.sub(r"^(tiny|small|medium|big)?int\(\d+\)", lambda m: f"{m.group(1) or ''}int", type_)


@pytest.fixture(scope="module")
def activated(dj_connection, prefix_factory):
    prefix = prefix_factory()
    new_prefix, shadow_prefix = prefix + "new_", prefix + "shadow_"
    tables = activate(dj_connection, new_prefix, shadow_prefix)
    yield tables
    drop_schemas(dj_connection, new_prefix, shadow_prefix)


@pytest.fixture(scope="module")
def catalog(activated, dj_connection):
    """information_schema facts for the 8 activated schemas."""
    names = {f"{activated.new_prefix}{f}": ("new", f) for f in FAMILIES}
    names |= {f"{activated.shadow_prefix}{f}": ("shadow", f) for f in FAMILIES}
    placeholders = ", ".join(["%s"] * len(names))
    args = tuple(names)

    def rows(sql):
        return dj_connection.query(sql.format(p=placeholders), args=args).fetchall()

    columns, pks, fks, extra = {}, {}, {}, {}
    for db, table, col, type_, nullable, default, extra_, _key in rows(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,"
        " EXTRA, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN ({p})"
        " ORDER BY ORDINAL_POSITION"
    ):
        if table.startswith("~"):
            continue
        layer, family = names[db]
        key_ = (layer, family, table)
        nullable = nullable == "YES"
        columns.setdefault(key_, {})[col] = (type_, nullable, None if nullable else default)
        extra.setdefault(key_, {})[col] = extra_
    for db, table, constraint, col, ref_db, ref_table, ref_col in rows(
        "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA,"
        " REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
        " WHERE TABLE_SCHEMA IN ({p}) ORDER BY ORDINAL_POSITION"
    ):
        layer, family = names[db]
        if constraint == "PRIMARY":
            pks.setdefault((layer, family, table), []).append(col)
        elif ref_table is not None:
            ref_layer, ref_family = names.get(ref_db, ("elsewhere", ref_db))
            fks.setdefault((layer, family, table), {})[col] = (
                ref_layer,
                ref_family,
                ref_table,
                ref_col,
            )
    return dict(columns=columns, pks=pks, fks=fks, extra=extra)


def test_every_table_exists_and_nothing_else(catalog):
    new_expected = {("new", f, t) for f, t in NEW}
    shadow_expected = {("shadow", f, t) for f, t in SHADOW} | {
        ("shadow", f, t) for f, t in SHADOW_PARTS
    }
    assert len(new_expected) == 23 and len(shadow_expected) == 22
    assert set(catalog["columns"]) == new_expected | shadow_expected
    # The static registry names the same 45 tables.
    assert {(layer, name) for (layer, _f, _c), name in TABLE_NAMES.items()} == {
        (layer, t) for layer, _f, t in new_expected | shadow_expected
    }


@pytest.mark.parametrize("family,table", sorted(NEW))
def test_new_table_columns_keys_and_foreign_keys(catalog, family, table):
    spec = NEW[(family, table)]
    key = ("new", family, table)
    expected = {
        name: (_strip_int_width(t) if name in spec["fk"] else t, nullable, default)
        for name, t, nullable, default in spec["cols"]
    }
    actual = {
        name: (_strip_int_width(t) if name in spec["fk"] else t, nullable, default)
        for name, (t, nullable, default) in catalog["columns"][key].items()
    }
    assert actual == expected
    assert catalog["pks"][key] == spec["pk"]
    assert catalog["fks"].get(key, {}) == {
        col: ("new", *target) for col, target in spec["fk"].items()
    }
    auto = {col for col, extra in catalog["extra"][key].items() if "auto_increment" in extra}
    assert auto == ({spec["auto_increment"]} if "auto_increment" in spec else set())
    assert len(actual) == COUNTS_6_3[table][0]


@pytest.mark.parametrize("family,table", sorted(SHADOW))
def test_shadow_is_keyed_by_renamed_legacy_key_and_carries_every_new_column(catalog, family, table):
    new_table, legacy_pk = SHADOW[(family, table)]
    key = ("shadow", family, table)
    actual = catalog["columns"][key]
    assert catalog["pks"][key] == [name for name, _ in legacy_pk]
    assert {name: actual[name][0] for name, _ in legacy_pk} == dict(legacy_pk)
    pk_names = {name for name, _ in legacy_pk}
    new_spec = NEW[(family, new_table)]
    secondary = {
        name: (_strip_int_width(t), nullable, default)
        for name, t, nullable, default in new_spec["cols"]
        if name not in pk_names
    }
    assert {
        name: (_strip_int_width(t), nullable, default)
        for name, (t, nullable, default) in actual.items()
        if name not in pk_names
    } == secondary
    assert len(actual) == COUNTS_6_3[new_table][1]
    assert key not in catalog["fks"], "shadow tables have no foreign keys"


@pytest.mark.parametrize("family,table", sorted(SHADOW_PARTS))
def test_shadow_parts_have_their_own_key_and_no_master_reference(catalog, family, table):
    key = ("shadow", family, table)
    expected = SHADOW_PARTS[(family, table)]
    assert catalog["pks"][key] == [name for name, _ in expected]
    assert {n: (t, False, None) for n, t in expected} == catalog["columns"][key]
    assert key not in catalog["fks"]


def test_no_shadow_table_has_any_foreign_key(catalog):
    assert [key for key in catalog["fks"] if key[0] == "shadow"] == []


def test_activation_api(activated, dj_connection):
    assert activate(dj_connection, activated.new_prefix, activated.shadow_prefix) == activated
    with pytest.raises(SchemaActivationError, match="already activated"):
        activate(dj_connection, "other_new_", "other_shadow_")
    water = activated.new("action", "Water")
    assert water.full_table_name == f"`{activated.new_prefix}action`.`water`"
    contact = activated.shadow("subject", "Rats.Contact")
    assert contact.full_table_name == f"`{activated.shadow_prefix}subject`.`__rats__contact`"
    assert activated.full_table_name("shadow", "subject", "Rats.Contact") == (
        contact.full_table_name
    )
    assert activated.schema_names()["shadow"]["lab"] == f"{activated.shadow_prefix}lab"
    with pytest.raises(KeyError):
        activated.new("action", "NoSuchTable")


def test_behavior_event_is_computed_from_parsed_events_without_make(activated):
    event = activated.new("acquisition", "BehaviorEvent")
    assert event.table_name == "__behavior_event"
    assert "make" not in vars(event), "the migration engine fills it; no make by design"
    assert event().key_source.primary_key == ["sessid"]
    assert (
        event().key_source.make_sql()
        == activated.new("acquisition", "ParsedEvents")().proj().make_sql()
    )


def test_shadow_to_new_copy_by_column_name_works(activated):
    """The reason shadows exist: a plain INSERT ... SELECT from shadow to new (spec §1.2)."""
    contacts = activated.shadow("lab", "Contacts")
    contacts.insert1(
        dict(contacts_old_id=12, user_id="abc", experimenter="Ann", tech_shifts=""),
        allow_direct_insert=True,
    )
    new_contacts = activated.new("lab", "Contacts")
    new_contacts.insert(contacts - new_contacts.proj())  # one INSERT ... SELECT, by name
    assert new_contacts.fetch1("user_id", "contacts_old_id") == ("abc", 12)


def test_other_prefixes_can_be_activated_once_the_first_schemas_are_gone(
    activated, dj_connection, prefix_factory
):
    """Tests drop their schemas between activations; the classes then rebind (spec: one pair of
    prefixes per process at a time). Restores the module's activation at the end."""
    first = (activated.new_prefix, activated.shadow_prefix)
    other = prefix_factory()
    drop_schemas(dj_connection, *first)
    try:
        tables = activate(dj_connection, other + "new_", other + "shadow_")
        rats = tables.new("subject", "Rats")
        assert rats.full_table_name == f"`{other}new_subject`.`rats`"
        assert len(rats()) == 0
        assert tables.shadow("lab", "Contacts").database == f"{other}shadow_lab"
    finally:
        drop_schemas(dj_connection, other + "new_", other + "shadow_")
        assert activate(dj_connection, *first) == activated


def test_static_names_need_no_database():
    assert len(TABLE_NAMES) == 45
    assert TABLE_NAMES[("new", "acquisition", "BehaviorEvent")] == "__behavior_event"
    assert TABLE_NAMES[("new", "subject", "RatHistory.Contact")] == "rat_history__contact"
    assert TABLE_NAMES[("shadow", "subject", "RatHistory.Contact")] == "__rat_history__contact"
    shadow = [name for (layer, _f, _c), name in TABLE_NAMES.items() if layer == "shadow"]
    assert all(name.startswith("__") for name in shadow)
