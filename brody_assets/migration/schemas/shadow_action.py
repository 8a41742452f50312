"""Shadow-layer (L1) ``action`` schema (spec §2.7-2.10, §2.13-2.16); conventions as in ``shadow_lab``."""

import datajoint as dj

schema = dj.Schema()


@schema
class TechSchedule(dj.Computed):
    definition = """
    scheduleid              : int(10) unsigned  # legacy scheduleid
    ---
    techschedule_date       : date
    day                     : varchar(45)
    overnight               : varchar(200)
    morning                 : varchar(200)
    evening                 : varchar(200)
    """


@schema
class Technotes(dj.Computed):
    definition = """
    technote_id             : int(11) unsigned  # legacy technoteid
    ---
    technote_datetime       : datetime
    technician=null         : varchar(32)
    technote_rat=null       : varchar(8)
    technote_rig=null       : int(3)
    technote_experimenter=null : varchar(32)
    timeslot=null           : tinyint(1)
    technotes_note          : varchar(800)
    flag=null               : int(3)
    """


@schema
class Schedule(dj.Computed):
    definition = """
    schedule_id             : int(10) unsigned  # legacy schedentryid
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
class CalibrationInfoTbl(dj.Computed):
    definition = """
    calibration_info_tbl_id : int(10) unsigned  # legacy calibrationid
    ---
    rigid                   : int(3)
    calibration_datetime    : datetime
    open_valve_time         : double
    calibration_person      : varchar(32)
    valve                   : varchar(15)
    dispense                : double
    isvalid                 : tinyint(1)
    target                  : varchar(10)
    """


@schema
class Mass(dj.Computed):
    definition = """
    mass_id                 : int(10) unsigned  # legacy weighing
    ---
    ratname                 : varchar(8)
    weigh_person            : varchar(32)
    weighing_datetime       : datetime
    mass=null               : smallint(5)
    """


@schema
class Rigwater(dj.Computed):
    definition = """
    rigwater_id             : int(10) unsigned  # legacy id
    ---
    ratname                 : varchar(8)
    earnedwater_datetime    : datetime
    totalvol                : decimal(10,5)
    trialvol                : decimal(10,5)
    complete                : tinyint(3)
    n_rewarded_trials       : int(5)
    target_percent=null     : decimal(5,2)
    """


@schema
class Surgery(dj.Computed):
    definition = """
    surgery_old_id          : int(11)         # legacy id
    ---
    ratname                 : varchar(8)
    surgery_date            : date
    surgery_starttime       : time
    surgery_stoptime=null   : time
    surgeon                 : varchar(32)
    ratgrams=null           : int(11)
    surgery_type=null       : varchar(100)
    eib_num=null            : varchar(20)
    coordinates=null        : varchar(40)
    brainregions            : varchar(40)
    ketamine=null           : float
    buprenex=null           : float
    surgery_notes=null      : varchar(600)
    bregma=null             : tinyblob
    ia_zero=null            : tinyblob
    angle=0                 : float
    tilt_axis=null          : enum('AP','ML')
    """


@schema
class Water(dj.Computed):
    definition = """
    water_id                : int(11)         # legacy watering
    ---
    ratname                 : varchar(8)
    administration_date     : date
    administration_starttime : time
    administration_stoptime=null : time
    administration_person   : varchar(32)
    volume                  : decimal(6,3)
    percent_bodymass        : decimal(6,3)
    percent_target          : decimal(6,3)
    """
