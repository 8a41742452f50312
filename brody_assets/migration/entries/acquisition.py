"""Acquisition family (spec §2.17-2.21): session starts, sessions, their blobs, behavior events."""

from __future__ import annotations

from brody_assets.migration.registry import Parent, Reject, TableEntry

from .common import contact_parent, keyed, rat_parent, rig_parent, same
from .rules import (
    by_experimenter,
    decimal_parses,
    has_rig_text,
    invalid_date,
    rig_number,
    rig_parses,
    too_long_rule,
    unique_netid,
)

_HOST = "l.`hostname`"
# §2.17: rigid, or when rigid = 0 and a hostname exists: RigNN -> NN, else the number it holds.
_NEEDS_HOST = f"(l.`rigid` = 0 AND {_HOST} IS NOT NULL)"
_HOST_OK = f"IF({has_rig_text(_HOST)}, {rig_parses(_HOST)}, {decimal_parses(_HOST)})"
_HOST_RIG = f"IF({has_rig_text(_HOST)}, {rig_number(_HOST)}, TRUNCATE(CAST(TRIM({_HOST}) AS DOUBLE), 0))"

SESS_STARTED = keyed(
    "acquisition.sess_started", "SessStarted", "bdata.sess_started", ("sessid", "sessid", "sessid"),
    {
        "sessid": "l.`sessid`",
        "session_started_rat": "l.`ratname`",
        "session_started_rigid": f"IF({_NEEDS_HOST}, {_HOST_RIG}, l.`rigid`)",
        "session_date": "COALESCE(l.`sessiondate`, '1000-01-01')",
        "session_starttime": "COALESCE(l.`starttime`, '00:00:00')",
        "was_ended": "COALESCE(l.`was_ended`, 0)",
        "crashed": "l.`crashed`",
    },
    rejects=(
        Reject("missing_value", "l.`ratname` IS NULL", "'ratname is NULL'", 9),
        too_long_rule("ratname", 8, "session_started_rat varchar(8)"),
        Reject("unparsable_rig", f"{_NEEDS_HOST} AND NOT {_HOST_OK}",
               f"CONCAT('rigid 0 and hostname ', QUOTE({_HOST}), ' yields no rig number')", 26),
        Reject("zero_date", invalid_date("l.`sessiondate`"), "CONCAT('sessiondate ', CAST(l.`sessiondate` AS CHAR))", 15),
        Reject("too_wide", "l.`crashed` > 127", "CONCAT('crashed ', l.`crashed`, ' does not fit tinyint(3)')", 22),
    ),
    parents=(rat_parent("session_started_rat"), rig_parent("session_started_rigid")),
    date_column="sessiondate",
    description="A row per behaviour session as it starts on a rig.",
)

SESSIONS = keyed(
    "acquisition.sessions", "Sessions", "bdata.sessions", ("sessid", "sessid", "sessid"),
    {
        "sessid": "l.`sessid`",
        "session_rat": "l.`ratname`",
        "session_userid": unique_netid("ce"),
        "session_rigid": rig_number(_HOST),
        "session_date": "l.`sessiondate`",
        "session_starttime": "l.`starttime`",
        "session_endtime": "l.`endtime`",
        "session_comments": "l.`comments`",
        **same("protocol", "n_done_trials", "settings_file", "settings_path", "data_file", "data_path",
               "video_file", "video_path", "total_correct", "right_correct", "left_correct",
               "percent_violations", "left_pokes", "center_pokes", "right_pokes"),
        "ip_addr": "l.`IP_addr`",
        "foodpuck": "COALESCE(l.`foodpuck`, 0)",
    },
    joins=(by_experimenter("ce"),),
    rejects=(
        Reject("ambiguous_contact", "ce.n > 1",
               "CONCAT('experimenter ', QUOTE(l.`experimenter`), ' matches ', ce.n, ' contacts')", 2),
        Reject("unresolved_contact", "ce.n IS NULL OR ce.no_email > 0",
               "CONCAT('experimenter ', QUOTE(l.`experimenter`), IF(ce.n IS NULL, ' matches no contact', "
               "' is a contact without email'))", 3),
        Reject("unparsable_rig", f"NOT {rig_parses(_HOST)}",
               f"CONCAT('hostname ', IFNULL(QUOTE({_HOST}), 'NULL'), ' yields no rig number')", 26),
        too_long_rule("ratname", 8, "session_rat varchar(8)"),
        Reject("zero_date", invalid_date("l.`sessiondate`"), "CONCAT('sessiondate ', CAST(l.`sessiondate` AS CHAR))", 15),
        Reject("too_wide", "GREATEST(IFNULL(l.`left_pokes`, 0), IFNULL(l.`center_pokes`, 0), "
               "IFNULL(l.`right_pokes`, 0)) > 2147483647", "'a poke count does not fit int(10)'", 23),
    ),
    parents=(
        Parent("acquisition.sess_started", (("sessid", "sessid"),), "s.`sessid`"),
        rat_parent("session_rat"),
        contact_parent("session_userid"),
        rig_parent("session_rigid"),
    ),
    date_column="sessiondate",
    lookups=("ratinfo.contacts",),
    description="Behaviour sessions: rat, experimenter, rig, protocol, performance, settings.",
)

_SESSION_PARENT = Parent("acquisition.sessions", (("sessid", "sessid"),), "s.`sessid`")

SESSION_PROTOCOL_DATA = TableEntry(
    name="acquisition.session_protocol_data",
    new_class="SessionProtocolData",
    legacy="bdata.sessions",
    legacy_key=("sessid",),
    columns={"sessid": "l.`sessid`", "protocol_data": "l.`protocol_data`"},
    match=(("sessid", "sessid", "l.`sessid`"),),
    source="(SELECT sessid, protocol_data FROM {L:bdata.sessions} WHERE protocol_data IS NOT NULL) AS l",
    parents=(_SESSION_PARENT,),
    sessid_chunks=True,
    kind="python",
    transform="brody_assets.migration.engine.blobs:transform_protocol_data",
    shadow_id="s.`sessid`",
    shadow_key_json="JSON_OBJECT('sessid', s.`sessid`)",
    description="Per-session protocol settings, decoded from the legacy mYm blob.",
)

PARSED_EVENTS = TableEntry(
    name="acquisition.parsed_events",
    new_class="ParsedEvents",
    legacy="bdata.parsed_events",
    legacy_key=("sessid",),
    columns={"sessid": "l.`sessid`", "peh": "l.`peh`"},
    match=(("sessid", "sessid", "l.`sessid`"),),
    source="{L:bdata.parsed_events} AS l",
    parents=(_SESSION_PARENT,),
    sessid_chunks=True,
    kind="python",
    transform="brody_assets.migration.engine.blobs:transform_parsed_events",
    shadow_id="s.`sessid`",
    shadow_key_json="JSON_OBJECT('sessid', s.`sessid`)",
    description="Per-session parsed events history, flattened per trial.",
)

BEHAVIOR_EVENT = TableEntry(
    name="acquisition.behavior_event",
    new_class="BehaviorEvent",
    legacy="bdata.parsed_events",
    legacy_key=("sessid",),
    parents=(Parent("acquisition.parsed_events", (("sessid", "sessid"),), "s.`sessid`"),),
    sessid_chunks=True,
    kind="computed",
    transform="brody_assets.migration.engine.events:behavior_event_rows",
    description="One row per poke/state/wave event, expanded from parsed events (spec §3.7).",
)

ACQUISITION = (SESS_STARTED, SESSIONS, SESSION_PROTOCOL_DATA, PARSED_EVENTS, BEHAVIOR_EVENT)
__all__ = ["ACQUISITION", "contact_parent"]
