"""Shadow-layer (L1) ``action`` schema (spec §2.7-2.10, §2.13-2.16); conventions as in ``shadow_lab``."""

import datajoint as dj

from . import new_action as new
from .derive import shadow_definition

schema = dj.Schema()


@schema
class TechSchedule(dj.Computed):
    definition = shadow_definition(
        new.TechSchedule,
        "scheduleid : int(10) unsigned  # legacy scheduleid",
    )


@schema
class Technotes(dj.Computed):
    definition = shadow_definition(
        new.Technotes,
        "technote_id : int(11) unsigned  # legacy technoteid",
    )


@schema
class Schedule(dj.Computed):
    definition = shadow_definition(
        new.Schedule,
        "schedule_id : int(10) unsigned  # legacy schedentryid",
    )


@schema
class CalibrationInfoTbl(dj.Computed):
    definition = shadow_definition(
        new.CalibrationInfoTbl,
        "calibration_info_tbl_id : int(10) unsigned  # legacy calibrationid",
    )


@schema
class Mass(dj.Computed):
    definition = shadow_definition(new.Mass, "mass_id : int(10) unsigned  # legacy weighing")


@schema
class Rigwater(dj.Computed):
    definition = shadow_definition(new.Rigwater, "rigwater_id : int(10) unsigned  # legacy id")


@schema
class Surgery(dj.Computed):
    definition = shadow_definition(new.Surgery, "surgery_old_id : int(11)  # legacy id")


@schema
class Water(dj.Computed):
    definition = shadow_definition(new.Water, "water_id : int(11)  # legacy watering")
