"""The spec's column mappings (§2) re-implemented in plain Python, independently of the engine.

``EXPECTED[entry name](row, people) -> {new column: value}`` maps one fetched legacy row to the
new-table row the spec prescribes. ``People`` answers the contact lookups of §1.3 the way SQL
equality does (case-insensitive, trailing spaces ignored).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import datajoint.blob as djblob

RATS_ALIASES = {"pbibawi": "pbibawi", "abondy": "abondy", "velliott": "velliott", "Peter Bibawi": "pbibawi"}
HISTORY_ALIASES = {**RATS_ALIASES, "lb6": "lb6", "jtb3": "jtb3", "Nick Horbelt": "nhorbelt", "Sarah Jo": "venditto"}


def _same(a: str, b: str) -> bool:
    return a.rstrip(" ").lower() == b.rstrip(" ").lower()


class People:
    """Contact lookups over the fetched legacy contacts."""

    def __init__(self, contacts: list[dict[str, Any]]) -> None:
        self.contacts = contacts

    @staticmethod
    def netid(email: str | None) -> str | None:
        return None if email is None else email.split("@")[0]

    def by_experimenter(self, name: str | None) -> list[dict]:
        return [] if name is None else [c for c in self.contacts if _same(c["experimenter"], name)]

    def by_initials(self, initials: str | None) -> list[dict]:
        if initials is None:
            return []
        return [c for c in self.contacts if c["initials"] is not None and _same(c["initials"], initials)]

    def owner(self, experimenter: str | None, aliases: dict[str, str]) -> str | None:
        found = self.by_experimenter(experimenter)
        if len(found) == 1:
            return self.netid(found[0]["email"])
        return aliases.get(experimenter or "")


def _day(value: Any) -> dt.datetime:
    return dt.datetime.combine(value, dt.time())


def _at(day: dt.date, time: dt.timedelta) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + time


def _real(value: Any) -> Any:
    """None for a zero / partial date (the driver returns those as text)."""
    return value if isinstance(value, dt.date) else None


def _rig(host: str) -> int:
    return int(host.strip("Rig"))


def _blob(text: str | None) -> bytes | None:
    if text is None:
        return None
    return djblob.pack(text)


def _contacts(r, p):
    return {"user_id": p.netid(r["email"]), "contacts_old_id": r["contactid"], "experimenter": r["experimenter"],
            "email": r["email"], "initials": r["initials"], "telephone": r["telephone"], "tag_letter": r["tag_letter"],
            **{c: r[c] if r[c] is not None else 0 for c in ("lab_manager", "subscribe_all", "tech_morning",
                                                              "tech_afternoon", "tech_computer", "tech_overnight")},
            "is_alumni": r["is_alumni"], "full_name": r["FullName"], "tag_rgb": r["tag_RGB"],
            "tech_shifts": r["tech_shifts"], "phone_carrier": r["phone_carrier"]}


def _sess_rig(r) -> int:
    host = r["hostname"]
    if r["rigid"] != 0 or host is None:
        return r["rigid"]
    return _rig(host) if "Rig" in host else int(float(host))


EXPECTED = {
    "lab.contacts": _contacts,
    "lab.riginfo": lambda r, p: {"rigid": r["rigid"], "rigname": "", "ip_addr": r["ip_addr"],
                                 "mac_addr": r["mac_addr"] or "", "rtfsm_ip": r["rtfsm_ip"],
                                 "hostname": r["hostname"], "comptype": r["comptype"] or ""},
    "lab.training_room": lambda r, p: {k: r[k] for k in ("tower", "top", "middle", "bottom")},
    "lab.rigflush": lambda r, p: {"rigid": r["rig"], "rigflush_date": _day(r["dateval"]),
                                  "rigflush_old_id": r["id"], "wasflushed": int(r["wasflushed"])},
    "lab.rigfood": lambda r, p: {"rigfood_id": r["rigfoodid"], "rigid": r["rigid"], "rigfood_datetime": r["datetime"]},
    "lab.rig_maintenance": lambda r, p: {
        "rig_maintenance_id": r["maintenance_id"], "rigid": r["rigid"], "rig_fix_date": _real(r["fix_date"]),
        "rig_maintenance_note": r["note"], "isbroken": r["isbroken"], "broke_person": r["broke_person"],
        "fix_person": r["fix_person"], "broke_date": _real(r["broke_date"]), "rig_maintenance_fix_note": r["fix_note"]},
    "action.tech_schedule": lambda r, p: {"scheduleid": r["scheduleid"], "techschedule_date": r["date"],
                                          **{k: r[k] for k in ("day", "overnight", "morning", "evening")}},
    "action.technotes": lambda r, p: {
        "technote_id": r["technoteid"], "technote_datetime": _at(r["datestr"], r["timestr"]),
        "technician": r["techinitials"], "technote_rat": r["ratname"], "technote_rig": r["rigid"],
        "technote_experimenter": r["experimenter"], "timeslot": r["timeslot"], "technotes_note": r["note"],
        "flag": r["flag"]},
    "action.schedule": lambda r, p: {
        "schedule_id": r["schedentryid"], "ratname": r["ratname"], "experimenter": r["experimenter"],
        "schedule_date": r["date"], "schedule_timeslot": r["timeslot"], "rig": r["rig"],
        "instructions": r["instructions"], "schedule_comments": r["comments"]},
    "action.calibration_info_tbl": lambda r, p: {
        "calibration_info_tbl_id": r["calibrationid"], "rigid": int(r["rig_id"]), "calibration_datetime": r["dateval"],
        "open_valve_time": r["timeval"], "calibration_person": r["initials"], "valve": r["valve"],
        "dispense": r["dispense"], "isvalid": r["isvalid"], "target": r["target"]},
    "subject.rats": lambda r, p: {
        "ratname": r["ratname"], "user_id": p.owner(r["experimenter"], RATS_ALIASES), "rats_old_id": r["internalID"],
        "free": r["free"], "comments": r["comments"], "vendor": r["vendor"], "waterperday": Decimal(r["waterperday"]),
        "recovering": r["recovering"], "deliverydate": _real(r["deliverydate"]), "extant": r["extant"],
        "cagemate": r["cagemate"], "force_free_water": r["forceFreeWater"], "date_sac": _real(r["dateSac"]),
        "force_dep_water": r["forceDepWater"], "larid": r["larid"], "israt": r["israt"]},
    "subject.rat_history": lambda r, p: {
        "rathistory_id": r["internalID"], "ratname": r["ratname"], "user_id": p.owner(r["experimenter"], HISTORY_ALIASES),
        "logtime": r["logtime"], **{k: r[k] for k in ("free", "alert", "training", "comments", "waterperday",
                                                      "recovering", "extant", "cagemate", "bringupday")},
        "force_free_water": r["forceFreeWater"], "date_sac": _real(r["dateSac"]), "force_dep_water": r["forceDepWater"],
        "bring_up_at": r["bringUpAt"] or 0, "ignored_by_watermeister": r["ignoredByWatermeister"] or 0},
    "action.mass": lambda r, p: {
        "mass_id": r["weighing"], "ratname": r["ratname"], "weighing_datetime": _at(r["date"], r["timeval"]),
        "mass": r["mass"], "weigh_person": p.netid(p.by_initials(r["tech"])[0]["email"])},
    "action.rigwater": lambda r, p: {
        "rigwater_id": r["id"], "ratname": r["ratname"], "earnedwater_datetime": _day(r["dateval"]),
        **{k: r[k] for k in ("totalvol", "trialvol", "complete", "n_rewarded_trials", "target_percent")}},
    "action.surgery": lambda r, p: {
        "ratname": r["ratname"], "surgery_date": r["date"], "surgery_starttime": r["starttime"],
        "surgery_old_id": r["id"], "surgery_stoptime": r["endtime"], "surgeon": r["surgeon"],
        "ratgrams": r["ratgrams"], "surgery_type": r["type"], "eib_num": r["eib_num"],
        "coordinates": r["coordinates"], "brainregions": r["brainregions"], "ketamine": r["ketamine"],
        "buprenex": r["buprenex"], "surgery_notes": r["notes"], "bregma": _blob(r["Bregma"]),
        "ia_zero": _blob(r["IA0"]), "angle": r["angle"] if r["angle"] is not None else 0.0,
        "tilt_axis": r["tilt_axis"]},
    "action.water": lambda r, p: {
        "water_id": r["watering"], "ratname": r["rat"], "administration_date": r["date"],
        "administration_starttime": r["starttime"], "administration_stoptime": r["stoptime"],
        "administration_person": r["tech"], **{k: r[k] for k in ("volume", "percent_bodymass", "percent_target")}},
    "acquisition.sess_started": lambda r, p: {
        "sessid": r["sessid"], "session_started_rat": r["ratname"], "session_started_rigid": _sess_rig(r),
        "session_date": r["sessiondate"] or dt.date(1000, 1, 1),
        "session_starttime": r["starttime"] if r["starttime"] is not None else dt.timedelta(0),
        "was_ended": r["was_ended"] or 0, "crashed": int(r["crashed"])},
    "acquisition.sessions": lambda r, p: {
        "sessid": r["sessid"], "session_rat": r["ratname"],
        "session_userid": p.netid(p.by_experimenter(r["experimenter"])[0]["email"]),
        "session_rigid": _rig(r["hostname"]), "session_date": r["sessiondate"], "session_starttime": r["starttime"],
        "session_endtime": r["endtime"], "protocol": r["protocol"], "peh": None, "n_done_trials": r["n_done_trials"],
        "session_comments": r["comments"], "protocol_data": None, "ip_addr": r["IP_addr"],
        "foodpuck": r["foodpuck"] or 0,
        **{k: r[k] for k in ("settings_file", "settings_path", "data_file", "data_path", "video_file", "video_path",
                             "total_correct", "right_correct", "left_correct", "percent_violations", "left_pokes",
                             "center_pokes", "right_pokes")}},
}

# legacy key column and the new-table column that holds it, per entry
KEYS = {
    "lab.contacts": ("contactid", "contacts_old_id"), "lab.riginfo": ("rigid", "rigid"),
    "lab.training_room": ("tower", "tower"), "lab.rigflush": ("id", "rigflush_old_id"),
    "lab.rigfood": ("rigfoodid", "rigfood_id"), "lab.rig_maintenance": ("maintenance_id", "rig_maintenance_id"),
    "action.tech_schedule": ("scheduleid", "scheduleid"), "action.technotes": ("technoteid", "technote_id"),
    "action.schedule": ("schedentryid", "schedule_id"),
    "action.calibration_info_tbl": ("calibrationid", "calibration_info_tbl_id"),
    "subject.rats": ("internalID", "rats_old_id"), "subject.rat_history": ("internalID", "rathistory_id"),
    "action.mass": ("weighing", "mass_id"), "action.rigwater": ("id", "rigwater_id"),
    "action.surgery": ("id", "surgery_old_id"), "action.water": ("watering", "water_id"),
    "acquisition.sess_started": ("sessid", "sessid"), "acquisition.sessions": ("sessid", "sessid"),
}

# defect kind -> ledger reasons that correctly describe it (the "reason family")
CONTACT = {"ambiguous_contact", "unresolved_contact"}
FAMILY = {
    "contact_duplicate_email": {"excluded_by_config"}, "contact_email_null": {"missing_value"},
    "rat_experimenter_ambiguous": {"ambiguous_contact"}, "rat_experimenter_unresolvable": {"unresolved_contact"},
    "rat_ratname_null": {"missing_value"}, "rat_waterperday_too_large": {"too_wide"},
    "rat_not_migrated": {"missing_parent"} | CONTACT,
    "rathistory_experimenter_unresolvable": CONTACT, "rathistory_rat_orphan": {"missing_parent"},
    "mass_tech_ambiguous": {"ambiguous_contact"}, "mass_tech_unknown": {"unresolved_contact"},
    "mass_date_zero": {"zero_date"}, "mass_rat_orphan": {"missing_parent"},
    "water_date_zero": {"zero_date"}, "water_starttime_null": {"missing_value"}, "water_tech_null": {"missing_value"},
    "water_rat_orphan": {"missing_parent"}, "rigwater_date_invalid": {"zero_date"},
    "rigwater_rat_orphan": {"missing_parent"}, "surgery_date_zero": {"zero_date"},
    "surgery_duplicate_natural_key": {"duplicate_new_key"}, "surgery_rat_orphan": {"missing_parent"},
    "surgery_surgeon_null": {"missing_value"}, "surgery_surgeon_too_wide": {"too_wide"},
    "surgery_notes_too_wide": {"too_wide"}, "schedule_date_zero": {"zero_date"},
    "schedule_timeslot_too_wide": {"too_wide"}, "tech_schedule_date_zero": {"zero_date"},
    "technote_datetime_missing": {"missing_value"}, "technote_note_too_wide": {"too_wide"},
    "rigfood_rig_orphan": {"missing_parent"}, "rig_maintenance_rig_orphan": {"missing_parent"},
    "rig_maintenance_note_too_wide": {"too_wide"}, "calibration_rig_orphan": {"missing_parent"},
    "calibration_rig_id_not_numeric": {"unparsable_rig"}, "calibration_dateval_zero": {"zero_date"},
    "sess_started_rig_unresolvable": {"unparsable_rig"}, "sess_started_ratname_null": {"missing_value"},
    "sess_started_not_migrated": {"missing_parent"} | CONTACT | {"unparsable_rig"},
    "session_experimenter_ambiguous": {"ambiguous_contact"},
    "session_experimenter_unresolvable": {"unresolved_contact"},
    "session_hostname_unresolvable": {"unparsable_rig"}, "session_not_migrated": {"missing_parent"},
    "peh_undecodable": {"blob_undecodable"},
}
