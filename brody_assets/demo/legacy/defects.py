"""Catalog of the defect kinds the generator injects (spec §5), kept as data.

Every kind says which legacy table it lives in, the §5 problem number, whether
a correct migration must quarantine the row (``quarantine``: it cannot be
migrated faithfully — a §1.3/§2.x skip rule, a new-table key or foreign-key
violation, a value that does not fit its new column, an undecodable blob) and
which §4 integrity checks must flag it.  ``quarantine: False`` kinds are
data-quality findings: the row migrates, but a check reports it.

:class:`Ledger` records the injected rows; it becomes the ``defects`` list of
the ground-truth manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _k(
    problem: int, table: str, quarantine: bool, checks: list[str], description: str, **extra: Any
) -> dict[str, Any]:
    return {
        "problem": problem,
        "table": table,
        "quarantine": quarantine,
        "checks": checks,
        "description": description,
        **extra,
    }


DEFECT_KINDS: dict[str, dict[str, Any]] = {
    # --- people (contacts) -------------------------------------------------
    "contact_duplicate_email": _k(
        1,
        "ratinfo.contacts",
        True,
        ["contacts_src_to_shadow", "contacts_email_unique"],
        "stale copy of another contact with the same email (netID collides); excluded by the default config (53, 59, 97); its kept partner is not a defect",
    ),
    "contact_email_null": _k(
        1,
        "ratinfo.contacts",
        True,
        ["contacts_src_to_shadow", "contacts_email_present"],
        "contact without email: no netID can be derived",
    ),
    "contact_experimenter_duplicate": _k(
        2,
        "ratinfo.contacts",
        False,
        ["contacts_experimenter_unique"],
        "two contacts named 'Alex'; both migrate, name lookups for Alex fail",
    ),
    "contact_initials_shared": _k(
        4,
        "ratinfo.contacts",
        False,
        ["contacts_initials_unique"],
        "initials shared by 2 or 3 contacts; the contacts migrate, weighings by these initials cannot be attributed",
    ),
    # --- rats / rat_history -----------------------------------------------
    "rat_experimenter_ambiguous": _k(
        2, "ratinfo.rats", True, ["rats_src_to_shadow"], "experimenter 'Alex' matches two contacts"
    ),
    "rat_experimenter_unresolvable": _k(
        3,
        "ratinfo.rats",
        True,
        ["rats_src_to_shadow", "rats_experimenter_in_contacts"],
        "experimenter is junk ('', AnimalFacility, Elyssa, experimenter, Jovanna/Min)",
    ),
    "rat_experimenter_alias": _k(
        3,
        "ratinfo.rats",
        False,
        ["rats_experimenter_in_contacts"],
        "experimenter is a literal netID or 'Peter Bibawi': no contact has that name, but the resolution rule accepts it",
    ),
    "rat_ratname_null": _k(
        9,
        "ratinfo.rats",
        True,
        ["rats_src_to_shadow", "rats_ratname_valid"],
        "rat without a name (new primary key)",
    ),
    "rat_waterperday_too_large": _k(
        24,
        "ratinfo.rats",
        True,
        ["rats_waterperday_fits"],
        "waterperday >= 100 does not fit decimal(3,1)",
    ),
    "rat_contact_blank": _k(
        5, "ratinfo.rats", False, [], "contact list empty or whitespace only: no Rats.Contact rows"
    ),
    "rat_contact_trailing_comma": _k(
        5,
        "ratinfo.rats",
        False,
        ["rats_contact_shadow_to_new"],
        "contact list ends with a comma: splitting yields an empty-string contact",
    ),
    "rat_date_zero": _k(
        15,
        "ratinfo.rats",
        False,
        [],
        "deliverydate and/or dateSac is 0000-00-00 (migrates as NULL)",
    ),
    "rat_not_migrated": _k(
        10,
        "*",
        True,
        [
            "mass_ratname_in_rats",
            "water_ratname_in_rats",
            "rigwater_ratname_in_rats",
            "surgery_ratname_in_rats",
            "rathistory_shadow_to_new",
            "sess_started_fk_parents",
            "sessions_fk_parents",
        ],
        "cascade: the row's rat exists in legacy rats but is itself quarantined (problems 2/3/24), so the FK to new rats fails; per-table check in the entry",
    ),
    "rathistory_experimenter_unresolvable": _k(
        3,
        "ratinfo.rat_history",
        True,
        ["rathistory_src_to_shadow"],
        "history experimenter is junk (B186, J226, 'Ben, Christine', experimenter, ...) or ambiguous",
    ),
    "rathistory_rat_orphan": _k(
        9,
        "ratinfo.rat_history",
        True,
        ["rathistory_shadow_to_new", "rathistory_ratname_in_rats"],
        "history row of a rat name absent from rats",
    ),
    "rathistory_duplicate_logtime": _k(
        11,
        "ratinfo.rat_history",
        False,
        ["rathistory_new_key_unique"],
        "several rows share (ratname, logtime) with different content (all rows of the group listed); migrates when keyed by internalID",
    ),
    "rathistory_contact_trailing_comma": _k(
        5,
        "ratinfo.rat_history",
        False,
        ["rathistory_contact_shadow_to_new"],
        "contact list ends with a comma (H125, M102, T232)",
    ),
    "rathistory_datesac_zero": _k(
        15, "ratinfo.rat_history", False, [], "dateSac is 0000-00-00 (migrates as NULL)"
    ),
    # --- mass / water / rigwater / surgery ---------------------------------
    "mass_tech_ambiguous": _k(
        4,
        "ratinfo.mass",
        True,
        ["mass_src_to_shadow", "mass_tech_resolves_to_one_contact"],
        "tech initials match 2 or 3 contacts",
    ),
    "mass_tech_unknown": _k(
        4,
        "ratinfo.mass",
        True,
        ["mass_src_to_shadow", "mass_tech_resolves_to_one_contact", "mass_tech_in_contacts"],
        "tech initials match no contact (FW, TZL, EJD, TB)",
    ),
    "mass_date_zero": _k(
        15, "ratinfo.mass", True, ["mass_src_to_shadow", "mass_date_valid"], "date is 0000-00-00"
    ),
    "mass_time_zero": _k(
        18,
        "ratinfo.mass",
        False,
        ["mass_time_nonzero"],
        "timeval is 00:00:00 (migrates as midnight)",
    ),
    "mass_rat_orphan": _k(
        9,
        "ratinfo.mass",
        True,
        ["mass_ratname_in_rats"],
        "rat name absent from rats (TANK, M084, U001, ...)",
    ),
    "water_date_zero": _k(
        15,
        "ratinfo.water",
        True,
        ["water_date_valid", "water_ratname_in_rats", "water_not_null_for_new"],
        "date 0000-00-00 with empty rat, NULL tech and zero volumes",
    ),
    "water_starttime_null": _k(
        18,
        "ratinfo.water",
        True,
        ["water_not_null_for_new"],
        "starttime NULL; new administration_starttime is NOT NULL without default",
    ),
    "water_tech_null": _k(
        4,
        "ratinfo.water",
        True,
        ["water_not_null_for_new", "water_tech_in_contacts"],
        "tech NULL; new administration_person is NOT NULL without default",
    ),
    "water_tech_not_in_contacts": _k(
        4,
        "ratinfo.water",
        False,
        ["water_tech_in_contacts"],
        "tech initials match no contact (kept as text, no lookup)",
    ),
    "water_rat_orphan": _k(
        9,
        "ratinfo.water",
        True,
        ["water_ratname_in_rats"],
        "rat name absent from rats (U0nn, BROK, TANK, 0014, `)",
    ),
    "water_repeated_zero_volume": _k(
        13,
        "ratinfo.water",
        False,
        ["water_repeated_administration"],
        "repeated administration (same rat, date, start, stop), zero volume; every row of the group listed",
    ),
    "rigwater_date_invalid": _k(
        16,
        "ratinfo.rigwater",
        True,
        ["rigwater_date_valid"],
        "dateval is partial (2017-05-00) or zero",
    ),
    "rigwater_rat_orphan": _k(
        9,
        "ratinfo.rigwater",
        True,
        ["rigwater_ratname_in_rats"],
        "rat name absent from rats (X000, Z999, BROK, ratn, ...)",
    ),
    "surgery_date_zero": _k(
        15,
        "ratinfo.surgery",
        True,
        ["surgery_date_valid"],
        "date is 0000-00-00 (ids 1, 2, 56, 115, ...)",
    ),
    "surgery_duplicate_natural_key": _k(
        12,
        "ratinfo.surgery",
        True,
        ["surgery_new_key_unique"],
        "same (ratname, date, starttime) as a lower id (W055, W009); the lowest id of each triple is kept and not listed",
    ),
    "surgery_rat_orphan": _k(
        9,
        "ratinfo.surgery",
        True,
        ["surgery_ratname_in_rats"],
        "rat name absent from rats (T09, Z58, Z60, A280)",
    ),
    "surgery_surgeon_null": _k(
        4,
        "ratinfo.surgery",
        True,
        ["surgery_surgeon_present", "surgery_surgeon_in_contacts"],
        "surgeon NULL; new surgeon is NOT NULL without default",
    ),
    "surgery_surgeon_too_wide": _k(
        23,
        "ratinfo.surgery",
        True,
        ["text_fits_new_width", "surgery_surgeon_in_contacts"],
        "surgeon longer than 32 characters",
    ),
    "surgery_notes_too_wide": _k(
        23, "ratinfo.surgery", True, ["text_fits_new_width"], "notes longer than 600 characters"
    ),
    "surgery_time_odd": _k(
        18, "ratinfo.surgery", False, [], "start/end times like 00:00:04 or 00:00:00"
    ),
    # --- schedules, notes, rigs --------------------------------------------
    "schedule_date_zero": _k(
        15,
        "ratinfo.schedule",
        True,
        ["schedule_date_valid"],
        "date is 0000-00-00 (136150-136154, 220996, 221001, 221063)",
    ),
    "schedule_timeslot_too_wide": _k(
        23, "ratinfo.schedule", True, ["text_fits_new_width"], "timeslot > 127 does not fit TINYINT"
    ),
    "tech_schedule_date_zero": _k(
        15,
        "ratinfo.tech_schedule",
        True,
        ["tech_schedule_date_valid"],
        "date is 0000-00-00 (scheduleid 810)",
    ),
    "technote_datetime_missing": _k(
        15,
        "ratinfo.technotes",
        True,
        ["technotes_src_to_shadow", "technotes_datetime_present"],
        "datestr or timestr NULL: no technote_datetime",
    ),
    "technote_note_too_wide": _k(
        23, "ratinfo.technotes", True, ["text_fits_new_width"], "note longer than 800 characters"
    ),
    "technote_tech_not_in_contacts": _k(
        4,
        "ratinfo.technotes",
        False,
        ["technotes_tech_in_contacts"],
        "techinitials match no contact (kept as text)",
    ),
    "rigfood_rig_orphan": _k(
        7,
        "ratinfo.rigfood",
        True,
        ["rigfood_rigid_in_riginfo"],
        "rigid 255 (clipped by TINYINT UNSIGNED), absent from riginfo",
    ),
    "rig_maintenance_rig_orphan": _k(
        6,
        "ratinfo.rig_maintenance",
        True,
        ["rig_maintenance_rigid_in_riginfo"],
        "rigid in 303-336, absent from riginfo",
    ),
    "rig_maintenance_note_too_wide": _k(
        23,
        "ratinfo.rig_maintenance",
        True,
        ["text_fits_new_width"],
        "note or fix_note longer than 500 characters",
    ),
    "rig_maintenance_zero_datetime": _k(
        17,
        "ratinfo.rig_maintenance",
        False,
        [],
        "fix_date and/or broke_date is 0000-00-00 00:00:00 (migrates as NULL)",
    ),
    "calibration_rig_orphan": _k(
        8,
        "bdata.calibration_info_tbl",
        True,
        ["calibration_rigid_in_riginfo"],
        "rig_id 44 or 999, absent from riginfo",
    ),
    "calibration_rig_id_not_numeric": _k(
        8,
        "bdata.calibration_info_tbl",
        True,
        ["calibration_src_to_shadow", "calibration_rig_id_numeric"],
        "rig_id empty, missing ('NaN') or non-numeric",
    ),
    "calibration_dateval_zero": _k(
        17,
        "bdata.calibration_info_tbl",
        True,
        ["calibration_src_to_shadow", "calibration_dateval_valid"],
        "dateval is 0000-00-00 00:00:00 (row 76687, rig_id 401)",
    ),
    # --- sessions -----------------------------------------------------------
    "sess_started_rig_unresolvable": _k(
        26,
        "bdata.sess_started",
        True,
        ["sess_started_src_to_shadow"],
        "rigid 0 and a hostname that yields no rig number",
    ),
    "sess_started_ratname_null": _k(
        9, "bdata.sess_started", True, ["sess_started_src_to_shadow"], "ratname NULL"
    ),
    "sess_started_not_migrated": _k(
        26,
        "bdata.sessions",
        True,
        ["sessions_have_sess_started"],
        "cascade: the session's sess_started row is quarantined",
    ),
    "session_experimenter_ambiguous": _k(
        2,
        "bdata.sessions",
        True,
        ["sessions_src_to_shadow"],
        "experimenter 'Alex' matches two contacts",
    ),
    "session_experimenter_unresolvable": _k(
        3, "bdata.sessions", True, ["sessions_src_to_shadow"], "experimenter matches no contact"
    ),
    "session_hostname_unresolvable": _k(
        26, "bdata.sessions", True, ["sessions_src_to_shadow"], "hostname yields no rig number"
    ),
    "session_protocol_data_null": _k(
        21,
        "bdata.sessions",
        False,
        [],
        "protocol_data NULL: the session migrates; no session_protocol_data row exists to build (nothing to quarantine)",
    ),
    "session_without_parsed_events": _k(
        21,
        "bdata.sessions",
        False,
        ["parsed_events_present"],
        "no parsed_events row for this session: the session migrates, there is no peh to migrate",
    ),
    "session_not_migrated": _k(
        10,
        "bdata.parsed_events",
        True,
        ["nodate_shadow_to_new"],
        "cascade: the parsed_events row's session is quarantined",
    ),
    "peh_undecodable": _k(
        21,
        "bdata.parsed_events",
        True,
        ["legacy_blobs_decodable"],
        "peh bytes are corrupt: mYm decoding fails",
    ),
    # --- not injectable -----------------------------------------------------
    "sessions_fraction_out_of_range": _k(
        25,
        "bdata.sessions",
        True,
        [],
        "FLOAT(2,2) columns cannot hold values beyond +-0.99",
        injectable=False,
        why="the legacy column type itself clips values to +-0.99, so an out-of-range value cannot be stored in the legacy table",
    ),
}

ORPHAN_KIND_BY_TABLE: dict[str, str] = {
    "ratinfo.mass": "mass_rat_orphan",
    "ratinfo.water": "water_rat_orphan",
    "ratinfo.rigwater": "rigwater_rat_orphan",
    "ratinfo.surgery": "surgery_rat_orphan",
    "ratinfo.rat_history": "rathistory_rat_orphan",
}

NOT_MIGRATED_CHECK: dict[str, str] = {
    "ratinfo.mass": "mass_ratname_in_rats",
    "ratinfo.water": "water_ratname_in_rats",
    "ratinfo.rigwater": "rigwater_ratname_in_rats",
    "ratinfo.surgery": "surgery_ratname_in_rats",
    "ratinfo.rat_history": "rathistory_shadow_to_new",
    "bdata.sess_started": "sess_started_fk_parents",
    "bdata.sessions": "sessions_fk_parents",
}


@dataclass
class Ledger:
    """Injected defect rows, in injection order (one entry per (row, kind))."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    _quarantined: set[tuple[str, tuple]] = field(default_factory=set)
    _seen: set[tuple[str, tuple, str]] = field(default_factory=set)
    _touched: set[tuple[str, tuple]] = field(default_factory=set)

    def add(
        self,
        table: str,
        key: dict[str, Any],
        kind: str,
        detail: str = "",
        checks: list[str] | None = None,
    ) -> None:
        """Record that row ``key`` of ``table`` carries defect ``kind``."""
        spec = DEFECT_KINDS[kind]
        ident = (table, tuple(key.items()), kind)
        if ident in self._seen:
            return
        self._seen.add(ident)
        self._touched.add((table, tuple(key.items())))
        if spec["quarantine"]:
            self._quarantined.add((table, tuple(key.items())))
        self.entries.append(
            {
                "table": table,
                "key": dict(key),
                "kind": kind,
                "problem": spec["problem"],
                "quarantine": spec["quarantine"],
                "checks": list(checks if checks is not None else spec["checks"]),
                "detail": detail,
            }
        )

    def is_quarantined(self, table: str, key: dict[str, Any]) -> bool:
        """Whether a quarantining defect is already recorded for this row."""
        return (table, tuple(key.items())) in self._quarantined

    def has_any(self, table: str, key: dict[str, Any]) -> bool:
        """Whether any defect (quarantining or not) is recorded for this row."""
        return (table, tuple(key.items())) in self._touched
