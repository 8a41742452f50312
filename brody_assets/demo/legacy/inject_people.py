"""Defects of the people and rat tables, and the cascade of unmigratable parents."""

from __future__ import annotations

from .defects import NOT_MIGRATED_CHECK, ORPHAN_KIND_BY_TABLE, Ledger
from .inject import ZERO_DATE, Injector
from .people import DUPLICATE_EMAILS, SHARED_INITIALS, Contact
from .resolve import HISTORY_LITERALS, RATS_LITERALS, contacts_named, resolve_user
from .tables import Table

HISTORY_JUNK = ("B186", "J226", "Ben, Christine", "experimenter")
HISTORY_ALIASES = (
    ("nhorbelt", "Nick Horbelt"),
    ("venditto", "Sarah Jo"),
    ("lb6", "lb6"),
    ("jtb3", "jtb3"),
    ("pbibawi", "Peter Bibawi"),
)


def inject_contacts(ledger: Ledger, contacts: list[Contact]) -> None:
    """Problem-1/2/4 contacts (they are fixed by :mod:`.people`; here they are recorded)."""
    key = "ratinfo.contacts"
    for kept, stale, _ in DUPLICATE_EMAILS:
        ledger.add(
            key, {"contactid": stale}, "contact_duplicate_email", f"same email as contact {kept}"
        )
    for c in contacts:
        if c.netid is None:
            ledger.add(key, {"contactid": c.contactid}, "contact_email_null", "email NULL")
        if c.experimenter == "Alex":
            ledger.add(
                key,
                {"contactid": c.contactid},
                "contact_experimenter_duplicate",
                "experimenter 'Alex' on 2 contacts",
            )
        if c.initials in SHARED_INITIALS:
            ledger.add(
                key,
                {"contactid": c.contactid},
                "contact_initials_shared",
                f"initials {c.initials!r} on {SHARED_INITIALS[c.initials]} contacts",
            )


def inject_rats(inj: Injector, contacts: list[Contact], trailing: tuple[str, ...]) -> None:
    """Rats: junk/ambiguous experimenters, aliases, NULL name, waterperday >= 100, contact lists, zero dates."""
    rats = inj.t["ratinfo.rats"]
    template = rats.rows[0]
    row = inj.append_copy("ratinfo.rats", template)
    for col, value in (
        ("ratname", None),
        ("experimenter", contacts[0].experimenter),
        ("extant", 0),
        ("contact", None),
    ):
        rats.set(row, col, value)
    row = inj.append_copy("ratinfo.rats", template)
    for col, value in (
        ("ratname", "W120"),
        ("experimenter", contacts[0].experimenter),
        ("waterperday", 120),
        ("extant", 0),
    ):
        rats.set(row, col, value)
    for row in rats.rows:
        name, exp = rats.get(row, "ratname"), rats.get(row, "experimenter")
        if name is None:
            inj.mark("ratinfo.rats", row, "rat_ratname_null", "ratname NULL")
        elif rats.get(row, "waterperday") >= 100:
            inj.mark(
                "ratinfo.rats",
                row,
                "rat_waterperday_too_large",
                f"waterperday {rats.get(row, 'waterperday')}",
            )
        elif len(contacts_named(contacts, exp)) > 1:
            inj.mark(
                "ratinfo.rats",
                row,
                "rat_experimenter_ambiguous",
                f"experimenter {exp!r} matches 2 contacts",
            )
        elif resolve_user(contacts, exp) is None:
            inj.mark("ratinfo.rats", row, "rat_experimenter_unresolvable", f"experimenter {exp!r}")
        elif exp in RATS_LITERALS:
            inj.mark(
                "ratinfo.rats",
                row,
                "rat_experimenter_alias",
                f"experimenter {exp!r} -> {RATS_LITERALS[exp]}",
            )
        if name in trailing:
            rats.set(row, "contact", rats.get(row, "contact").split(",")[0] + ",")
            inj.mark(
                "ratinfo.rats",
                row,
                "rat_contact_trailing_comma",
                f"contact {rats.get(row, 'contact')!r}",
            )
    for k, row in enumerate(inj.pick("ratinfo.rats", 2, "ratname")):
        rats.set(row, "contact", ("", "   ")[k])
        inj.mark("ratinfo.rats", row, "rat_contact_blank", f"contact {rats.get(row, 'contact')!r}")
    for k, row in enumerate(inj.pick("ratinfo.rats", 2, "ratname")):
        col = ("deliverydate", "dateSac")[k]
        rats.set(row, col, ZERO_DATE)
        inj.mark("ratinfo.rats", row, "rat_date_zero", f"{col} 0000-00-00")


def inject_history(inj: Injector, contacts: list[Contact], trailing: tuple[str, ...]) -> None:
    """rat_history: junk and alias experimenters, orphans, duplicate logtimes, then classify every row."""
    h = inj.t["ratinfo.rat_history"]
    for k, row in enumerate(inj.pick("ratinfo.rat_history", inj.n(4), "ratname")):
        h.set(row, "experimenter", HISTORY_JUNK[k % len(HISTORY_JUNK)])
    owners = {c.netid: c.experimenter for c in contacts if c.netid}
    for netid, alias in HISTORY_ALIASES:
        mine = [
            r
            for r in h.rows
            if h.get(r, "experimenter") == owners[netid] and h.get(r, "ratname") in inj.clean_rats
        ]
        for row in mine[:2]:
            h.set(row, "experimenter", alias)
    for k, row in enumerate(inj.pick("ratinfo.rat_history", 4, "ratname")):
        h.set(
            inj.append_copy("ratinfo.rat_history", row),
            "ratname",
            ("0446", "0447", "229", "261")[k],
        )
    for row in inj.pick("ratinfo.rat_history", inj.n(3), "ratname"):
        twin = inj.append_copy("ratinfo.rat_history", row)
        h.set(twin, "comments", "edited twice within one second")
        h.set(twin, "waterperday", (h.get(row, "waterperday") or 30) + 15)
        for r in (row, twin):
            inj.mark(
                "ratinfo.rat_history",
                r,
                "rathistory_duplicate_logtime",
                f"({h.get(row, 'ratname')}, {h.get(row, 'logtime')}) repeated",
            )
    legacy = {
        n
        for n in (inj.t["ratinfo.rats"].get(r, "ratname") for r in inj.t["ratinfo.rats"].rows)
        if n
    }
    for row in h.rows:
        name, exp = h.get(row, "ratname"), h.get(row, "experimenter")
        if resolve_user(contacts, exp, history=True) is None:
            inj.mark(
                "ratinfo.rat_history",
                row,
                "rathistory_experimenter_unresolvable",
                f"experimenter {exp!r}",
            )
        elif name not in legacy:
            inj.mark(
                "ratinfo.rat_history", row, "rathistory_rat_orphan", f"rat {name!r} not in rats"
            )
        if name in trailing and (h.get(row, "contact") or "").endswith(","):
            inj.mark(
                "ratinfo.rat_history",
                row,
                "rathistory_contact_trailing_comma",
                f"contact {h.get(row, 'contact')!r}",
            )
        if h.get(row, "dateSac") == ZERO_DATE:
            inj.mark("ratinfo.rat_history", row, "rathistory_datesac_zero", "dateSac 0000-00-00")
    assert set(HISTORY_LITERALS) >= {a for _, a in HISTORY_ALIASES}


RAT_COLUMNS = {
    "ratinfo.mass": "ratname",
    "ratinfo.water": "rat",
    "ratinfo.rigwater": "ratname",
    "ratinfo.surgery": "ratname",
    "ratinfo.rat_history": "ratname",
    "bdata.sess_started": "ratname",
    "bdata.sessions": "ratname",
}


def cascade(t: dict[str, Table], ledger: Ledger) -> None:
    """Record rows whose rat, session start or session is quarantined (or missing)."""
    rats = t["ratinfo.rats"]
    legacy = {n for n in (rats.get(r, "ratname") for r in rats.rows) if n}
    migrated = {
        rats.get(r, "ratname")
        for r in rats.rows
        if rats.get(r, "ratname") and not ledger.is_quarantined("ratinfo.rats", rats.key_of(r))
    }
    for table, col in RAT_COLUMNS.items():
        tab = t[table]
        for row in tab.rows:
            key = tab.key_of(row)
            name = tab.get(row, col)
            if ledger.is_quarantined(table, key) or name in migrated:
                continue
            if name in legacy:
                ledger.add(
                    table,
                    key,
                    "rat_not_migrated",
                    f"rat {name!r} is quarantined",
                    checks=[NOT_MIGRATED_CHECK[table]],
                )
            elif table in ORPHAN_KIND_BY_TABLE:
                ledger.add(table, key, ORPHAN_KIND_BY_TABLE[table], f"rat {name!r} not in rats")
            else:
                raise AssertionError(f"{table} {key}: rat {name!r} neither migrated nor recorded")
    ss, se, pe = t["bdata.sess_started"], t["bdata.sessions"], t["bdata.parsed_events"]
    started_ok = {
        ss.get(r, "sessid")
        for r in ss.rows
        if not ledger.is_quarantined("bdata.sess_started", ss.key_of(r))
    }
    for row in se.rows:
        key = se.key_of(row)
        if not ledger.is_quarantined("bdata.sessions", key) and key["sessid"] not in started_ok:
            ledger.add(
                "bdata.sessions",
                key,
                "sess_started_not_migrated",
                "its sess_started row is quarantined",
            )
    sessions_ok = {
        se.get(r, "sessid")
        for r in se.rows
        if not ledger.is_quarantined("bdata.sessions", se.key_of(r))
    }
    for row in pe.rows:
        key = pe.key_of(row)
        if (
            not ledger.is_quarantined("bdata.parsed_events", key)
            and key["sessid"] not in sessions_ok
        ):
            ledger.add(
                "bdata.parsed_events", key, "session_not_migrated", "its session is quarantined"
            )
