"""Shadow-layer (L1) ``acquisition`` schema (spec §2.17-2.20); conventions as in ``shadow_lab``.

``SessionProtocolData`` and ``ParsedEvents`` are keyed by the legacy ``sessions.sessid`` (their
upstream key source is legacy ``sessions``). There is no shadow ``BehaviorEvent``.
"""

import datajoint as dj

schema = dj.Schema()


@schema
class SessStarted(dj.Computed):
    definition = """
    sessid                  : int(11)         # legacy sessid
    ---
    session_started_rat     : varchar(8)
    session_started_rigid   : int(3)
    session_date='1000-01-01' : date
    session_starttime='00:00:00' : time
    was_ended=0             : tinyint(1)
    crashed                 : tinyint(3)
    """


@schema
class Sessions(dj.Computed):
    definition = """
    sessid                  : int(11)         # legacy sessid
    ---
    session_rat             : varchar(8)
    session_userid          : varchar(32)
    session_rigid           : int(3)
    session_date='1000-01-01' : date
    session_starttime='00:00:00' : time
    session_endtime='00:00:00' : time
    protocol=''             : varchar(30)
    peh=null                : mediumblob
    n_done_trials=0         : int(11)
    session_comments=null   : varchar(1000)
    settings_file=''        : varchar(200)
    settings_path=''        : varchar(200)
    data_file=''            : varchar(200)
    data_path=''            : varchar(200)
    video_file=''           : varchar(200)
    video_path=''           : varchar(200)
    total_correct=null      : float(2,2)
    right_correct=null      : float(2,2)
    left_correct=null       : float(2,2)
    percent_violations=null : float(2,2)
    protocol_data=null      : mediumblob
    left_pokes=null         : int(10)
    center_pokes=null       : int(10)
    right_pokes=null        : int(10)
    ip_addr=null            : varchar(15)
    foodpuck=0              : tinyint(1)
    """


@schema
class SessionProtocolData(dj.Computed):
    definition = """
    sessid                  : int(11)         # legacy sessions.sessid
    ---
    protocol_data           : mediumblob
    """


@schema
class ParsedEvents(dj.Computed):
    definition = """
    sessid                  : int(11)         # legacy sessions.sessid
    ---
    peh                     : mediumblob
    """
