"""``append_days``: the nightly growth of the legacy database.

Adds ``days`` new calendar days after the newest date already present, as the
rigs and technicians would: mass, water, schedule, tech_schedule, rigwater,
technotes, sess_started + sessions + parsed_events for the rats in training
on that newest day.  Only clean rows; ids continue the existing sequences.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from .daily import ActiveRat, DayContext, day_rng, generate_day, render_blobs
from .ddl import schema_name
from .people import Contact
from .resolve import contacts_with_initials, resolve_user
from .tables import Table, new_tables
from .writer import insert_rows, prepare_session

APPENDED = (
    "ratinfo.schedule",
    "ratinfo.tech_schedule",
    "ratinfo.mass",
    "ratinfo.water",
    "ratinfo.rigwater",
    "ratinfo.technotes",
    "bdata.sess_started",
    "bdata.sessions",
    "bdata.parsed_events",
)
DATE_COLUMNS = {
    "ratinfo.mass": "date",
    "ratinfo.water": "date",
    "ratinfo.schedule": "date",
    "ratinfo.tech_schedule": "date",
    "ratinfo.technotes": "datestr",
    "ratinfo.rigwater": "dateval",
    "bdata.sess_started": "sessiondate",
    "bdata.sessions": "sessiondate",
}
ID_COLUMNS = {
    "ratinfo.schedule": "schedentryid",
    "ratinfo.tech_schedule": "scheduleid",
    "ratinfo.mass": "weighing",
    "ratinfo.water": "watering",
    "ratinfo.rigwater": "id",
    "ratinfo.technotes": "technoteid",
    "bdata.sess_started": "sessid",
    "bdata.sessions": "sessid",
}


def _q(cur: Any, sql: str, args: tuple = ()) -> list[tuple]:
    cur.execute(sql, args)
    return list(cur.fetchall())


def _fqn(prefix: str, table: str) -> str:
    schema, name = table.split(".")
    return f"`{schema_name(prefix, schema)}`.`{name}`"


def newest_date(conn: Any, prefix: str) -> dt.date:
    """The newest real date over the daily tables."""
    with conn.cursor() as cur:
        found = [
            _q(cur, f"SELECT MAX(`{col}`) FROM {_fqn(prefix, t)} WHERE `{col}` > '1900-01-01'")[0][
                0
            ]
            for t, col in DATE_COLUMNS.items()
        ]
    return max(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in found if d)


def _context(conn: Any, prefix: str, newest: dt.date) -> tuple[DayContext, list[ActiveRat]]:
    with conn.cursor() as cur:
        contacts = [
            Contact(cid, exp, (email or "").split("@")[0] or None, ini, bool(tech))
            for exp, email, ini, tech, cid in _q(
                cur,
                f"SELECT experimenter, email, initials, tech_afternoon, contactid FROM {_fqn(prefix, 'ratinfo.contacts')} ORDER BY contactid",
            )
        ]
        rigs = [
            r[0]
            for r in _q(cur, f"SELECT rigid FROM {_fqn(prefix, 'ratinfo.riginfo')} ORDER BY rigid")
        ]
        rats = _q(
            cur,
            f"SELECT r.ratname, r.experimenter FROM {_fqn(prefix, 'ratinfo.rats')} r "
            f"JOIN {_fqn(prefix, 'ratinfo.mass')} m ON m.ratname = r.ratname AND m.date = %s "
            f"WHERE r.waterperday < 100 ORDER BY r.internalID",
            (newest,),
        )
        next_ids = {
            t: int(_q(cur, f"SELECT COALESCE(MAX(`{c}`), 0) + 1 FROM {_fqn(prefix, t)}")[0][0])
            for t, c in ID_COLUMNS.items()
        }
        slots = _q(
            cur,
            f"SELECT COALESCE(MAX(timeslot), 3) FROM {_fqn(prefix, 'ratinfo.schedule')} WHERE date = %s AND timeslot <= 127",
            (newest,),
        )[0][0]
        per_tech = _q(
            cur,
            f"SELECT COUNT(*) FROM {_fqn(prefix, 'ratinfo.tech_schedule')} WHERE date = %s",
            (newest,),
        )[0][0]
    next_ids["bdata.sess_started"] = max(
        next_ids["bdata.sess_started"], next_ids.pop("bdata.sessions")
    )
    by_netid = {c.netid: c for c in contacts if c.netid and c.contactid not in (53, 59, 97)}
    active = []
    for name, experimenter in rats:
        netid = resolve_user(contacts, experimenter)
        if name and netid in by_netid:
            active.append(ActiveRat(name, by_netid[netid].experimenter))
    techs = [
        c
        for c in contacts
        if c.is_tech and c.netid and len(contacts_with_initials(contacts, c.initials)) == 1
    ]
    ctx = DayContext(
        rigs=rigs,
        tech_initials=[c.initials for c in techs],
        tech_names=[c.experimenter for c in techs],
        trials=(8, 16),
        next_ids=next_ids,
        per_day={
            "timeslots": int(slots),
            "tech_schedule": max(1, int(per_tech)),
            "water_extra": 0.15,
            "rigwater": 0.25,
            "session": 0.85,
            "technotes": 4,
        },
    )
    return ctx, active


def append_days(
    conn: Any, schema_prefix: str, days: int, seed: int = 7, manifest_path: Path | None = None
) -> dict[str, Any]:
    """Add ``days`` days of clean daily rows after the newest date; returns rows added per table.

    Deterministic given the existing database, ``days`` and ``seed``.  When
    ``manifest_path`` names an existing manifest, its ``row_counts`` and
    ``end_date`` are updated (no defects are added).
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    prepare_session(conn)
    newest = newest_date(conn, schema_prefix)
    ctx, active = _context(conn, schema_prefix, newest)
    tables: dict[str, Table] = {k: v for k, v in new_tables().items() if k in APPENDED}
    for n in range(1, days + 1):
        day = newest + dt.timedelta(days=n)
        generate_day(tables, ctx, day, active, day_rng(seed, day), rig_tables=False)
    render_blobs(tables)
    added = {name: insert_rows(conn, schema_prefix, tables[name]) for name in APPENDED}
    result = {
        "days": days,
        "first_date": (newest + dt.timedelta(days=1)).isoformat(),
        "last_date": (newest + dt.timedelta(days=days)).isoformat(),
        "rows_added": added,
    }
    if manifest_path is not None and Path(manifest_path).exists():
        import json

        from .writer import row_counts

        manifest = json.loads(Path(manifest_path).read_text())
        manifest["row_counts"] = row_counts(conn, schema_prefix)
        manifest["end_date"] = result["last_date"]
        Path(manifest_path).write_text(json.dumps(manifest, indent=1, default=str))
    return result
