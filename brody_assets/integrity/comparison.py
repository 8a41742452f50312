"""Spec checks 47-51 (the comparison notebook): legacy vs new schemas through information_schema.

The notebook paired legacy and new tables by name, proposed a column mapping that a person
corrected in a spreadsheet, and listed new columns without a source, same-named columns whose
types differ, and legacy tables with no new counterpart. Here the mapping is the migration
registry (which legacy columns each new column is computed from), and the person's corrections
are the reviewed lists below: legacy columns deliberately not migrated, new columns with no legacy
source, and accepted type changes. A check fails when the deployed schemas disagree with them, so
a column added to a legacy table, a new column nobody fills, or a type change nobody reviewed
shows up in the integrity report.

All five checks attach to ``integrity/schemas``, an external asset standing for the legacy and new
schemas as declared.
"""

from __future__ import annotations

import re
from typing import Any

from dagster import AssetKey, AssetSpec

from brody_assets.integrity.declarations import CheckDeclaration, declarations_from_dicts
from brody_assets.integrity.registry_sql import table_name
from brody_assets.migration.registry import TableEntry, entries

SCHEMAS_KEY = AssetKey(["integrity", "schemas"])
SCHEMAS_ASSET = "integrity/schemas"
LEGACY_SCHEMAS = ("ratinfo", "bdata", "protocol")

# Legacy columns the migration deliberately leaves behind (spec §2 per table, §6.3 counts).
NOT_MIGRATED_COLUMNS: dict[str, tuple[str, ...]] = {
    "ratinfo.contacts": ("tag_RGB_old", "custom_rig_order"),
    "ratinfo.riginfo": ("is_linux", "video_server"),
    "ratinfo.schedule": (
        "start_time",
        "protocol",
        "system",
        "technician",
        "wascompleted",
        "wasqueried",
        "wasstarted",
        "wasvideosaved",
        "Trials_Issue",
        "Bias_Issue",
    ),
    "bdata.calibration_info_tbl": ("validity",),
    "ratinfo.rats": (
        "alert",
        "training",
        "massArrival",
        "po",
        "bringUpAt",
        "bringupday",
        "ignoredByWatermeister",
    ),
    "bdata.sess_started": ("technotes",),
    "bdata.sessions": ("brokenbits", "technotes", "crashed"),
}

# New columns no legacy column feeds (spec §2.2, §2.18: never populated upstream either).
NEW_COLUMNS_WITHOUT_SOURCE: dict[str, tuple[str, ...]] = {
    "lab.riginfo": ("rigname",),
    "acquisition.sessions": ("peh", "protocol_data"),
}

# Same-named columns whose type changes on purpose: (legacy type, new type).
ACCEPTED_TYPE_CHANGES: dict[tuple[str, str], tuple[str, str]] = {
    ("lab.contacts", "experimenter"): ("varchar(30)", "varchar(32)"),
    ("lab.contacts", "telephone"): ("bigint(20) unsigned", "bigint(20)"),
    ("lab.contacts", "tech_computer"): ("tinyint(1) unsigned", "tinyint(1)"),
    ("lab.contacts", "tech_overnight"): ("tinyint(1) unsigned zerofill", "tinyint(1)"),
    ("lab.riginfo", "rigid"): ("int(3) unsigned", "int(3)"),
    ("lab.training_room", "tower"): ("int(10) unsigned", "int(10)"),
    ("lab.rigflush", "wasflushed"): ("tinyint(3) unsigned zerofill", "tinyint(3)"),
    ("lab.rigfood", "rigid"): ("tinyint(3) unsigned", "int(11)"),
    ("lab.rig_maintenance", "rigid"): ("int(10) unsigned", "int(11)"),
    ("lab.rig_maintenance", "isbroken"): ("tinyint(3) unsigned", "tinyint(3)"),
    ("action.tech_schedule", "scheduleid"): ("int(10) unsigned", "int(10)"),
    ("action.technotes", "timeslot"): ("tinyint(1) unsigned", "tinyint(1)"),
    ("action.calibration_info_tbl", "dispense"): ("double unsigned", "double"),
    ("subject.rats", "ratname"): ("varchar(4)", "varchar(8)"),
    ("subject.rats", "waterperday"): ("int(11)", "decimal(3,1)"),  # problem 24
    ("subject.rats__contact", "ratname"): ("varchar(4)", "varchar(8)"),
    ("subject.rat_history", "ratname"): ("varchar(4)", "varchar(8)"),
    ("action.mass", "ratname"): ("varchar(4)", "varchar(8)"),
    ("action.mass", "mass"): ("smallint(5) unsigned", "smallint(5)"),
    ("action.rigwater", "ratname"): ("varchar(4)", "varchar(8)"),
    ("action.rigwater", "complete"): ("tinyint(3) unsigned", "tinyint(3)"),
    ("action.rigwater", "n_rewarded_trials"): ("int(5) unsigned", "int(5)"),
    ("action.surgery", "ratname"): ("char(4)", "varchar(8)"),
    ("action.surgery", "surgeon"): ("varchar(40)", "varchar(32)"),  # problem 23
    ("action.surgery", "bregma"): (
        "varchar(20)",
        "tinyblob",
    ),  # legacy Bregma text -> DataJoint blob
    ("acquisition.sess_started", "crashed"): ("tinyint(3) unsigned zerofill", "tinyint(3)"),
    ("acquisition.sessions", "left_pokes"): ("int(10) unsigned", "int(10)"),
    ("acquisition.sessions", "center_pokes"): ("int(10) unsigned", "int(10)"),
    ("acquisition.sessions", "right_pokes"): ("int(10) unsigned", "int(10)"),
    ("acquisition.sessions", "foodpuck"): ("tinyint(1) unsigned", "tinyint(1)"),
}

# Legacy tables that are not migrated (spec §6.1), so their lack of a counterpart is expected.
NOT_MIGRATED_TABLES: dict[str, tuple[str, ...]] = {
    "bdata": (
        "biasview",
        "carlosexperiment",
        "carlosview",
        "cells",
        "channels",
        "events",
        "gcs",
        "gcs_old",
        "jeffsview",
        "labmember",
        "new_calibration_info_tbl",
        "orphaned_sessions",
        "pa_sess",
        "parsed_events_2020",
        "paview",
        "phys_sess",
        "protocol_info",
        "raw_tracking",
        "rig_error_log",
        "sess_list",
        "sessions_2020",
        "sessview",
        "spktimes",
        "spktimes_2019",
        "technician_notes_tbl",
        "tetrodes",
        "tracking",
        "_behavior_event",
        "session_agg_date",
    ),
    "protocol": (
        "ExtendedStimulus",
        "ProAnti2",
        "helper_vars",
        "helper_vars2",
        "lightchasing",
        "pbups",
        "pbups_2020",
        "samedifferent",
        "sounddiscrimination",
        "tempSD",
    ),
    "ratinfo": (
        "cerebro_sessions",
        "eibs",
        "experiment",
        "infusions",
        "pa_opto",
        "phys",
        "rigs",
        "rigtrials",
        "rigvideo",
        "sched_rescue",
        "stim",
        "turn_down_log",
        "video_log",
        "videoinfo",
    ),
}

_REFERENCE = re.compile(r"\b[a-z][a-z0-9]*\.`?([A-Za-z_][A-Za-z0-9_]*)`?")
_LEGACY_COLUMN = re.compile(r"\b[lr]\.`?([A-Za-z_][A-Za-z0-9_]*)`?")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rows(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A literal relation (UNION ALL of SELECTs); values are SQL expressions."""
    selects = [
        "SELECT "
        + ", ".join(f"{v} AS {c}" if i == 0 else v for c, v in zip(columns, row, strict=True))
        if i == 0
        else "SELECT " + ", ".join(row)
        for i, row in enumerate(rows)
    ]
    return "(" + " UNION ALL ".join(selects) + ")"


def _migrated() -> list[TableEntry]:
    return [e for e in entries() if e.kind != "computed"]


def _legacy(e: TableEntry) -> tuple[str, str]:
    schema, table = e.legacy.split(".")
    return f"{{name:legacy.{schema}}}", table


def legacy_columns_used() -> dict[str, set[str]]:
    """Per legacy table, the columns the registry reads (keys, expressions, sources, joins)."""
    used: dict[str, set[str]] = {}
    for e in _migrated():
        text = " ".join([e.source, *e.joins, *e.columns.values(), *(m[2] for m in e.match)])
        cols = used.setdefault(e.legacy, set())
        cols.update(e.legacy_key)
        cols.update(_LEGACY_COLUMN.findall(text))
    return used


def sourced_new_columns(e: TableEntry) -> set[str]:
    """New columns computed from some column (legacy, or a lookup over legacy contacts)."""
    return {c for c, expr in e.columns.items() if _REFERENCE.search(expr)}


def _pairs() -> str:
    rows = []
    for e in _migrated():
        ls, lt = _legacy(e)
        rows.append(
            (_lit(e.name), ls, _lit(lt), f"{{name:new.{e.family}}}", _lit(table_name("new", e)))
        )
    return _rows(("entry", "ls", "lt", "ns", "nt"), rows)


def _exists(schema: str, table: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = {schema} "
        f"AND t.TABLE_NAME = {table})"
    )


def _base(name: str, spec: str, description: str, sql: str) -> dict[str, Any]:
    return {
        "name": name,
        "asset": SCHEMAS_ASSET,
        "spec": spec,
        "severity": "WARN",
        "blocking": False,
        "description": description,
        "query": "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME FROM information_schema.COLUMNS c "
        "WHERE c.TABLE_SCHEMA IN ("
        + ", ".join(f"{{name:legacy.{s}}}" for s in LEGACY_SCHEMAS)
        + ", "
        + ", ".join(f"{{name:new.{f}}}" for f in sorted({e.family for e in entries()}))
        + ")",
        "expectations": [{"kind": "unexpected_rows", "sql": sql}],
        "tags": {"generated": "registry"},
    }


def table_correspondence_by_name() -> dict[str, Any]:
    sql = (
        f"SELECT p.entry, p.lt AS legacy_table, p.nt AS new_table, {_exists('p.ls', 'p.lt')} AS legacy_exists, "
        f"{_exists('p.ns', 'p.nt')} AS new_exists FROM {_pairs()} AS p "
        f"WHERE NOT {_exists('p.ls', 'p.lt')} OR NOT {_exists('p.ns', 'p.nt')}"
    )
    return _base(
        "table_correspondence_by_name",
        "47",
        "Every registry entry pairs an existing legacy table with an existing new table.",
        sql,
    )


def column_name_mapping() -> dict[str, Any]:
    used = legacy_columns_used()
    rows = []
    for legacy, cols in sorted(used.items()):
        schema, table = legacy.split(".")
        for col in sorted(cols):
            rows.append((f"{{name:legacy.{schema}}}", _lit(table), _lit(col), "'migrated'"))
        for col in NOT_MIGRATED_COLUMNS.get(legacy, ()):
            rows.append(
                (f"{{name:legacy.{schema}}}", _lit(table), _lit(col), "'not migrated (reviewed)'")
            )
    mapping = _rows(("ls", "lt", "lc", "mapped_as"), rows)
    tables = _rows(
        ("ls", "lt"),
        [(f"{{name:legacy.{t.split('.')[0]}}}", _lit(t.split(".")[1])) for t in sorted(used)],
    )
    sql = (
        "SELECT c.TABLE_NAME AS legacy_table, c.COLUMN_NAME AS legacy_column, 'not mapped' AS problem "
        f"FROM information_schema.COLUMNS c JOIN {tables} AS t ON t.ls = c.TABLE_SCHEMA AND t.lt = c.TABLE_NAME "
        f"WHERE NOT EXISTS (SELECT 1 FROM {mapping} AS m WHERE m.ls = c.TABLE_SCHEMA AND m.lt = c.TABLE_NAME "
        "AND m.lc = c.COLUMN_NAME) "
        "UNION ALL SELECT m.lt, m.lc, CONCAT('mapping names a missing column (', m.mapped_as, ')') "
        f"FROM {mapping} AS m WHERE NOT EXISTS (SELECT 1 FROM information_schema.COLUMNS c "
        "WHERE c.TABLE_SCHEMA = m.ls AND c.TABLE_NAME = m.lt AND c.COLUMN_NAME = m.lc)"
    )
    return _base(
        "column_name_mapping",
        "48",
        "Every legacy column is read by the registry or reviewed as not migrated.",
        sql,
    )


def new_columns_without_source() -> dict[str, Any]:
    rows = []
    for e in _migrated():
        expected = sourced_new_columns(e) | set(NEW_COLUMNS_WITHOUT_SOURCE.get(e.name, ()))
        for col in sorted(expected):
            rows.append((f"{{name:new.{e.family}}}", _lit(table_name("new", e)), _lit(col)))
    known = _rows(("ns", "nt", "nc"), rows)
    sql = (
        "SELECT p.entry, c.TABLE_NAME AS new_table, c.COLUMN_NAME AS new_column "
        f"FROM information_schema.COLUMNS c JOIN {_pairs()} AS p ON p.ns = c.TABLE_SCHEMA AND p.nt = c.TABLE_NAME "
        f"WHERE NOT EXISTS (SELECT 1 FROM {known} AS k WHERE k.ns = c.TABLE_SCHEMA AND k.nt = c.TABLE_NAME "
        "AND k.nc = c.COLUMN_NAME)"
    )
    return _base(
        "new_columns_without_source",
        "49",
        "New columns are computed from legacy columns, or reviewed as having no source.",
        sql,
    )


def same_name_type_mismatch() -> dict[str, Any]:
    by_name = {e.name: e for e in _migrated()}
    rows = []
    for (name, col), (old, new) in sorted(ACCEPTED_TYPE_CHANGES.items()):
        rows.append((_lit(name), _lit(col), _lit(old), _lit(new)))
        assert name in by_name, name
    accepted = _rows(("entry", "col", "old_type", "new_type"), rows)
    sql = (
        "SELECT p.entry, n.COLUMN_NAME AS column_name, o.COLUMN_TYPE AS legacy_type, n.COLUMN_TYPE AS new_type "
        f"FROM {_pairs()} AS p JOIN information_schema.COLUMNS o ON o.TABLE_SCHEMA = p.ls AND o.TABLE_NAME = p.lt "
        "JOIN information_schema.COLUMNS n ON n.TABLE_SCHEMA = p.ns AND n.TABLE_NAME = p.nt "
        "AND n.COLUMN_NAME = o.COLUMN_NAME "
        f"WHERE o.COLUMN_TYPE <> n.COLUMN_TYPE AND NOT EXISTS (SELECT 1 FROM {accepted} AS a "
        "WHERE a.entry = p.entry AND a.col = n.COLUMN_NAME AND a.old_type = o.COLUMN_TYPE "
        "AND a.new_type = n.COLUMN_TYPE)"
    )
    return _base(
        "same_name_type_mismatch",
        "50",
        "Same-named legacy and new columns have the same type, or the change is reviewed.",
        sql,
    )


def tables_not_copied() -> dict[str, Any]:
    migrated = sorted({e.legacy for e in _migrated()})
    rows = [
        (f"{{name:legacy.{t.split('.')[0]}}}", _lit(t.split(".")[1]), "'migrated'")
        for t in migrated
    ]
    for schema, tables in NOT_MIGRATED_TABLES.items():
        rows.extend(
            (f"{{name:legacy.{schema}}}", _lit(t), "'not migrated (spec 6.1)'") for t in tables
        )
    decided = _rows(("ls", "lt", "decision"), rows)
    schemas = ", ".join(f"{{name:legacy.{s}}}" for s in LEGACY_SCHEMAS)
    sql = (
        "SELECT t.TABLE_SCHEMA AS legacy_schema, t.TABLE_NAME AS legacy_table, 'no decision: neither migrated "
        "nor listed as not migrated' AS problem FROM information_schema.TABLES t "
        f"WHERE t.TABLE_SCHEMA IN ({schemas}) AND NOT EXISTS (SELECT 1 FROM {decided} AS d "
        "WHERE d.ls = t.TABLE_SCHEMA AND d.lt = t.TABLE_NAME) "
        "UNION ALL SELECT p.ls, p.lt, CONCAT('no new counterpart ', p.nt) "
        f"FROM {_pairs()} AS p WHERE NOT {_exists('p.ns', 'p.nt')}"
    )
    return _base(
        "tables_not_copied",
        "51",
        "Every legacy table is migrated (and has its new table) or listed as not migrated.",
        sql,
    )


def comparison_dicts() -> list[dict[str, Any]]:
    return [
        table_correspondence_by_name(),
        column_name_mapping(),
        new_columns_without_source(),
        same_name_type_mismatch(),
        tables_not_copied(),
    ]


def comparison_declarations() -> list[CheckDeclaration]:
    return declarations_from_dicts(comparison_dicts(), source="comparison.py")


schemas_asset = AssetSpec(
    key=SCHEMAS_KEY,
    group_name="integrity",
    kinds={"mariadb"},
    description=(
        "The legacy and new schemas as information_schema describes them (tables, columns, types). "
        "Not materialized: the comparison checks (spec 47-51) run on it and compare them with the "
        "migration registry's mapping."
    ),
)
