"""The integrity runner on the real MariaDB: every expectation kind with known violations.

Tiny hand-made tables under a fresh prefix, read through the deployment's own accounts (the
pipeline account reads the legacy schemas and owns the new ones), so counts, percents and the
failing-row tables are exact.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from datetime import date

import pytest

from brody_assets.db import bootstrap
from brody_assets.integrity.declarations import (
    DeclarationError,
    declarations_from_dicts,
    load_declarations,
    render_sql,
)
from brody_assets.integrity.runner import run_checks
from brody_assets_tests.conftest import make_settings

TODAY = date(2026, 11, 26)

MASS_ROWS = [
    (1, "R001", "JH", "2020-01-01", 300),
    (2, "R001", "JH", "2020-01-02", 301),
    (3, "R002", None, "2020-01-02", 250),  # tech NULL
    (4, "R002", "XX", "0000-00-00", 251),  # zero date, unknown initials
    (5, "R003", "XX", "2020-01-03", None),  # unknown initials; duplicate (R003, 2020-01-03)
    (6, "R003", "JH", "2020-01-03", 260),  # duplicate (R003, 2020-01-03)
    (7, "R004", "EB", "2031-05-05", 270),  # future date; EB matches two contacts
    (8, "R004", "JH", "2020-01-05", 280),
]


@pytest.fixture
def db(mariadb_server, admin_conn, unique_prefix):
    """A legacy ratinfo.mass/contacts, a new action.mass, and a quarantine ledger."""
    settings = make_settings(mariadb_server, unique_prefix)
    bootstrap(admin_conn, settings)
    legacy = settings.legacy_schema("ratinfo")
    new = f"{settings.new_prefix}action"
    migration = f"{settings.new_prefix}migration"
    with admin_conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{legacy}`.mass (weighing INT PRIMARY KEY, ratname VARCHAR(8), "
            "tech VARCHAR(4), date DATE, mass INT)"
        )
        cur.executemany(f"INSERT INTO `{legacy}`.mass VALUES (%s,%s,%s,%s,%s)", MASS_ROWS)
        cur.execute(
            f"CREATE TABLE `{legacy}`.contacts (contact_id INT PRIMARY KEY, initials VARCHAR(4), "
            "experimenter VARCHAR(32))"
        )
        cur.executemany(
            f"INSERT INTO `{legacy}`.contacts VALUES (%s,%s,%s)",
            [(1, "JH", "Jane"), (2, "EB", "Ed"), (3, "eb", "Eve")],
        )
        cur.execute(f"CREATE DATABASE `{new}`")
        cur.execute(f"CREATE TABLE `{new}`.mass (weighing INT PRIMARY KEY, mass INT)")
        cur.executemany(
            f"INSERT INTO `{new}`.mass VALUES (%s,%s)",
            [(1, 300), (2, 301), (3, 250), (6, 260), (8, 280)],
        )
        cur.execute(f"CREATE DATABASE `{migration}`")
        cur.execute(
            f"CREATE TABLE `{migration}`.quarantine (table_name VARCHAR(64), legacy_key TEXT, "
            "reason VARCHAR(64), detail TEXT, problem VARCHAR(64), run_id VARCHAR(64), "
            "first_seen DATETIME, last_seen DATETIME)"
        )
        cur.executemany(
            f"INSERT INTO `{migration}`.quarantine (table_name, legacy_key, reason) VALUES (%s,%s,%s)",
            [("mass", '{"weighing": 4}', "zero_date"), ("mass", '{"weighing": 5}', "unknown_tech")],
        )
    return settings


def declare(*raws):
    base = {
        "asset": "legacy/ratinfo/mass",
        "table": "{legacy.ratinfo}.mass",
        "key_columns": ["weighing"],
    }
    return declarations_from_dicts([{**base, **raw} for raw in raws])


def one(settings, raw):
    [outcome] = run_checks(settings, declare(raw), today=TODAY)
    return outcome


TECH_SQL = """
SELECT m.weighing, m.ratname, m.tech, COUNT(c.contact_id) AS matching_contacts
FROM {batch} AS m
LEFT JOIN {legacy.ratinfo}.contacts AS c ON UPPER(c.initials) = UPPER(m.tech)
WHERE m.tech IS NOT NULL
GROUP BY m.weighing, m.ratname, m.tech
HAVING COUNT(c.contact_id) <> 1
"""


def test_unexpected_rows_counts_and_samples(db):
    outcome = one(
        db,
        {
            "name": "mass_tech_resolves_to_one_contact",
            "spec": "27",
            "severity": "WARN",
            "expectations": [{"kind": "unexpected_rows", "sql": TECH_SQL, "order_by": "weighing"}],
        },
    )
    assert not outcome.passed and outcome.error is None
    assert outcome.severity == "WARN"
    assert outcome.unexpected_count == 3 and isinstance(outcome.unexpected_count, int)
    assert outcome.element_count == 8
    assert outcome.unexpected_percent == 37.5
    assert outcome.failing_rows.endswith(
        "| weighing | ratname | tech | matching_contacts |\n"
        "|---|---|---|---|\n"
        "| 4 | R002 | XX | 0 |\n"
        "| 5 | R003 | XX | 0 |\n"
        "| 7 | R004 | EB | 2 |"
    )
    # The SQL shown to people is the one the server ran, schemas filled in.
    assert f"`{db.legacy_schema('ratinfo')}`.contacts" in outcome.sql


def test_unexpected_rows_sample_is_bounded_but_count_is_not(db):
    outcome = run_checks(
        db,
        declare(
            {
                "name": "all_rows",
                "expectations": [
                    {"kind": "unexpected_rows", "sql": "SELECT b.weighing FROM {batch} AS b"}
                ],
            }
        ),
        sample_rows=3,
    )[0]
    assert outcome.unexpected_count == 8
    assert outcome.unexpected_percent == 100.0
    assert len(outcome.expectations[0].rows) == 3
    assert "8 unexpected, 3 shown" in outcome.failing_rows


def test_not_null(db):
    outcome = one(
        db, {"name": "mass_tech_present", "expectations": [{"kind": "not_null", "column": "tech"}]}
    )
    assert (outcome.passed, outcome.unexpected_count, outcome.unexpected_percent) == (
        False,
        1,
        12.5,
    )
    assert outcome.failing_rows.endswith("| weighing | tech |\n|---|---|\n| 3 | NULL |")


def test_values_between_dates_in_a_sane_range(db):
    outcome = one(
        db,
        {
            "name": "mass_date_valid",
            "expectations": [
                {"kind": "values_between", "column": "date", "min": "1990-01-01", "max": "today"}
            ],
        },
    )
    assert (outcome.unexpected_count, outcome.unexpected_percent) == (2, 25.0)
    assert "| 4 | 0000-00-00 |" in outcome.failing_rows
    assert "| 7 | 2031-05-05 |" in outcome.failing_rows


def test_unique_compound(db):
    outcome = one(
        db,
        {
            "name": "mass_key_unique",
            "expectations": [{"kind": "unique", "columns": ["ratname", "date"]}],
        },
    )
    assert (outcome.unexpected_count, outcome.unexpected_percent) == (2, 25.0)
    assert outcome.failing_rows.endswith(
        "| ratname | date | rows |\n|---|---|---|\n| R003 | 2020-01-03 | 2 |"
    )


def test_unique_single_column_passes(db):
    outcome = one(
        db,
        {"name": "mass_pk_unique", "expectations": [{"kind": "unique", "columns": ["weighing"]}]},
    )
    assert outcome.passed and outcome.unexpected_count == 0 and outcome.failing_rows == ""


def test_in_set(db):
    outcome = one(
        db,
        {
            "name": "mass_tech_known",
            "expectations": [{"kind": "in_set", "column": "tech", "values": ["JH", "EB"]}],
        },
    )
    assert (outcome.unexpected_count, outcome.unexpected_percent) == (2, 25.0)
    assert "| 4 | XX |" in outcome.failing_rows and "| 5 | XX |" in outcome.failing_rows


def test_row_count_equal_query_reconciles_legacy_with_migrated_plus_quarantined(db):
    raw = {
        "name": "mass_reconciled",
        "expectations": [
            {
                "kind": "row_count_equal_query",
                "sql": "SELECT (SELECT COUNT(*) FROM {new.action}.mass) + "
                "(SELECT COUNT(*) FROM {migration}.quarantine WHERE table_name = 'mass')",
            }
        ],
    }
    outcome = one(db, raw)
    assert (outcome.passed, outcome.unexpected_count, outcome.unexpected_percent) == (
        False,
        1,
        12.5,
    )
    assert outcome.failing_rows.endswith(
        "| actual_rows | expected_rows | difference |\n|---|---|---|\n| 8 | 7 | 1 |"
    )


LOST_SQL = """
SELECT l.weighing, l.ratname, l.date FROM {batch} AS l
LEFT JOIN {new.action}.mass AS n ON n.weighing = l.weighing
LEFT JOIN {migration}.quarantine AS q
  ON q.table_name = 'mass' AND JSON_VALUE(q.legacy_key, '$.weighing') = l.weighing
WHERE n.weighing IS NULL AND q.table_name IS NULL
"""
QUARANTINED_SQL = """
SELECT JSON_VALUE(q.legacy_key, '$.weighing') AS weighing, q.reason
FROM {migration}.quarantine AS q WHERE q.table_name = 'mass'
"""


def src_to_new():
    return {
        "name": "mass_src_to_new",
        "expectations": [
            {
                "kind": "unexpected_rows",
                "sql": LOST_SQL,
                "severity": "ERROR",
                "order_by": "weighing",
                "description": "legacy rows neither migrated nor quarantined",
            },
            {
                "kind": "unexpected_rows",
                "sql": QUARANTINED_SQL,
                "severity": "WARN",
                "order_by": "weighing",
                "description": "legacy rows in quarantine",
            },
        ],
    }


def test_lost_rows_fail_with_error_quarantined_rows_with_warn(db, admin_conn):
    outcome = one(db, src_to_new())
    assert not outcome.passed and outcome.severity == "ERROR"
    lost, quarantined = outcome.expectations
    assert (lost.unexpected_count, [r["weighing"] for r in lost.rows]) == (1, [7])
    assert (quarantined.unexpected_count, [r["reason"] for r in quarantined.rows]) == (
        2,
        ["zero_date", "unknown_tech"],
    )
    with admin_conn.cursor() as cur:
        cur.execute(f"INSERT INTO `{db.new_prefix}action`.mass VALUES (7, 270)")
    outcome = one(db, src_to_new())
    assert not outcome.passed and outcome.severity == "WARN" and outcome.unexpected_count == 2


def test_clean_table_passes_every_kind(db):
    outcome = run_checks(
        db,
        declarations_from_dicts(
            [
                {
                    "name": "contacts_clean",
                    "asset": "legacy/ratinfo/contacts",
                    "table": "{legacy.ratinfo}.contacts",
                    "key_columns": ["contact_id"],
                    "expectations": [
                        {"kind": "unique", "columns": ["contact_id"]},
                        {"kind": "unique", "columns": ["contact_id", "initials"]},
                        {"kind": "not_null", "column": "initials"},
                        {"kind": "values_between", "column": "contact_id", "min": 1, "max": 100},
                        {"kind": "in_set", "column": "initials", "values": ["JH", "EB", "eb"]},
                        {"kind": "row_count_equal_query", "sql": "SELECT 3"},
                        {
                            "kind": "unexpected_rows",
                            "sql": "SELECT c.* FROM {batch} AS c WHERE c.initials = ''",
                        },
                    ],
                }
            ]
        ),
    )[0]
    assert outcome.passed, outcome.failing_rows or outcome.error
    assert (outcome.unexpected_count, outcome.unexpected_percent, outcome.element_count) == (
        0,
        0.0,
        3,
    )
    assert outcome.error is None and outcome.failing_rows == ""


def test_an_erroring_check_fails_with_the_server_error_and_spares_its_neighbours(db):
    declarations = declare(
        {"name": "mass_tech_present", "expectations": [{"kind": "not_null", "column": "tech"}]},
        {
            "name": "bad_sql",
            "expectations": [
                {"kind": "unexpected_rows", "sql": "SELECT b.nosuch FROM {batch} AS b"}
            ],
        },
        {"name": "bad_column", "expectations": [{"kind": "not_null", "column": "nosuch"}]},
        {"name": "mass_pk_unique", "expectations": [{"kind": "unique", "columns": ["weighing"]}]},
        {
            "name": "missing_table",
            "asset": "legacy/ratinfo/rats",
            "table": "{legacy.ratinfo}.rats",
            "expectations": [{"kind": "not_null", "column": "ratname"}],
        },
    )
    outcomes = {o.name: o for o in run_checks(db, declarations)}
    assert [o.name for o in run_checks(db, declarations, selected=["bad_sql"])] == ["bad_sql"]
    assert (
        outcomes["mass_tech_present"].passed,
        outcomes["mass_tech_present"].unexpected_count,
    ) == (False, 1)
    assert outcomes["mass_pk_unique"].passed
    for name, text in [
        ("bad_sql", "Unknown column 'b.nosuch'"),
        ("bad_column", 'The column "nosuch"'),
        ("missing_table", f"Table '{db.legacy_schema('ratinfo')}.rats' doesn't exist"),
    ]:
        outcome = outcomes[name]
        assert not outcome.passed and outcome.error and text in outcome.error, (name, outcome.error)
        assert "error:" in outcome.failing_rows
        assert db.database.password.reveal() not in outcome.error
        assert "sqlalche.me" not in outcome.error


def test_legacy_connection_uses_the_read_only_account(db):
    [outcome] = run_checks(
        db,
        declare(
            {
                "name": "via_legacy",
                "connection": "legacy",
                "expectations": [{"kind": "not_null", "column": "tech"}],
            }
        ),
    )
    assert outcome.unexpected_count == 1 and outcome.error is None


@pytest.mark.slow
def test_memory_stays_flat_on_200k_rows(db, admin_conn):
    """Eight checks on 200k rows with ~45k violations: counted on the server, 20 rows fetched."""
    table = f"`{db.legacy_schema('ratinfo')}`.big"
    with admin_conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (weighing INT PRIMARY KEY, ratname VARCHAR(8), tech VARCHAR(4), "
            "date DATE, mass INT)"
        )
        cur.execute(
            f"INSERT INTO {table} SELECT seq, CONCAT('R', LPAD(seq % 500, 3, '0')), "
            "IF(seq % 10 = 0, NULL, IF(seq % 7 = 0, 'XX', 'JH')), "
            "IF(seq % 1000 = 0, '0000-00-00', DATE_ADD('2010-01-01', INTERVAL seq DIV 500 DAY)), "
            f"seq % 400 FROM `{db.legacy_schema('ratinfo')}`.seq_1_to_200000"
        )
    base = {
        "asset": "legacy/ratinfo/big",
        "table": "{legacy.ratinfo}.big",
        "key_columns": ["weighing"],
    }
    kinds = [
        {"kind": "not_null", "column": "tech"},
        {"kind": "values_between", "column": "date", "min": "1990-01-01", "max": "today"},
        {"kind": "unique", "columns": ["ratname", "date"]},
        {"kind": "in_set", "column": "tech", "values": ["JH"]},
        {
            "kind": "unexpected_rows",
            "sql": "SELECT b.weighing, b.tech FROM {batch} AS b WHERE b.tech = 'XX'",
        },
        {"kind": "row_count_equal_query", "sql": "SELECT 200000"},
        {"kind": "unique", "columns": ["weighing"]},
        {"kind": "not_null", "column": "ratname"},
    ]
    declarations = declarations_from_dicts(
        [{**base, "name": f"big_{i}", "expectations": [k]} for i, k in enumerate(kinds)]
    )
    run_checks(db, declarations[:1])  # GX imported and warmed outside the measurement
    tracemalloc.start()
    try:
        outcomes = run_checks(db, declarations, today=TODAY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    counts = [o.unexpected_count for o in outcomes]
    assert counts == [20000, 200, 200, 25714, 25714, 0, 0, 0]
    assert all(o.error is None for o in outcomes)
    # 200k rows of this table are ~10 MB as Python tuples; a fetch of the 45k bad ones ~4 MB.
    print(f"peak {peak / 1e6:.2f} MB")
    assert peak < 5_000_000, f"peak {peak / 1e6:.1f} MB"


def test_importing_the_dagster_factory_does_not_import_great_expectations():
    code = (
        "import sys, brody_assets.integrity.checks, brody_assets.integrity.report, "
        "brody_assets.definitions; "
        "bad = [m for m in ('great_expectations', 'pandas') if m in sys.modules]; "
        "assert 'great_expectations' not in bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- declarations ----------------------------------------------------------------------------


def test_placeholders_are_filled_from_settings(mariadb_server):
    settings = make_settings(
        mariadb_server, "lab_", new_prefix="bl_new_", shadow_prefix="bl_shadow_"
    )
    sql = "SELECT * FROM {legacy.ratinfo}.mass m JOIN {new.action}.mass n JOIN {shadow.action}.mass s JOIN {migration}.quarantine q WHERE '{{x}}' <> '' AND {batch}"
    assert render_sql(sql, settings) == (
        "SELECT * FROM `lab_ratinfo`.mass m JOIN `bl_new_action`.mass n JOIN `bl_shadow_action`.mass s "
        "JOIN `bl_new_migration`.quarantine q WHERE '{{x}}' <> '' AND {batch}"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"expectations": [{"kind": "unexpected_rows", "sql": "SELECT {nope.x}"}]},
            "unknown placeholder",
        ),
        ({"expectations": [{"kind": "unexpected_rows", "sql": "SELECT '{'"}]}, "unpaired brace"),
        ({"expectations": [{"kind": "not_null"}]}, "needs 'columns'"),
        ({"expectations": [{"kind": "typo", "column": "x"}]}, "kind must be one of"),
        ({"severity": "FATAL", "expectations": [{"kind": "not_null", "column": "x"}]}, "severity"),
        ({"table": None, "expectations": [{"kind": "not_null", "column": "x"}]}, "exactly one of"),
        ({"colour": "red", "expectations": [{"kind": "not_null", "column": "x"}]}, "unknown field"),
    ],
)
def test_bad_declarations_are_refused_with_a_reason(raw, message):
    with pytest.raises(DeclarationError, match=message):
        declare({"name": "x", **raw})


def test_yaml_declarations_load_and_duplicates_are_refused(tmp_path):
    text = """
checks:
  - name: mass_date_valid
    asset: legacy/ratinfo/mass
    spec: "28"
    severity: WARN
    table: "{legacy.ratinfo}.mass"
    key_columns: [weighing]
    expectations:
      - kind: unexpected_rows
        sql: |
          SELECT m.weighing, m.date FROM {batch} AS m WHERE m.date = '0000-00-00'
"""
    (tmp_path / "a.yaml").write_text(text)
    [declaration] = load_declarations(tmp_path)
    assert declaration.asset == ("legacy", "ratinfo", "mass") and declaration.spec == "28"
    assert declaration.severity == "WARN" and not declaration.blocking
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(DeclarationError, match="declared twice"):
        load_declarations(tmp_path)
