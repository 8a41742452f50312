"""New-layer (L2) ``action`` schema: husbandry, schedules and rig calibration.

Spec §2.7-2.10 and §2.13-2.16. MySQL schema ``<new_prefix>action`` (default ``bl_new_action``).
AUTO_INCREMENT keys are declared as the spec says, but the migration always supplies the legacy
id, so no surrogate numbers are generated during migration.
"""

import datajoint as dj

from . import new_lab as lab  # noqa: F401  (used in definitions)
from . import new_subject as subject  # noqa: F401  (used in definitions)

schema = dj.Schema()


@schema
class TechSchedule(dj.Manual):
    """Technician rota per day; legacy ``tech_schedule``."""

    definition = """
    scheduleid              : int(10) auto_increment
    ---
    techschedule_date       : date            # legacy date
    day                     : varchar(45)
    overnight               : varchar(200)
    morning                 : varchar(200)
    evening                 : varchar(200)
    """


@schema
class Technotes(dj.Manual):
    """Technician notes; rat, rig and experimenter are plain text (no foreign keys)."""

    definition = """
    technote_id             : int(11) auto_increment  # legacy technoteid
    ---
    technote_datetime       : datetime        # legacy datestr + timestr
    technician=null         : varchar(32)     # legacy techinitials
    technote_rat=null       : varchar(8)
    technote_rig=null       : int(3)
    technote_experimenter=null : varchar(32)
    timeslot=null           : tinyint(1)
    technotes_note          : varchar(800)    # legacy note (TEXT)
    flag=null               : int(3)
    """


@schema
class Schedule(dj.Manual):
    """Rig schedule entries; legacy ``schedule`` (10 legacy columns dropped)."""

    definition = """
    schedule_id             : int(10) auto_increment  # legacy schedentryid
    ---
    ratname=null            : varchar(30)
    experimenter=null       : varchar(30)
    schedule_date           : date
    schedule_timeslot       : tinyint
    rig                     : int(11)
    instructions=null       : varchar(250)
    schedule_comments=null  : varchar(250)
    """


@schema
class CalibrationInfoTbl(dj.Manual):
    """Water-valve calibrations per rig; legacy ``bdata.calibration_info_tbl``."""

    definition = """
    calibration_info_tbl_id : int(10) auto_increment  # legacy calibrationid
    ---
    -> lab.Riginfo                            # legacy rig_id parsed as an integer
    calibration_datetime    : datetime        # legacy dateval
    open_valve_time         : double          # legacy timeval
    calibration_person      : varchar(32)     # legacy initials, unchanged
    valve                   : varchar(15)
    dispense                : double
    isvalid                 : tinyint(1)
    target                  : varchar(10)
    """


@schema
class Mass(dj.Manual):
    """Rat weighings; legacy ``mass``."""

    definition = """
    mass_id                 : int(10) auto_increment  # legacy weighing
    ---
    -> subject.Rats
    weigh_person            : varchar(32)     # netID of the unique contact with the legacy initials
    weighing_datetime       : datetime        # legacy date + timeval
    mass=null               : smallint(5)
    """


@schema
class Rigwater(dj.Manual):
    """Water earned on the rig per session day; legacy ``rigwater``."""

    definition = """
    rigwater_id             : int(10) auto_increment  # legacy id
    ---
    -> subject.Rats
    earnedwater_datetime    : datetime        # legacy dateval at midnight
    totalvol                : decimal(10,5)
    trialvol                : decimal(10,5)
    complete                : tinyint(3)
    n_rewarded_trials       : int(5)
    target_percent=null     : decimal(5,2)
    """


@schema
class Surgery(dj.Manual):
    """Surgeries, keyed by rat, date and start time; legacy ``surgery``."""

    definition = """
    -> subject.Rats
    surgery_date            : date
    surgery_starttime       : time
    ---
    surgery_old_id          : int(11)         # legacy id
    surgery_stoptime=null   : time            # legacy endtime
    surgeon                 : varchar(32)     # free text
    ratgrams=null           : int(11)
    surgery_type=null       : varchar(100)
    eib_num=null            : varchar(20)
    coordinates=null        : varchar(40)
    brainregions            : varchar(40)
    ketamine=null           : float
    buprenex=null           : float
    surgery_notes=null      : varchar(600)    # legacy notes (TEXT)
    bregma=null             : tinyblob        # legacy Bregma text, DataJoint-serialized
    ia_zero=null            : tinyblob        # legacy IA0 text, DataJoint-serialized
    angle=0                 : float
    tilt_axis=null          : enum('AP','ML')
    """


@schema
class Water(dj.Manual):
    """Water administered by technicians; legacy ``water``."""

    definition = """
    water_id                : int(11)         # legacy watering
    ---
    -> subject.Rats                           # legacy rat
    administration_date     : date
    administration_starttime : time
    administration_stoptime=null : time
    administration_person   : varchar(32)     # legacy tech initials, unchanged
    volume                  : decimal(6,3)
    percent_bodymass        : decimal(6,3)
    percent_target          : decimal(6,3)
    """
