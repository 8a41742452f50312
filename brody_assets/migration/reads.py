"""Which legacy columns each registry entry reads, and the type family each must have.

The drift check (:mod:`brody_assets.migration.engine.drift`) and ``brody-assets doctor`` compare
these with the legacy server's ``information_schema`` before anything is migrated, so a renamed
or retyped legacy column fails loudly, naming the table and the column, instead of quarantining
every row.

* :func:`legacy_reads` derives an entry's reads from its own SQL: every ``alias.column`` whose
  alias is bound to a legacy table (``{L:ratinfo.water} AS l``, ``{L:ratinfo.contacts} c``), the
  plain column lists of ``SELECT a, b FROM {L:...}`` sub-selects, and what the engine itself reads
  (the legacy key, the window's date column, ``bdata.sess_started`` for session-id windows).
  Nothing is listed by hand, so the list cannot fall behind the SQL; a test runs the whole
  migration on a legacy database cut down to exactly these columns and gets the same result.
* :data:`LEGACY_TYPES` declares, per legacy table, the type family of every column the registry
  reads (lab knowledge from the legacy DDL, spec §2). Tests keep it equal to the derived reads
  and to the lab's DDL. A family accepts any type of the family (``int`` → ``bigint`` is fine,
  ``varchar`` → ``blob`` is not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from brody_assets.migration.registry import MigrationOptions, TableEntry, entries

# Type families: MariaDB's information_schema DATA_TYPE -> family.
FAMILIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "integer": ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"),
        "number": ("float", "double", "decimal", "numeric", "real", "double precision"),
        "text": ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"),
        "datetime": ("date", "datetime", "timestamp"),
        "time": ("time",),
        "blob": ("tinyblob", "blob", "mediumblob", "longblob", "binary", "varbinary"),
    }
)
FAMILY_OF: Mapping[str, str] = MappingProxyType({t: f for f, types in FAMILIES.items() for t in types})
FAMILY_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "integer": "an integer (tinyint … bigint)",
        "number": "a number (float, double or decimal)",
        "text": "text (char, varchar, text or enum)",
        "datetime": "a date (date, datetime or timestamp)",
        "time": "a time",
        "blob": "a blob (blob or binary)",
    }
)


def family(data_type: str) -> str:
    """The family of an information_schema ``DATA_TYPE`` (``"other"`` when none fits)."""
    return FAMILY_OF.get(data_type.lower().strip(), "other")


_I, _N, _T, _D, _H, _B = "integer", "number", "text", "datetime", "time", "blob"

# Per legacy table, the family of every column the registry reads (from the lab's DDL, spec §2).
LEGACY_TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "bdata.calibration_info_tbl": {
            "calibrationid": _I, "rig_id": _T, "dateval": _D, "timeval": _N, "initials": _T, "valve": _T,
            "dispense": _N, "isvalid": _I, "target": _T,
        },
        "bdata.parsed_events": {"sessid": _I, "peh": _B},
        "bdata.sess_started": {
            "sessid": _I, "ratname": _T, "rigid": _I, "hostname": _T, "sessiondate": _D, "starttime": _H,
            "was_ended": _I, "crashed": _I,
        },
        "bdata.sessions": {
            "sessid": _I, "ratname": _T, "experimenter": _T, "hostname": _T, "sessiondate": _D,
            "starttime": _H, "endtime": _H, "comments": _T, "protocol": _T, "n_done_trials": _I,
            "settings_file": _T, "settings_path": _T, "data_file": _T, "data_path": _T, "video_file": _T,
            "video_path": _T, "total_correct": _N, "right_correct": _N, "left_correct": _N,
            "percent_violations": _N, "left_pokes": _I, "center_pokes": _I, "right_pokes": _I,
            "IP_addr": _T, "foodpuck": _I, "protocol_data": _B,
        },
        "ratinfo.contacts": {
            "contactid": _I, "experimenter": _T, "email": _T, "initials": _T, "telephone": _I,
            "tag_letter": _T, "is_alumni": _I, "tech_shifts": _T, "phone_carrier": _T, "lab_manager": _I,
            "subscribe_all": _I, "tech_morning": _I, "tech_afternoon": _I, "tech_computer": _I,
            "tech_overnight": _I, "FullName": _T, "tag_RGB": _T,
        },
        "ratinfo.mass": {"weighing": _I, "ratname": _T, "tech": _T, "date": _D, "timeval": _H, "mass": _I},
        "ratinfo.rat_history": {
            "internalID": _I, "ratname": _T, "experimenter": _T, "logtime": _D, "free": _I, "alert": _I,
            "training": _I, "comments": _T, "waterperday": _I, "recovering": _I, "extant": _I,
            "cagemate": _T, "bringupday": _T, "forceFreeWater": _I, "dateSac": _D, "forceDepWater": _I,
            "bringUpAt": _I, "ignoredByWatermeister": _I, "contact": _T,
        },
        "ratinfo.rats": {
            "internalID": _I, "ratname": _T, "experimenter": _T, "free": _I, "comments": _T, "vendor": _T,
            "waterperday": _I, "recovering": _I, "extant": _I, "cagemate": _T, "larid": _I, "israt": _I,
            "deliverydate": _D, "dateSac": _D, "forceFreeWater": _I, "forceDepWater": _I, "contact": _T,
        },
        "ratinfo.rig_maintenance": {
            "maintenance_id": _I, "rigid": _I, "isbroken": _I, "broke_person": _T, "fix_person": _T,
            "fix_date": _D, "broke_date": _D, "note": _T, "fix_note": _T,
        },
        "ratinfo.rigflush": {"id": _I, "rig": _I, "dateval": _D, "wasflushed": _I},
        "ratinfo.rigfood": {"rigfoodid": _I, "rigid": _I, "datetime": _D},
        "ratinfo.riginfo": {
            "rigid": _I, "ip_addr": _T, "rtfsm_ip": _T, "hostname": _T, "mac_addr": _T, "comptype": _T,
        },
        "ratinfo.rigwater": {
            "id": _I, "ratname": _T, "dateval": _D, "totalvol": _N, "trialvol": _N, "complete": _I,
            "n_rewarded_trials": _I, "target_percent": _N,
        },
        "ratinfo.schedule": {
            "schedentryid": _I, "ratname": _T, "experimenter": _T, "rig": _I, "instructions": _T,
            "date": _D, "timeslot": _I, "comments": _T,
        },
        "ratinfo.surgery": {
            "id": _I, "ratname": _T, "date": _D, "starttime": _H, "endtime": _H, "surgeon": _T,
            "ratgrams": _I, "eib_num": _T, "coordinates": _T, "brainregions": _T, "ketamine": _N,
            "buprenex": _N, "tilt_axis": _T, "type": _T, "notes": _T, "Bregma": _T, "IA0": _T, "angle": _N,
        },
        "ratinfo.tech_schedule": {
            "scheduleid": _I, "day": _T, "overnight": _T, "morning": _T, "evening": _T, "date": _D,
        },
        "ratinfo.technotes": {
            "technoteid": _I, "datestr": _D, "timestr": _H, "techinitials": _T, "ratname": _T, "rigid": _I,
            "experimenter": _T, "timeslot": _I, "note": _T, "flag": _I,
        },
        "ratinfo.training_room": {"tower": _I, "top": _T, "middle": _T, "bottom": _T},
        "ratinfo.water": {
            "watering": _I, "rat": _T, "date": _D, "starttime": _H, "stoptime": _H, "tech": _T,
            "volume": _N, "percent_bodymass": _N, "percent_target": _N,
        },
    }
)

# --- derivation from the entry's SQL ----------------------------------------------------------
_SENTINEL = "LEGACY__"  # legacy prefix used when rendering an entry's SQL for analysis
_BOUND = re.compile(rf"`{_SENTINEL}(\w+)`\.`(\w+)`(?:\s+AS)?\s+(\w+)", re.IGNORECASE)
_REFERENCE = re.compile(r"(?<![\w`.])([A-Za-z_]\w*)\.`?([A-Za-z_]\w*)`?")
_PLAIN_SELECT = re.compile(rf"SELECT\s+([\w`]+(?:\s*,\s*[\w`]+)*)\s+FROM\s+`{_SENTINEL}(\w+)`\.`(\w+)`", re.IGNORECASE)
_TARGETS = re.compile(r"\{[SN](?::[A-Za-z_.]+)?\}")
_NOT_ALIASES = {
    "where", "join", "left", "right", "inner", "outer", "on", "group", "order", "limit", "union",
    "having", "straight_join", "cross", "natural", "using", "for", "lock",
}


def entry_sql(e: TableEntry) -> list[str]:
    """Every piece of SQL of an entry, rendered with a recognisable legacy prefix."""
    from brody_assets.migration.engine.names import Names

    names = Names(_SENTINEL, "NEW__", "SHADOW__")
    shadow = e.shadow_source if e.kind != "computed" else ""  # computed tables have no shadow
    texts = [e.source, shadow, *e.joins, *e.columns.values(), *(m[2] for m in e.match),
             *(r.predicate for r in e.rejects), *(r.detail for r in e.rejects),
             *(p.legacy_id for p in e.parents)]
    # this entry's and other entries' shadow/new tables are not legacy: any name will do (and
    # naming them would import DataJoint, which the read-only doctor must not load)
    texts = [_TARGETS.sub("`TARGET__`.`table`", t) for t in texts if t]
    return [names.render(t, e, MigrationOptions()) for t in texts]


def _bindings(e: TableEntry, texts: Iterable[str]) -> dict[str, str]:
    bound: dict[str, str] = {}
    for text in texts:
        for schema, table, alias in _BOUND.findall(text):
            if alias.lower() in _NOT_ALIASES:
                continue
            name = f"{schema}.{table}"
            if bound.setdefault(alias, name) != name:
                raise ValueError(
                    f"registry entry {e.name}: alias {alias!r} stands for both {bound[alias]} and {name}; "
                    "give each legacy table its own alias so the columns it reads can be derived"
                )
    return bound


def legacy_reads(e: TableEntry) -> dict[str, frozenset[str]]:
    """Per legacy table (``"ratinfo.water"``), the columns entry ``e`` reads."""
    texts = entry_sql(e)
    bound = _bindings(e, texts)
    reads: dict[str, set[str]] = {}
    for text in texts:
        for alias, column in _REFERENCE.findall(text):
            if alias in bound:
                reads.setdefault(bound[alias], set()).add(column)
        for columns, schema, table in _PLAIN_SELECT.findall(text):
            reads.setdefault(f"{schema}.{table}", set()).update(
                c.strip().strip("`") for c in columns.split(",") if c.strip().lower() != "distinct"
            )
    own = reads.setdefault(e.legacy, set())
    own.update(e.legacy_key)
    if e.date_column:
        own.add(e.date_column)
    if e.sessid_chunks:  # the session-id window reads the sessions started in the window
        reads.setdefault("bdata.sess_started", set()).update(("sessid", "sessiondate"))
    return {table: frozenset(cols) for table, cols in sorted(reads.items())}


def all_reads(selected: Iterable[TableEntry] | None = None) -> dict[str, frozenset[str]]:
    """Per legacy table, the columns any of ``selected`` (default: every entry) reads."""
    union: dict[str, set[str]] = {}
    for e in entries() if selected is None else selected:
        for table, cols in legacy_reads(e).items():
            union.setdefault(table, set()).update(cols)
    return {table: frozenset(cols) for table, cols in sorted(union.items())}
