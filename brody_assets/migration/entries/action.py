"""Action family (spec §2.7-2.10, §2.13-2.16): schedules, notes, calibrations, husbandry."""

from __future__ import annotations

from brody_assets.migration.registry import Reject

from .common import keyed, rat_parent, rig_parent, same
from .rules import (
    by_initials,
    dj_string_blob,
    int_parses,
    invalid_date,
    null_rule,
    range_rule,
    too_long_rule,
    unique_netid,
    zero_date_rule,
)

TECH_SCHEDULE = keyed(
    "action.tech_schedule", "TechSchedule", "ratinfo.tech_schedule", ("scheduleid", "scheduleid", "scheduleid"),
    {**same("scheduleid", "day", "overnight", "morning", "evening"), "techschedule_date": "l.`date`"},
    rejects=(zero_date_rule("date"),),
    date_column="date",
    description="Technician rota per day.",
)

TECHNOTES = keyed(
    "action.technotes", "Technotes", "ratinfo.technotes", ("technoteid", "technote_id", "technote_id"),
    {
        "technote_id": "l.`technoteid`",
        "technote_datetime": "TIMESTAMP(l.`datestr`, l.`timestr`)",
        "technician": "l.`techinitials`",
        "technote_rat": "l.`ratname`",
        "technote_rig": "l.`rigid`",
        "technote_experimenter": "l.`experimenter`",
        "timeslot": "l.`timeslot`",
        "technotes_note": "l.`note`",
        "flag": "l.`flag`",
    },
    rejects=(
        null_rule("datestr", 15, "no technote_datetime"),
        null_rule("timestr", 15, "no technote_datetime"),
        zero_date_rule("datestr"),
        too_long_rule("note", 800, "technotes_note varchar(800)"),
        too_long_rule("experimenter", 32, "technote_experimenter varchar(32)"),
        range_rule("timeslot", -128, 127, "timeslot tinyint(1)"),
    ),
    date_column="datestr",
    description="Technicians' notes; rat, rig and experimenter stay plain text.",
)

SCHEDULE = keyed(
    "action.schedule", "Schedule", "ratinfo.schedule", ("schedentryid", "schedule_id", "schedule_id"),
    {
        "schedule_id": "l.`schedentryid`",
        **same("ratname", "experimenter", "rig", "instructions"),
        "schedule_date": "l.`date`",
        "schedule_timeslot": "l.`timeslot`",
        "schedule_comments": "l.`comments`",
    },
    rejects=(zero_date_rule("date"), range_rule("timeslot", -128, 127, "schedule_timeslot tinyint")),
    date_column="date",
    description="Which rat trains on which rig in which slot.",
)

CALIBRATION = keyed(
    "action.calibration_info_tbl", "CalibrationInfoTbl", "bdata.calibration_info_tbl",
    ("calibrationid", "calibration_info_tbl_id", "calibration_info_tbl_id"),
    {
        "calibration_info_tbl_id": "l.`calibrationid`",
        "rigid": "CAST(TRIM(l.`rig_id`) AS SIGNED)",
        "calibration_datetime": "l.`dateval`",
        "open_valve_time": "l.`timeval`",
        "calibration_person": "l.`initials`",
        **same("valve", "dispense", "isvalid", "target"),
    },
    rejects=(
        Reject("unparsable_rig", f"NOT {int_parses('l.`rig_id`')}",
               "CONCAT('rig_id ', IFNULL(QUOTE(l.`rig_id`), 'NULL'), ' is not an integer')", 8),
        zero_date_rule("dateval", 17),
    ),
    parents=(rig_parent("rigid"),),
    date_column="dateval",
    description="Water-valve calibrations per rig.",
)

MASS = keyed(
    "action.mass", "Mass", "ratinfo.mass", ("weighing", "mass_id", "mass_id"),
    {
        "mass_id": "l.`weighing`",
        "ratname": "l.`ratname`",
        "weigh_person": unique_netid("ci"),
        "weighing_datetime": "TIMESTAMP(l.`date`, l.`timeval`)",
        "mass": "l.`mass`",
    },
    joins=(by_initials("ci", "l.`tech`"),),
    rejects=(
        zero_date_rule("date"),
        Reject("ambiguous_contact", "ci.n > 1",
               "CONCAT('tech ', QUOTE(l.`tech`), ' matches ', ci.n, ' contacts by initials')", 4),
        Reject("unresolved_contact", "ci.n IS NULL OR ci.no_email > 0",
               "CONCAT('tech ', IFNULL(QUOTE(l.`tech`), 'NULL'), IF(ci.n IS NULL, ' matches no contact by initials', "
               "' matches a contact without email'))", 4),
        range_rule("mass", -32768, 32767, "mass smallint(5)"),
    ),
    parents=(rat_parent(),),
    date_column="date",
    lookups=("ratinfo.contacts",),
    description="Rat weighings; the technician's initials become a netID.",
)

RIGWATER = keyed(
    "action.rigwater", "Rigwater", "ratinfo.rigwater", ("id", "rigwater_id", "rigwater_id"),
    {
        "rigwater_id": "l.`id`",
        "ratname": "l.`ratname`",
        "earnedwater_datetime": "CAST(l.`dateval` AS DATETIME)",
        **same("totalvol", "trialvol", "complete", "n_rewarded_trials", "target_percent"),
    },
    rejects=(zero_date_rule("dateval", 16), range_rule("complete", -128, 127, "complete tinyint(3)")),
    parents=(rat_parent(),),
    date_column="dateval",
    description="Water earned on the rig per day.",
)

SURGERY = keyed(
    "action.surgery", "Surgery", "ratinfo.surgery", ("id", "surgery_old_id", "surgery_old_id"),
    {
        "surgery_old_id": "l.`id`",
        "ratname": "l.`ratname`",
        "surgery_date": "l.`date`",
        "surgery_starttime": "l.`starttime`",
        "surgery_stoptime": "l.`endtime`",
        **same("surgeon", "ratgrams", "eib_num", "coordinates", "brainregions", "ketamine", "buprenex", "tilt_axis"),
        "surgery_type": "l.`type`",
        "surgery_notes": "l.`notes`",
        "bregma": dj_string_blob("l.`Bregma`"),
        "ia_zero": dj_string_blob("l.`IA0`"),
        "angle": "COALESCE(l.`angle`, 0)",
    },
    rejects=(
        zero_date_rule("date"),
        null_rule("surgeon", 4, "new surgeon is NOT NULL"),
        too_long_rule("surgeon", 32, "surgeon varchar(32)"),
        too_long_rule("notes", 600, "surgery_notes varchar(600)"),
    ),
    parents=(rat_parent(),),
    date_column="date",
    natural_key=True,
    description="Surgeries, keyed by rat, date and start time.",
)

WATER = keyed(
    "action.water", "Water", "ratinfo.water", ("watering", "water_id", "water_id"),
    {
        "water_id": "l.`watering`",
        "ratname": "l.`rat`",
        "administration_date": "l.`date`",
        "administration_starttime": "l.`starttime`",
        "administration_stoptime": "l.`stoptime`",
        "administration_person": "l.`tech`",
        **same("volume", "percent_bodymass", "percent_target"),
    },
    rejects=(
        zero_date_rule("date"),
        null_rule("starttime", 18, "administration_starttime is NOT NULL"),
        null_rule("tech", 4, "administration_person is NOT NULL"),
    ),
    parents=(rat_parent("ratname"),),
    date_column="date",
    description="Water given by technicians (initials kept as text).",
)

ACTION_EARLY = (TECH_SCHEDULE, TECHNOTES, SCHEDULE, CALIBRATION)
ACTION_RATS = (MASS, RIGWATER, SURGERY, WATER)
__all__ = ["ACTION_EARLY", "ACTION_RATS", "invalid_date"]
