"""Defect injection in surgeries and in the session tables (sess_started, sessions, parsed_events)."""

from __future__ import annotations

import datetime as dt

from . import mym
from .inject import ZERO_DATE, Injector


def inject_surgery(inj: Injector) -> None:
    """Zero dates, W055/W009 duplicates, orphans, NULL/too-wide surgeons, long notes, odd times."""
    s = inj.t["ratinfo.surgery"]
    rows = {s.get(r, "id"): r for r in s.rows}
    for ident in (1, 2, 56, 115, 117, 119, 120, 163, 192, 229, 230, 231):
        s.set(rows[ident], "date", ZERO_DATE)
        inj.mark("ratinfo.surgery", rows[ident], "surgery_date_zero", "date 0000-00-00")
    for ratname in ("W055", "W009"):
        first = next(
            r
            for r in s.rows
            if s.get(r, "ratname") == ratname
            and not inj.ledger.has_any("ratinfo.surgery", s.key_of(r))
        )
        for dup in inj.pick(
            "ratinfo.surgery", 2, where=lambda r, n=ratname: s.get(r, "ratname") != n
        ):
            for col in ("ratname", "date", "starttime"):
                s.set(dup, col, s.get(first, col))
            inj.mark(
                "ratinfo.surgery",
                dup,
                "surgery_duplicate_natural_key",
                f"same (ratname, date, starttime) as surgery id {s.get(first, 'id')}",
            )
            inj.ledger._touched.add(("ratinfo.surgery", tuple(s.key_of(first).items())))
    for name in ("T09", "Z58", "Z60", "A280"):
        row = inj.pick("ratinfo.surgery", 1, "ratname")[0]
        s.set(row, "ratname", name)
        inj.mark("ratinfo.surgery", row, "surgery_rat_orphan", f"rat {name!r} not in rats")
    for row in inj.pick("ratinfo.surgery", 2, "ratname"):
        s.set(row, "surgeon", None)
        inj.mark("ratinfo.surgery", row, "surgery_surgeon_null", "surgeon NULL")
    row = inj.pick("ratinfo.surgery", 1, "ratname")[0]
    s.set(row, "surgeon", "Dr. Maximiliana Featherstonehaugh-Smythe")
    inj.mark("ratinfo.surgery", row, "surgery_surgeon_too_wide", "surgeon > 32 characters")
    for row in inj.pick("ratinfo.surgery", 2, "ratname"):
        s.set(
            row, "notes", "Craniotomy over target; dura intact; implant secured with cement. " * 10
        )
        inj.mark("ratinfo.surgery", row, "surgery_notes_too_wide", "notes > 600 characters")
    for k, row in enumerate(inj.pick("ratinfo.surgery", 3, "ratname")):
        odd = dt.timedelta(seconds=(4, 11, 0)[k])
        s.set(row, "starttime", odd)
        s.set(row, "endtime", dt.timedelta(0))
        inj.mark("ratinfo.surgery", row, "surgery_time_odd", f"starttime {odd}, endtime 00:00:00")


def inject_sessions(inj: Injector) -> None:
    """sess_started / sessions / parsed_events defects."""
    t = inj.t
    ss, se, pe = t["bdata.sess_started"], t["bdata.sessions"], t["bdata.parsed_events"]
    for row in inj.pick("bdata.sess_started", inj.n(2), "ratname"):
        ss.set(row, "rigid", 0)
        ss.set(row, "hostname", "bdata-pc")
        inj.mark(
            "bdata.sess_started",
            row,
            "sess_started_rig_unresolvable",
            "rigid 0, hostname 'bdata-pc'",
        )
    for row in inj.pick("bdata.sess_started", inj.n(2), "ratname"):
        ss.set(row, "ratname", None)
        inj.mark("bdata.sess_started", row, "sess_started_ratname_null", "ratname NULL")
    bad_started = {
        ss.get(r, "sessid")
        for r in ss.rows
        if inj.ledger.has_any("bdata.sess_started", ss.key_of(r))
    }
    ok = lambda r: se.get(r, "sessid") not in bad_started  # noqa: E731
    for row in inj.pick("bdata.sessions", inj.n(2), "ratname", ok):
        se.set(row, "experimenter", "Alex")
        inj.mark(
            "bdata.sessions",
            row,
            "session_experimenter_ambiguous",
            "experimenter 'Alex' matches 2 contacts",
        )
    for row in inj.pick("bdata.sessions", inj.n(2), "ratname", ok):
        se.set(row, "experimenter", "Chuckles")
        inj.mark(
            "bdata.sessions",
            row,
            "session_experimenter_unresolvable",
            "experimenter 'Chuckles' matches no contact",
        )
    for row in inj.pick("bdata.sessions", inj.n(2), "ratname", ok):
        se.set(row, "hostname", "scratch")
        inj.mark("bdata.sessions", row, "session_hostname_unresolvable", "hostname 'scratch'")
    for row in inj.pick("bdata.sessions", inj.n(3), "ratname", ok):
        se.set(row, "protocol_data", None)
        inj.mark("bdata.sessions", row, "session_protocol_data_null", "protocol_data NULL")
    missing = {se.get(r, "sessid") for r in inj.pick("bdata.sessions", inj.n(2), "ratname", ok)}
    for sessid in sorted(missing):
        inj.ledger.add(
            "bdata.sessions",
            {"sessid": sessid},
            "session_without_parsed_events",
            "no parsed_events row",
        )
    pe.rows = [r for r in pe.rows if pe.get(r, "sessid") not in missing]
    clean_sessions = {
        se.get(r, "sessid")
        for r in se.rows
        if not inj.ledger.has_any("bdata.sessions", se.key_of(r))
    }
    for row in inj.pick(
        "bdata.parsed_events", inj.n(2), where=lambda r: pe.get(r, "sessid") in clean_sessions
    ):
        pe.set(row, "peh", mym.corrupt(pe.get(row, "peh")))
        inj.mark("bdata.parsed_events", row, "peh_undecodable", "unknown mYm type code")
