"""Contact lists split into one contact per piece; empty pieces are not contacts (issue 13).

The mapping is run on the real server: the registry's own source SQL of ``Rats.Contact`` and
``RatHistory.Contact``, rendered for a tiny legacy table holding the awkward lists.
"""

from __future__ import annotations

import pytest

from brody_assets.migration.engine.names import Names
from brody_assets.migration.registry import MigrationOptions, entry

LISTS = {
    1: "istone,kerlich,",  # trailing comma
    2: "istone,,kerlich",  # doubled comma
    3: ", istone ,",  # leading and trailing, padded
    4: " , ,",  # only commas and blanks
    5: "",  # blank list
    6: "kerlich",  # one contact
    7: None,  # no list
}
EXPECTED = {
    (1, "istone"), (1, "kerlich"), (2, "istone"), (2, "kerlich"), (3, "istone"), (6, "kerlich"),
}


@pytest.mark.parametrize(
    ("name", "table", "extra_ddl", "extra_value"),
    [
        ("subject.rats__contact", "rats", "ratname VARCHAR(8)", "'R001'"),
        ("subject.rat_history__contact", "rat_history", "logtime DATETIME", "'2024-07-01 10:00:00'"),
    ],
)
def test_empty_pieces_of_a_contact_list_are_dropped(admin_conn, unique_prefix, name, table, extra_ddl, extra_value):
    e = entry(name)
    with admin_conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{unique_prefix}ratinfo`")
        cur.execute(
            f"CREATE TABLE `{unique_prefix}ratinfo`.`{table}` (internalID INT PRIMARY KEY, {extra_ddl}, "
            "contact VARCHAR(60))"
        )
        for key, contact in LISTS.items():
            cur.execute(
                f"INSERT INTO `{unique_prefix}ratinfo`.`{table}` VALUES (%s, {extra_value}, %s)", (key, contact)
            )
        source = Names(unique_prefix, "unused_new_", "unused_shadow_").render(e.source, e, MigrationOptions())
        cur.execute(f"SELECT l.internalID, l.contact FROM {source}")
        rows = {(int(k), c) for k, c in cur.fetchall()}
    assert rows == EXPECTED
    assert all(contact.strip() for _, contact in rows)
