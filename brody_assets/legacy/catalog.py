"""The legacy tables that feed the migration (spec §2.0): where they are, their keys, their dates.

This is lab knowledge, not demo data: the 19 tables of ``bdata`` and ``ratinfo`` that the old cron
copied. ``protocol`` is never migrated. Schema names here are without the site prefix; the
configured ``legacy.schema_prefix`` is added when a table is addressed (spec §1.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LegacyTable:
    """One legacy source table."""

    schema: str
    name: str
    primary_key: tuple[str, ...]
    date_column: str | None
    description: str

    @property
    def asset_path(self) -> list[str]:
        return ["legacy", self.schema, self.name]

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    def qualified(self, schema_prefix: str = "") -> str:
        return f"`{schema_prefix}{self.schema}`.`{self.name}`"


LEGACY_TABLES: tuple[LegacyTable, ...] = (
    LegacyTable("ratinfo", "contacts", ("contactid",), None, "Lab members: experimenters, technicians, their emails and initials."),
    LegacyTable("ratinfo", "riginfo", ("rigid",), None, "Behaviour rigs: id, host name, network addresses."),
    LegacyTable("ratinfo", "training_room", ("tower",), None, "Which rigs sit in which tower of the training room."),
    LegacyTable("ratinfo", "rigflush", ("id",), "dateval", "Daily record of whether each rig's water lines were flushed."),
    LegacyTable("ratinfo", "rigfood", ("rigfoodid",), "datetime", "Food given on a rig."),
    LegacyTable("ratinfo", "rig_maintenance", ("maintenance_id",), "broke_date", "Rig breakdowns and repairs."),
    LegacyTable("ratinfo", "tech_schedule", ("scheduleid",), "date", "Which technicians work each shift of each day."),
    LegacyTable("ratinfo", "technotes", ("technoteid",), "datestr", "Technicians' notes about rats, rigs and sessions."),
    LegacyTable("ratinfo", "schedule", ("schedentryid",), "date", "Which rat trains on which rig in which time slot each day."),
    LegacyTable("bdata", "calibration_info_tbl", ("calibrationid",), "dateval", "Water-valve calibrations of each rig."),
    LegacyTable("ratinfo", "rats", ("internalID",), "deliverydate", "Every rat: name, owner, water regime, status."),
    LegacyTable("ratinfo", "rat_history", ("internalID",), "logtime", "Audit log of every change to a rat (written by triggers on rats)."),
    LegacyTable("ratinfo", "mass", ("weighing",), "date", "Daily weighings of each rat."),
    LegacyTable("ratinfo", "rigwater", ("id",), "dateval", "Water each rat earned on the rig per day."),
    LegacyTable("ratinfo", "surgery", ("id",), "date", "Surgeries: implants, coordinates, drugs."),
    LegacyTable("ratinfo", "water", ("watering",), "date", "Water administered to each rat outside the rig."),
    LegacyTable("bdata", "sess_started", ("sessid",), "sessiondate", "A row per behaviour session as it starts on a rig."),
    LegacyTable("bdata", "sessions", ("sessid",), "sessiondate", "Behaviour sessions: rat, experimenter, rig, protocol, performance, settings."),
    LegacyTable("bdata", "parsed_events", ("sessid",), None, "Per-session parsed state-machine events (MATLAB mYm blobs)."),
)

LEGACY_SCHEMAS = ("bdata", "ratinfo", "protocol")


def legacy_table(schema: str, name: str) -> LegacyTable:
    for table in LEGACY_TABLES:
        if (table.schema, table.name) == (schema, name):
            return table
    raise KeyError(f"{schema}.{name} is not a legacy table the migration reads")
