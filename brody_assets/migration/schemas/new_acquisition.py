"""New-layer (L2) ``acquisition`` schema: behaviour sessions and their event data.

Spec §2.17-2.21. MySQL schema ``<new_prefix>acquisition`` (default ``bl_new_acquisition``).

``BehaviorEvent`` (MySQL ``__behavior_event``) is a Computed table whose key source is
``ParsedEvents``. It deliberately has **no** ``make``: the migration engine fills it with one
set-based ``INSERT`` per session (spec §3.7), not through ``populate()``. Calling
``BehaviorEvent.populate()`` therefore fails with DataJoint's own "must implement make" error.
"""

import datajoint as dj

from . import new_lab as lab  # noqa: F401  (used in definitions)
from . import new_subject as subject  # noqa: F401  (used in definitions)

schema = dj.Schema()


@schema
class SessStarted(dj.Manual):
    """Session-start records written by the rigs; legacy ``bdata.sess_started``."""

    definition = """
    sessid                  : int(11)
    ---
    -> subject.Rats.proj(session_started_rat='ratname')
    -> lab.Riginfo.proj(session_started_rigid='rigid')   # rigid, or parsed from hostname
    session_date='1000-01-01' : date          # legacy sessiondate
    session_starttime='00:00:00' : time       # legacy starttime
    was_ended=0             : tinyint(1)
    crashed                 : tinyint(3)
    """


@schema
class Sessions(dj.Manual):
    """Completed behaviour sessions; legacy ``bdata.sessions``."""

    definition = """
    -> SessStarted
    ---
    -> subject.Rats.proj(session_rat='ratname')
    -> lab.Contacts.proj(session_userid='user_id')     # from legacy experimenter
    -> lab.Riginfo.proj(session_rigid='rigid')         # from legacy hostname
    session_date='1000-01-01' : date
    session_starttime='00:00:00' : time
    session_endtime='00:00:00' : time
    protocol=''             : varchar(30)
    peh=null                : mediumblob      # never filled: see ParsedEvents
    n_done_trials=0         : int(11)
    session_comments=null   : varchar(1000)   # legacy comments
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
    protocol_data=null      : mediumblob      # never filled: see SessionProtocolData
    left_pokes=null         : int(10)
    center_pokes=null       : int(10)
    right_pokes=null        : int(10)
    ip_addr=null            : varchar(15)     # legacy IP_addr
    foodpuck=0              : tinyint(1)
    """


@schema
class SessionProtocolData(dj.Manual):
    """Per-session protocol settings, decoded from the legacy mYm blob to a Python-native blob."""

    definition = """
    -> Sessions
    ---
    protocol_data           : mediumblob
    """


@schema
class ParsedEvents(dj.Manual):
    """Per-session parsed events history: a list of flattened per-trial records (spec §2.20)."""

    definition = """
    -> Sessions
    ---
    peh                     : mediumblob
    """


@schema
class BehaviorEvent(dj.Computed):
    """One row per poke/state/wave event of a session, expanded from ParsedEvents (spec §3.7).

    Filled by the migration engine (one INSERT per session); this class declares no ``make``.
    """

    definition = """
    -> ParsedEvents
    id_event                : int(11)
    ---
    trial                   : int(10)         # 1-based trial number
    event_type              : varchar(16)     # e.g. pokes, states, waves
    event_name              : varchar(32)     # e.g. C, state_0
    entry_num               : int(10)         # 1-based occurrence within (column, trial)
    in_time=null            : double
    out_time=null           : double
    """

    @property
    def key_source(self):
        """Sessions with parsed events (explicit, so it does not depend on DataJoint's default)."""
        return ParsedEvents().proj()
