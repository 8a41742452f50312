"""Lab family (spec §2.1-2.6): contacts, rigs, training room, rig upkeep."""

from __future__ import annotations

from brody_assets.migration.registry import Reject

from .common import RIG, keyed, same
from .rules import invalid_date, netid, too_long_rule, zero_date_rule, zero_to_null

_BOOL_DEFAULT_0 = ("lab_manager", "subscribe_all", "tech_morning", "tech_afternoon", "tech_computer", "tech_overnight")

CONTACTS = keyed(
    "lab.contacts", "Contacts", "ratinfo.contacts", ("contactid", "contacts_old_id", "contacts_old_id"),
    {
        "contacts_old_id": "l.`contactid`",
        "user_id": netid("l.`email`"),
        **same("experimenter", "email", "initials", "telephone", "tag_letter", "is_alumni", "tech_shifts", "phone_carrier"),
        **{c: f"COALESCE(l.`{c}`, 0)" for c in _BOOL_DEFAULT_0},
        "full_name": "l.`FullName`",
        "tag_rgb": "l.`tag_RGB`",
    },
    rejects=(
        Reject("excluded_by_config", "l.`contactid` IN ({excluded_contacts})",
               "CONCAT('contactid ', l.`contactid`, ' is in excluded_contact_ids (stale duplicate of email ', "
               "IFNULL(QUOTE(l.`email`), 'NULL'), ')')", 1),
        Reject("missing_value", "l.`email` IS NULL", "'email is NULL: no netID (user_id) can be derived'", 1),
        Reject("too_wide", f"CHAR_LENGTH({netid('l.`email`')}) > 32",
               f"CONCAT('netID ', QUOTE({netid('l.`email`')}), ' is longer than user_id varchar(32)')", 23),
        Reject("too_wide", "l.`telephone` > 9223372036854775807",
               "CONCAT('telephone ', l.`telephone`, ' does not fit bigint')", 23),
    ),
    natural_key=True,
    description="Lab members keyed by netID (the part of the email before '@').",
)

RIGINFO = keyed(
    "lab.riginfo", "Riginfo", "ratinfo.riginfo", ("rigid", "rigid", "rigid"),
    {
        **same("rigid", "ip_addr", "rtfsm_ip", "hostname"),
        "rigname": "''",
        "mac_addr": "COALESCE(l.`mac_addr`, '')",
        "comptype": "COALESCE(l.`comptype`, '')",
    },
    description="Behaviour rigs.",
)

TRAINING_ROOM = keyed(
    "lab.training_room", "TrainingRoom", "ratinfo.training_room", ("tower", "tower", "tower"),
    same("tower", "top", "middle", "bottom"),
    description="Which rigs sit in which tower.",
)

RIGFLUSH = keyed(
    "lab.rigflush", "Rigflush", "ratinfo.rigflush", ("id", "rigflush_old_id", "rigflush_old_id"),
    {
        "rigflush_old_id": "l.`id`",
        "rigid": "l.`rig`",
        "rigflush_date": "CAST(l.`dateval` AS DATETIME)",
        "wasflushed": "l.`wasflushed`",
    },
    rejects=(zero_date_rule("dateval"),),
    parents=(RIG,),
    natural_key=True,
    description="Rig water-line flushes, one per rig and day.",
)

RIGFOOD = keyed(
    "lab.rigfood", "Rigfood", "ratinfo.rigfood", ("rigfoodid", "rigfood_id", "rigfood_id"),
    {"rigfood_id": "l.`rigfoodid`", "rigid": "l.`rigid`", "rigfood_datetime": "l.`datetime`"},
    rejects=(zero_date_rule("datetime", 17),),
    parents=(RIG,),
    date_column="datetime",
    description="Food-pellet refills per rig.",
)

RIG_MAINTENANCE = keyed(
    "lab.rig_maintenance", "RigMaintenance", "ratinfo.rig_maintenance",
    ("maintenance_id", "rig_maintenance_id", "rig_maintenance_id"),
    {
        "rig_maintenance_id": "l.`maintenance_id`",
        **same("rigid", "isbroken", "broke_person", "fix_person"),
        "rig_fix_date": zero_to_null("l.`fix_date`"),
        "broke_date": zero_to_null("l.`broke_date`"),
        "rig_maintenance_note": "l.`note`",
        "rig_maintenance_fix_note": "l.`fix_note`",
    },
    rejects=(
        too_long_rule("note", 500, "rig_maintenance_note varchar(500)"),
        too_long_rule("fix_note", 500, "rig_maintenance_fix_note varchar(500)"),
    ),
    parents=(RIG,),
    date_column="broke_date",
    description="Rig breakdowns and repairs (zero datetimes become NULL).",
)

LAB = (CONTACTS, RIGINFO, TRAINING_ROOM, RIGFLUSH, RIGFOOD, RIG_MAINTENANCE)
__all__ = ["LAB", "invalid_date"]
