"""Helpers for the SENSOR engineer's tests: migrated lab/subject/acquisition rows on the test server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from brody_assets.migration.schemas.naming import schema_name


def seed_people_and_sessions(
    conn,
    new_prefix: str,
    contacts: Iterable[tuple[str, str]],
    rats: Iterable[tuple[str, str]],
    sessions: Sequence[tuple[int, str, str, dt.date, str]],
) -> None:
    """Insert contacts (user_id, experimenter), rats (ratname, owner user_id) and sessions
    (sessid, ratname, user_id, date, 'HH:MM:SS') into the declared new-layer tables."""
    lab, subject = schema_name(new_prefix, "lab"), schema_name(new_prefix, "subject")
    acq = schema_name(new_prefix, "acquisition")
    with conn.cursor() as cur:
        cur.execute(f"INSERT IGNORE INTO `{lab}`.riginfo (rigid, rigname) VALUES (1, '')")
        for i, (user_id, experimenter) in enumerate(contacts):
            cur.execute(
                f"INSERT INTO `{lab}`.contacts (user_id, contacts_old_id, experimenter) VALUES (%s,%s,%s)",
                (user_id, 1000 + i, experimenter),
            )
        for i, (ratname, owner) in enumerate(rats):
            cur.execute(
                f"INSERT INTO `{subject}`.rats (ratname, user_id, rats_old_id) VALUES (%s,%s,%s)",
                (ratname, owner, 5000 + i),
            )
        for sessid, ratname, user_id, date, start in sessions:
            cur.execute(
                f"INSERT INTO `{acq}`.sess_started (sessid, session_started_rat, session_started_rigid,"
                " session_date, session_starttime, crashed) VALUES (%s,%s,1,%s,%s,0)",
                (sessid, ratname, date, start),
            )
            cur.execute(
                f"INSERT INTO `{acq}`.sessions (sessid, session_rat, session_userid, session_rigid,"
                " session_date, session_starttime) VALUES (%s,%s,%s,1,%s,%s)",
                (sessid, ratname, user_id, date, start),
            )
    conn.commit()
