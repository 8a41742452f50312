"""Expected new and shadow tables, written by hand from spec §2 (not from the DataJoint code).

Column tuples: (name, MariaDB COLUMN_TYPE, nullable, COLUMN_DEFAULT of a NOT NULL column).
Kept apart from the tests so that other migration tests can reuse the same expectations.
"""

from __future__ import annotations

NO = None  # NOT NULL without default
NUL = "null"  # nullable, default NULL


def c(name: str, type_: str, default=NO) -> tuple[str, str, bool, str | None]:
    if default == NUL:
        return (name, type_, True, None)
    return (name, type_, False, default)


# (family, table): primary key, columns (in any order), foreign keys {column: (family, table, column)}
NEW: dict[tuple[str, str], dict] = {
    ("lab", "contacts"): dict(
        pk=["user_id"],
        cols=[
            c("user_id", "varchar(32)"),
            c("contacts_old_id", "int(11)"),
            c("experimenter", "varchar(32)"),
            c("email", "varchar(150)", NUL),
            c("initials", "varchar(5)", NUL),
            c("telephone", "bigint(20)", NUL),
            c("tag_letter", "varchar(1)", NUL),
            c("lab_manager", "tinyint(1)", "0"),
            c("subscribe_all", "tinyint(1)", "0"),
            c("tech_morning", "tinyint(1)", "0"),
            c("tech_afternoon", "tinyint(1)", "0"),
            c("tech_computer", "tinyint(1)", "0"),
            c("is_alumni", "tinyint(1)", "0"),
            c("full_name", "varchar(60)", NUL),
            c("tech_overnight", "tinyint(1)", "0"),
            c("tag_rgb", "char(12)", NUL),
            c("tech_shifts", "varchar(45)"),
            c("phone_carrier", "varchar(15)", NUL),
        ],
        fk={},
    ),
    ("lab", "riginfo"): dict(
        pk=["rigid"],
        cols=[
            c("rigid", "int(3)"),
            c("rigname", "varchar(32)"),
            c("ip_addr", "char(15)", "''"),
            c("mac_addr", "char(12)", "''"),
            c("rtfsm_ip", "char(15)", NUL),
            c("hostname", "varchar(50)", NUL),
            c("comptype", "char(50)", "''"),
        ],
        fk={},
    ),
    ("lab", "training_room"): dict(
        pk=["tower"],
        cols=[
            c("tower", "int(10)"),
            c("top", "char(50)", NUL),
            c("middle", "char(50)", NUL),
            c("bottom", "char(50)", NUL),
        ],
        fk={},
    ),
    ("lab", "rigflush"): dict(
        pk=["rigid", "rigflush_date"],
        cols=[
            c("rigid", "int(3)"),
            c("rigflush_date", "datetime"),
            c("rigflush_old_id", "int(10)"),
            c("wasflushed", "tinyint(3)"),
        ],
        fk={"rigid": ("lab", "riginfo", "rigid")},
    ),
    ("lab", "rigfood"): dict(
        pk=["rigfood_id"],
        cols=[c("rigfood_id", "int(10)"), c("rigid", "int(3)"), c("rigfood_datetime", "datetime")],
        fk={"rigid": ("lab", "riginfo", "rigid")},
    ),
    ("lab", "rig_maintenance"): dict(
        pk=["rig_maintenance_id"],
        cols=[
            c("rig_maintenance_id", "int(10)"),
            c("rigid", "int(3)"),
            c("rig_fix_date", "datetime", NUL),
            c("rig_maintenance_note", "varchar(500)"),
            c("isbroken", "tinyint(3)"),
            c("broke_person", "varchar(45)"),
            c("fix_person", "varchar(45)"),
            c("broke_date", "datetime", NUL),
            c("rig_maintenance_fix_note", "varchar(500)"),
        ],
        fk={"rigid": ("lab", "riginfo", "rigid")},
    ),
    ("action", "tech_schedule"): dict(
        pk=["scheduleid"],
        auto_increment="scheduleid",
        cols=[
            c("scheduleid", "int(10)"),
            c("techschedule_date", "date"),
            c("day", "varchar(45)"),
            c("overnight", "varchar(200)"),
            c("morning", "varchar(200)"),
            c("evening", "varchar(200)"),
        ],
        fk={},
    ),
    ("action", "technotes"): dict(
        pk=["technote_id"],
        auto_increment="technote_id",
        cols=[
            c("technote_id", "int(11)"),
            c("technote_datetime", "datetime"),
            c("technician", "varchar(32)", NUL),
            c("technote_rat", "varchar(8)", NUL),
            c("technote_rig", "int(3)", NUL),
            c("technote_experimenter", "varchar(32)", NUL),
            c("timeslot", "tinyint(1)", NUL),
            c("technotes_note", "varchar(800)"),
            c("flag", "int(3)", NUL),
        ],
        fk={},
    ),
    ("action", "schedule"): dict(
        pk=["schedule_id"],
        auto_increment="schedule_id",
        cols=[
            c("schedule_id", "int(10)"),
            c("ratname", "varchar(30)", NUL),
            c("experimenter", "varchar(30)", NUL),
            c("schedule_date", "date"),
            c("schedule_timeslot", "tinyint(4)"),  # spec: TINYINT (MariaDB's default width)
            c("rig", "int(11)"),
            c("instructions", "varchar(250)", NUL),
            c("schedule_comments", "varchar(250)", NUL),
        ],
        fk={},
    ),
    ("action", "calibration_info_tbl"): dict(
        pk=["calibration_info_tbl_id"],
        auto_increment="calibration_info_tbl_id",
        cols=[
            c("calibration_info_tbl_id", "int(10)"),
            c("rigid", "int(3)"),
            c("calibration_datetime", "datetime"),
            c("open_valve_time", "double"),
            c("calibration_person", "varchar(32)"),
            c("valve", "varchar(15)"),
            c("dispense", "double"),
            c("isvalid", "tinyint(1)"),
            c("target", "varchar(10)"),
        ],
        fk={"rigid": ("lab", "riginfo", "rigid")},
    ),
    ("subject", "rats"): dict(
        pk=["ratname"],
        cols=[
            c("ratname", "varchar(8)"),
            c("user_id", "varchar(32)"),
            c("rats_old_id", "int(10)"),
            c("free", "tinyint(1)", "0"),
            c("comments", "varchar(500)", NUL),
            c("vendor", "varchar(40)", "'Taconic'"),
            c("waterperday", "decimal(3,1)", "30.0"),
            c("recovering", "tinyint(1)", "0"),
            c("deliverydate", "date", NUL),
            c("extant", "tinyint(4)", "0"),
            c("cagemate", "varchar(4)", NUL),
            c("force_free_water", "tinyint(3)", "0"),
            c("date_sac", "date", NUL),
            c("force_dep_water", "tinyint(3)", "0"),
            c("larid", "int(10)", NUL),
            c("israt", "tinyint(1)", "1"),
        ],
        fk={"user_id": ("lab", "contacts", "user_id")},
    ),
    ("subject", "rats__contact"): dict(
        pk=["ratname", "contact"],
        cols=[c("ratname", "varchar(8)"), c("contact", "varchar(40)")],
        fk={"ratname": ("subject", "rats", "ratname")},
    ),
    # The key chosen for §2.12: rathistory_id = legacy internalID (see new_subject's docstring).
    ("subject", "rat_history"): dict(
        pk=["rathistory_id"],
        cols=[
            c("rathistory_id", "int(10)"),
            c("ratname", "varchar(8)"),
            c("user_id", "varchar(32)"),
            c("logtime", "timestamp", "current_timestamp()"),
            c("free", "tinyint(1)", "0"),
            c("alert", "tinyint(1)", "0"),
            c("training", "tinyint(1)", "0"),
            c("comments", "varchar(500)", NUL),
            c("waterperday", "int(11)", "30"),
            c("recovering", "tinyint(1)", "0"),
            c("extant", "tinyint(4)", "0"),
            c("cagemate", "varchar(4)", NUL),
            c("force_free_water", "tinyint(3)", "0"),
            c("date_sac", "date", NUL),
            c("force_dep_water", "tinyint(3)", "0"),
            c("bring_up_at", "tinyint(1)", "0"),
            c("bringupday", "varchar(7)", NUL),
            c("ignored_by_watermeister", "tinyint(1)", "0"),
        ],
        fk={
            "ratname": ("subject", "rats", "ratname"),
            "user_id": ("lab", "contacts", "user_id"),
        },
    ),
    ("subject", "rat_history__contact"): dict(
        pk=["rathistory_id", "contact"],
        cols=[c("rathistory_id", "int(10)"), c("contact", "varchar(40)")],
        fk={"rathistory_id": ("subject", "rat_history", "rathistory_id")},
    ),
    ("action", "mass"): dict(
        pk=["mass_id"],
        auto_increment="mass_id",
        cols=[
            c("mass_id", "int(10)"),
            c("ratname", "varchar(8)"),
            c("weigh_person", "varchar(32)"),
            c("weighing_datetime", "datetime"),
            c("mass", "smallint(5)", NUL),
        ],
        fk={"ratname": ("subject", "rats", "ratname")},
    ),
    ("action", "rigwater"): dict(
        pk=["rigwater_id"],
        auto_increment="rigwater_id",
        cols=[
            c("rigwater_id", "int(10)"),
            c("ratname", "varchar(8)"),
            c("earnedwater_datetime", "datetime"),
            c("totalvol", "decimal(10,5)"),
            c("trialvol", "decimal(10,5)"),
            c("complete", "tinyint(3)"),
            c("n_rewarded_trials", "int(5)"),
            c("target_percent", "decimal(5,2)", NUL),
        ],
        fk={"ratname": ("subject", "rats", "ratname")},
    ),
    ("action", "surgery"): dict(
        pk=["ratname", "surgery_date", "surgery_starttime"],
        cols=[
            c("ratname", "varchar(8)"),
            c("surgery_date", "date"),
            c("surgery_starttime", "time"),
            c("surgery_old_id", "int(11)"),
            c("surgery_stoptime", "time", NUL),
            c("surgeon", "varchar(32)"),
            c("ratgrams", "int(11)", NUL),
            c("surgery_type", "varchar(100)", NUL),
            c("eib_num", "varchar(20)", NUL),
            c("coordinates", "varchar(40)", NUL),
            c("brainregions", "varchar(40)"),
            c("ketamine", "float", NUL),
            c("buprenex", "float", NUL),
            c("surgery_notes", "varchar(600)", NUL),
            c("bregma", "tinyblob", NUL),
            c("ia_zero", "tinyblob", NUL),
            c("angle", "float", "0"),
            c("tilt_axis", "enum('AP','ML')", NUL),
        ],
        fk={"ratname": ("subject", "rats", "ratname")},
    ),
    ("action", "water"): dict(
        pk=["water_id"],
        cols=[
            c("water_id", "int(11)"),
            c("ratname", "varchar(8)"),
            c("administration_date", "date"),
            c("administration_starttime", "time"),
            c("administration_stoptime", "time", NUL),
            c("administration_person", "varchar(32)"),
            c("volume", "decimal(6,3)"),
            c("percent_bodymass", "decimal(6,3)"),
            c("percent_target", "decimal(6,3)"),
        ],
        fk={"ratname": ("subject", "rats", "ratname")},
    ),
    ("acquisition", "sess_started"): dict(
        pk=["sessid"],
        cols=[
            c("sessid", "int(11)"),
            c("session_started_rat", "varchar(8)"),
            c("session_started_rigid", "int(3)"),
            c("session_date", "date", "'1000-01-01'"),
            c("session_starttime", "time", "'00:00:00'"),
            c("was_ended", "tinyint(1)", "0"),
            c("crashed", "tinyint(3)"),
        ],
        fk={
            "session_started_rat": ("subject", "rats", "ratname"),
            "session_started_rigid": ("lab", "riginfo", "rigid"),
        },
    ),
    ("acquisition", "sessions"): dict(
        pk=["sessid"],
        cols=[
            c("sessid", "int(11)"),
            c("session_rat", "varchar(8)"),
            c("session_userid", "varchar(32)"),
            c("session_rigid", "int(3)"),
            c("session_date", "date", "'1000-01-01'"),
            c("session_starttime", "time", "'00:00:00'"),
            c("session_endtime", "time", "'00:00:00'"),
            c("protocol", "varchar(30)", "''"),
            c("peh", "mediumblob", NUL),
            c("n_done_trials", "int(11)", "0"),
            c("session_comments", "varchar(1000)", NUL),
            *(
                c(n, "varchar(200)", "''")
                for n in (
                    "settings_file",
                    "settings_path",
                    "data_file",
                    "data_path",
                    "video_file",
                    "video_path",
                )
            ),
            *(
                c(n, "float(2,2)", NUL)
                for n in (
                    "total_correct",
                    "right_correct",
                    "left_correct",
                    "percent_violations",
                )
            ),
            c("protocol_data", "mediumblob", NUL),
            *(c(n, "int(10)", NUL) for n in ("left_pokes", "center_pokes", "right_pokes")),
            c("ip_addr", "varchar(15)", NUL),
            c("foodpuck", "tinyint(1)", "0"),
        ],
        fk={
            "sessid": ("acquisition", "sess_started", "sessid"),
            "session_rat": ("subject", "rats", "ratname"),
            "session_userid": ("lab", "contacts", "user_id"),
            "session_rigid": ("lab", "riginfo", "rigid"),
        },
    ),
    ("acquisition", "session_protocol_data"): dict(
        pk=["sessid"],
        cols=[c("sessid", "int(11)"), c("protocol_data", "mediumblob")],
        fk={"sessid": ("acquisition", "sessions", "sessid")},
    ),
    ("acquisition", "parsed_events"): dict(
        pk=["sessid"],
        cols=[c("sessid", "int(11)"), c("peh", "mediumblob")],
        fk={"sessid": ("acquisition", "sessions", "sessid")},
    ),
    ("acquisition", "__behavior_event"): dict(
        pk=["sessid", "id_event"],
        cols=[
            c("sessid", "int(11)"),
            c("id_event", "int(11)"),
            c("trial", "int(10)"),
            c("event_type", "varchar(16)"),
            c("event_name", "varchar(32)"),
            c("entry_num", "int(10)"),
            c("in_time", "double", NUL),
            c("out_time", "double", NUL),
        ],
        fk={"sessid": ("acquisition", "parsed_events", "sessid")},
    ),
}

# Shadow masters (spec §2.0b): legacy key renamed, with the legacy type; secondary = every new
# column. Maps shadow table -> (new table, [(pk column, legacy type)]).
SHADOW: dict[tuple[str, str], tuple[str, list[tuple[str, str]]]] = {
    ("lab", "__contacts"): ("contacts", [("contacts_old_id", "int(11)")]),
    ("lab", "__riginfo"): ("riginfo", [("rigid", "int(3) unsigned")]),
    ("lab", "__training_room"): ("training_room", [("tower", "int(10) unsigned")]),
    ("lab", "__rigflush"): ("rigflush", [("rigflush_old_id", "int(10) unsigned")]),
    ("lab", "__rigfood"): ("rigfood", [("rigfood_id", "int(10) unsigned")]),
    ("lab", "__rig_maintenance"): ("rig_maintenance", [("rig_maintenance_id", "int(10) unsigned")]),
    ("action", "__tech_schedule"): ("tech_schedule", [("scheduleid", "int(10) unsigned")]),
    ("action", "__technotes"): ("technotes", [("technote_id", "int(11) unsigned")]),
    ("action", "__schedule"): ("schedule", [("schedule_id", "int(10) unsigned")]),
    ("action", "__calibration_info_tbl"): (
        "calibration_info_tbl",
        [("calibration_info_tbl_id", "int(10) unsigned")],
    ),
    ("subject", "__rats"): ("rats", [("rats_old_id", "int(10) unsigned")]),
    ("subject", "__rat_history"): ("rat_history", [("rathistory_old_id", "int(10) unsigned")]),
    ("action", "__mass"): ("mass", [("mass_id", "int(10) unsigned")]),
    ("action", "__rigwater"): ("rigwater", [("rigwater_id", "int(10) unsigned")]),
    ("action", "__surgery"): ("surgery", [("surgery_old_id", "int(11)")]),
    ("action", "__water"): ("water", [("water_id", "int(11)")]),
    ("acquisition", "__sess_started"): ("sess_started", [("sessid", "int(11)")]),
    ("acquisition", "__sessions"): ("sessions", [("sessid", "int(11)")]),
    ("acquisition", "__session_protocol_data"): ("session_protocol_data", [("sessid", "int(11)")]),
    ("acquisition", "__parsed_events"): ("parsed_events", [("sessid", "int(11)")]),
}
SHADOW_PARTS = {
    ("subject", "__rats__contact"): [("contact", "varchar(40)"), ("ratname", "varchar(8)")],
    ("subject", "__rat_history__contact"): [
        ("rathistory_id", "int(10)"),
        ("contact", "varchar(40)"),
    ],
}

# §6.3 column counts (new, shadow). rat_history: the chosen key adds rathistory_id to the shadow
# (which keeps rathistory_old_id as its key), so the shadow has 19, not the deployed 18.
COUNTS_6_3 = {
    "contacts": (18, 18),
    "riginfo": (7, 7),
    "training_room": (4, 4),
    "rigflush": (4, 4),
    "rigfood": (3, 3),
    "rig_maintenance": (9, 9),
    "tech_schedule": (6, 6),
    "technotes": (9, 9),
    "schedule": (8, 8),
    "calibration_info_tbl": (9, 9),
    "rats": (16, 16),
    "rat_history": (18, 19),
    "mass": (5, 5),
    "rigwater": (8, 8),
    "surgery": (18, 18),
    "water": (9, 9),
    "sess_started": (7, 7),
    "sessions": (27, 27),
    "rats__contact": (2, 2),
    "rat_history__contact": (2, 2),
    "session_protocol_data": (2, 2),
    "parsed_events": (2, 2),
    "__behavior_event": (8, None),
}
