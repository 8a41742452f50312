"""Sizes of the synthetic legacy database.

``small`` is for tests (a whole build in a few seconds).  ``lab`` is one tenth
of the real lab's volumes as given by the auto-increment counters of the legacy
DDL (spec §2); contacts, riginfo, training_room and surgery keep their full
sizes at every scale because the spec names specific ids in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scale:
    """Knobs of one build size (all counts are per calendar day unless stated)."""

    name: str
    days: int
    rats: int  # clean rats (defect rats come on top)
    active_per_day: float  # mean number of rats in training on a day
    water_extra_rate: float  # extra administrations per rat-day
    session_rate: float  # sessions per rat-day
    rigwater_rate: float  # rigwater rows per rat-day
    timeslots: int  # schedule timeslots per rig and day
    tech_schedule_per_day: int
    technotes_per_day: int
    rigflush_per_day: int
    rigfood_per_day: int
    calibration_per_day: int
    rig_maintenance_rows: int  # spread over the whole window
    rat_history_edits: int  # mean audit-log updates per rat after its insert row
    trials: tuple[int, int]  # trials per session (min, max)
    defect_factor: int  # multiplier of the per-kind defect counts
    first_ids: dict[str, int] = field(default_factory=dict)  # first id per table


SCALES: dict[str, Scale] = {
    "small": Scale(
        name="small",
        days=20,
        rats=40,
        active_per_day=24,
        water_extra_rate=0.15,
        session_rate=0.85,
        rigwater_rate=0.25,
        timeslots=3,
        tech_schedule_per_day=3,
        technotes_per_day=4,
        rigflush_per_day=4,
        rigfood_per_day=1,
        calibration_per_day=5,
        rig_maintenance_rows=780,
        rat_history_edits=3,
        trials=(12, 30),
        defect_factor=1,
        first_ids={
            "ratinfo.water": 455400,
            "ratinfo.schedule": 136100,
            "bdata.calibration_info_tbl": 76600,
            "bdata.sess_started": 880000,
        },
    ),
    "lab": Scale(
        name="lab",
        days=930,
        rats=330,
        active_per_day=100,
        water_extra_rate=0.15,
        session_rate=0.85,
        rigwater_rate=0.24,
        timeslots=3,
        tech_schedule_per_day=186,
        technotes_per_day=4,
        rigflush_per_day=4,
        rigfood_per_day=1,
        calibration_per_day=8,
        rig_maintenance_rows=800,
        rat_history_edits=3,
        trials=(8, 16),
        defect_factor=5,
        first_ids={
            "ratinfo.water": 400000,
            "ratinfo.schedule": 120000,
            "bdata.calibration_info_tbl": 69000,
            "bdata.sess_started": 820000,
        },
    ),
}


def get_scale(name: str) -> Scale:
    """The :class:`Scale` called ``name``; ``ValueError`` naming the valid ones otherwise."""
    try:
        return SCALES[name]
    except KeyError:
        valid = ", ".join(sorted(SCALES))
        raise ValueError(f"unknown scale {name!r}; valid scales: {valid}") from None
