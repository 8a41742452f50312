"""Injection of the spec §5 data defects into the generated rows.

Each ``_inject_*`` function turns a few clean rows into defect rows (or adds
rows) and records them in the :class:`Ledger`; :func:`cascade` then records
every row that becomes unmigratable because a parent row is quarantined.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from .defects import Ledger
from .people import SHARED_INITIALS, UNKNOWN_INITIALS, Contact
from .resolve import contacts_with_initials
from .tables import Table

ZERO_DATE = "0000-00-00"
ZERO_DATETIME = "0000-00-00 00:00:00"


class Injector:
    """Picks clean rows deterministically and records what it does to them."""

    def __init__(
        self,
        t: dict[str, Table],
        ledger: Ledger,
        rng: random.Random,
        factor: int,
        clean_rats: set[str],
    ):
        self.t, self.ledger, self.rng, self.factor, self.clean_rats = (
            t,
            ledger,
            rng,
            factor,
            clean_rats,
        )

    def n(self, base: int) -> int:
        """Scaled count of a defect kind."""
        return base * self.factor

    def pick(
        self,
        table: str,
        count: int,
        rat_col: str | None = None,
        where: Callable[[list[Any]], bool] | None = None,
    ) -> list[list[Any]]:
        """``count`` untouched rows of ``table`` (of clean rats when ``rat_col`` is given)."""
        tab = self.t[table]
        pool = [
            r
            for r in tab.rows
            if not self.ledger.has_any(table, tab.key_of(r))
            and (rat_col is None or tab.get(r, rat_col) in self.clean_rats)
            and (where is None or where(r))
        ]
        return self.rng.sample(pool, min(count, len(pool)))

    def by_id(self, table: str, ident: int, template: list[Any]) -> list[Any]:
        """The row with primary key ``ident`` or, when the scale has no such id, a copy of
        ``template`` appended with the next id."""
        tab = self.t[table]
        col = tab.key[0]
        for r in tab.rows:
            if tab.get(r, col) == ident:
                return r
        row = list(template)
        tab.set(row, col, max(tab.get(r, col) for r in tab.rows) + 1)
        tab.rows.append(row)
        return row

    def append_copy(self, table: str, template: list[Any]) -> list[Any]:
        """A copy of ``template`` appended with the next id."""
        tab = self.t[table]
        col = tab.key[0]
        row = list(template)
        tab.set(row, col, max(tab.get(r, col) for r in tab.rows) + 1)
        tab.rows.append(row)
        return row

    def mark(self, table: str, row: list[Any], kind: str, detail: str = "") -> None:
        """Record defect ``kind`` on ``row``."""
        self.ledger.add(table, self.t[table].key_of(row), kind, detail)


def inject_activity(inj: Injector, contacts: list[Contact]) -> None:
    """Defects in mass, water, rigwater, schedule, tech_schedule, technotes and the rig tables."""
    t = inj.t
    mass = t["ratinfo.mass"]
    shared = sorted(SHARED_INITIALS)
    for k, row in enumerate(inj.pick("ratinfo.mass", inj.n(9), "ratname")):
        ini = shared[k % len(shared)]
        mass.set(row, "tech", ini)
        inj.mark(
            "ratinfo.mass",
            row,
            "mass_tech_ambiguous",
            f"tech {ini!r} matches {len(contacts_with_initials(contacts, ini))} contacts",
        )
    for k, row in enumerate(inj.pick("ratinfo.mass", inj.n(4), "ratname")):
        ini = UNKNOWN_INITIALS[k % len(UNKNOWN_INITIALS)]
        mass.set(row, "tech", ini)
        inj.mark("ratinfo.mass", row, "mass_tech_unknown", f"tech {ini!r} matches 0 contacts")
    used: set[str] = set()
    for row in inj.pick("ratinfo.mass", inj.n(6), "ratname"):
        name = mass.get(row, "ratname")
        if name in used or len(used) >= 3:
            continue
        used.add(name)
        mass.set(row, "date", ZERO_DATE)
        inj.mark("ratinfo.mass", row, "mass_date_zero", "date 0000-00-00")
    for row in inj.pick("ratinfo.mass", inj.n(5), "ratname"):
        mass.set(row, "timeval", dt.timedelta(0))
        inj.mark("ratinfo.mass", row, "mass_time_zero", "timeval 00:00:00")
    mass_orphans = ("TANK", "M084", "U001", "E057", "   0", "J288", "F100")
    for k, row in enumerate(inj.pick("ratinfo.mass", inj.n(5), "ratname")):
        name = mass_orphans[k % len(mass_orphans)]
        if any(
            mass.get(r, "ratname") == name and mass.get(r, "date") == mass.get(row, "date")
            for r in mass.rows
        ):
            continue
        mass.set(row, "ratname", name)
        inj.mark("ratinfo.mass", row, "mass_rat_orphan", f"rat {name!r} not in rats")

    water = t["ratinfo.water"]
    template = water.rows[0]
    for ident in (455474, 455475, 455476, 455477, 455479):
        row = inj.by_id("ratinfo.water", ident, template)
        for col, value in (
            ("date", ZERO_DATE),
            ("rat", ""),
            ("tech", None),
            ("starttime", None),
            ("stoptime", None),
            ("volume", "0.000"),
            ("percent_bodymass", "0.000"),
            ("percent_target", "0.000"),
        ):
            water.set(row, col, value)
        inj.mark(
            "ratinfo.water",
            row,
            "water_date_zero",
            "date 0000-00-00, empty rat, NULL tech, zero volumes",
        )
    for row in inj.pick("ratinfo.water", inj.n(3), "rat"):
        water.set(row, "starttime", None)
        inj.mark("ratinfo.water", row, "water_starttime_null", "starttime NULL")
    for row in inj.pick("ratinfo.water", inj.n(3), "rat"):
        water.set(row, "tech", None)
        inj.mark("ratinfo.water", row, "water_tech_null", "tech NULL")
    for k, row in enumerate(inj.pick("ratinfo.water", inj.n(3), "rat")):
        ini = ("FW", "XQ", "TB")[k % 3]
        water.set(row, "tech", ini)
        inj.mark(
            "ratinfo.water", row, "water_tech_not_in_contacts", f"tech {ini!r} matches no contact"
        )
    water_orphans = ("U001", "U002", "BROK", "TANK", "0014", "`", "U003", "CO64")
    for k, row in enumerate(inj.pick("ratinfo.water", inj.n(5), "rat")):
        name = water_orphans[k % len(water_orphans)]
        water.set(row, "rat", name)
        inj.mark("ratinfo.water", row, "water_rat_orphan", f"rat {name!r} not in rats")
    for row in inj.pick("ratinfo.water", inj.n(3), "rat"):
        for col in ("volume", "percent_bodymass", "percent_target"):
            water.set(row, col, "0.000")
        copy = inj.append_copy("ratinfo.water", row)
        for r in (row, copy):
            inj.mark(
                "ratinfo.water",
                r,
                "water_repeated_zero_volume",
                f"repeat of {water.get(row, 'rat')} {water.get(row, 'date')} {water.get(row, 'starttime')}",
            )

    rigwater = t["ratinfo.rigwater"]
    for k, row in enumerate(inj.pick("ratinfo.rigwater", inj.n(4), "ratname")):
        bad = ("2017-05-00", "2017-01-00", "2016-12-00", ZERO_DATE)[k % 4]
        rigwater.set(row, "dateval", bad)
        inj.mark("ratinfo.rigwater", row, "rigwater_date_invalid", f"dateval {bad}")
    for k, row in enumerate(inj.pick("ratinfo.rigwater", inj.n(4), "ratname")):
        name = ("X000", "Z999", "BROK", "ratn", "F084", "K999")[k % 6]
        rigwater.set(row, "ratname", name)
        inj.mark("ratinfo.rigwater", row, "rigwater_rat_orphan", f"rat {name!r} not in rats")

    schedule = t["ratinfo.schedule"]
    zero_slots: set[tuple[int, int]] = set()
    for ident in (136150, 136151, 136152, 136153, 136154, 220996, 221001, 221063):
        row = inj.by_id("ratinfo.schedule", ident, schedule.rows[-1])
        while (schedule.get(row, "rig"), schedule.get(row, "timeslot")) in zero_slots:
            schedule.set(row, "timeslot", schedule.get(row, "timeslot") + 10)
        zero_slots.add((schedule.get(row, "rig"), schedule.get(row, "timeslot")))
        schedule.set(row, "date", ZERO_DATE)
        inj.mark("ratinfo.schedule", row, "schedule_date_zero", "date 0000-00-00")
    for row in inj.pick("ratinfo.schedule", inj.n(2)):
        schedule.set(row, "timeslot", 200)
        inj.mark("ratinfo.schedule", row, "schedule_timeslot_too_wide", "timeslot 200 > 127")

    tech = t["ratinfo.tech_schedule"]
    row = inj.by_id("ratinfo.tech_schedule", 810, tech.rows[-1])
    tech.set(row, "date", ZERO_DATE)
    inj.mark("ratinfo.tech_schedule", row, "tech_schedule_date_zero", "date 0000-00-00")

    notes = t["ratinfo.technotes"]
    for k, row in enumerate(inj.pick("ratinfo.technotes", inj.n(2))):
        notes.set(row, ("datestr", "timestr")[k % 2], None)
        inj.mark(
            "ratinfo.technotes",
            row,
            "technote_datetime_missing",
            ("datestr", "timestr")[k % 2] + " NULL",
        )
    for row in inj.pick("ratinfo.technotes", inj.n(2)):
        notes.set(row, "note", "Rat looked lethargic; " * 45)
        inj.mark("ratinfo.technotes", row, "technote_note_too_wide", "note > 800 characters")
    for row in inj.pick("ratinfo.technotes", inj.n(2)):
        notes.set(row, "techinitials", "ZQ")
        inj.mark(
            "ratinfo.technotes",
            row,
            "technote_tech_not_in_contacts",
            "techinitials 'ZQ' match no contact",
        )

    for row in inj.pick("ratinfo.rigfood", inj.n(2)):
        t["ratinfo.rigfood"].set(row, "rigid", 255)
        inj.mark("ratinfo.rigfood", row, "rigfood_rig_orphan", "rigid 255")

    maint = t["ratinfo.rig_maintenance"]
    orphan_rigs = [303] + list(range(305, 324)) + list(range(325, 334)) + [335, 336]
    for k, row in enumerate(
        inj.pick(
            "ratinfo.rig_maintenance",
            inj.n(6),
            where=lambda r: maint.get(r, "maintenance_id") != 774,
        )
    ):
        maint.set(row, "rigid", orphan_rigs[(k * 7) % len(orphan_rigs)])
        inj.mark(
            "ratinfo.rig_maintenance",
            row,
            "rig_maintenance_rig_orphan",
            f"rigid {maint.get(row, 'rigid')}",
        )
    for k, row in enumerate(
        inj.pick(
            "ratinfo.rig_maintenance",
            inj.n(2),
            where=lambda r: maint.get(r, "maintenance_id") != 774,
        )
    ):
        maint.set(row, ("note", "fix_note")[k % 2], "Valve replaced after repeated leaks. " * 16)
        inj.mark(
            "ratinfo.rig_maintenance",
            row,
            "rig_maintenance_note_too_wide",
            ("note", "fix_note")[k % 2] + " > 500 characters",
        )
    row = inj.by_id("ratinfo.rig_maintenance", 774, maint.rows[-1])
    maint.set(row, "fix_date", ZERO_DATETIME)
    inj.mark("ratinfo.rig_maintenance", row, "rig_maintenance_zero_datetime", "fix_date zero")
    for row in inj.pick("ratinfo.rig_maintenance", 2):
        maint.set(row, "broke_date", ZERO_DATETIME)
        maint.set(row, "fix_date", ZERO_DATETIME)
        inj.mark(
            "ratinfo.rig_maintenance",
            row,
            "rig_maintenance_zero_datetime",
            "broke_date and fix_date zero",
        )

    cal = t["bdata.calibration_info_tbl"]
    for k, row in enumerate(inj.pick("bdata.calibration_info_tbl", inj.n(4))):
        cal.set(row, "rig_id", ("44", "999")[k % 2])
        inj.mark(
            "bdata.calibration_info_tbl",
            row,
            "calibration_rig_orphan",
            f"rig_id {cal.get(row, 'rig_id')}",
        )
    for value in ("", "NaN", "r7"):
        row = inj.pick("bdata.calibration_info_tbl", 1)[0]
        cal.set(row, "rig_id", value)
        inj.mark(
            "bdata.calibration_info_tbl", row, "calibration_rig_id_not_numeric", f"rig_id {value!r}"
        )
    row = inj.by_id("bdata.calibration_info_tbl", 76687, cal.rows[-1])
    cal.set(row, "dateval", ZERO_DATETIME)
    cal.set(row, "rig_id", "401")
    inj.mark(
        "bdata.calibration_info_tbl", row, "calibration_dateval_zero", "dateval zero, rig_id 401"
    )
