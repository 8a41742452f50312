"""A defect-free variant of the generated database: every recorded defect row is repaired or
removed, so a correct migration quarantines nothing and every integrity check passes.

The people facts the spec fixes (shared emails, two contacts named Alex, shared initials, contacts
without email) are repaired in place, since other rows refer to those contacts; rats and
history rows whose contact list ends with a comma lose the comma; an alias experimenter becomes
the contact's name. Every other defect row is deleted, and so are a session whose parsed events
were deleted and parsed events whose session was.
"""

from __future__ import annotations

from typing import Any

from .defects import Ledger
from .tables import Table


def _netid(email: str | None) -> str | None:
    return email.split("@", 1)[0] if email else None


def _repair_contacts(contacts: Table, kinds: dict[tuple, set[str]]) -> set[tuple]:
    """Fix the contact facts in place; returns the contact keys to delete (stale duplicates)."""
    drop = set()
    seen_names: set[str] = set()
    seen_initials: set[str] = set()
    for row in sorted(contacts.rows, key=lambda r: contacts.get(r, "contactid")):
        key = tuple(contacts.key_of(row).items())
        found = kinds.get(("ratinfo.contacts", key), set())
        cid = contacts.get(row, "contactid")
        if "contact_duplicate_email" in found:
            drop.add(key)
            continue
        if "contact_email_null" in found:
            contacts.set(row, "email", f"member{cid}@princeton.edu")
        name = contacts.get(row, "experimenter")
        if "contact_experimenter_duplicate" in found and name in seen_names:
            contacts.set(row, "experimenter", f"{name} {cid}")
        seen_names.add(name)
        initials = (contacts.get(row, "initials") or "").upper()
        if "contact_initials_shared" in found and initials in seen_initials:
            contacts.set(row, "initials", f"Q{cid}")
        seen_initials.add(initials)
    return drop


def scrub(t: dict[str, Table], ledger: Ledger) -> Ledger:
    """Repair or delete every defect row of ``ledger`` in ``t``; returns an empty ledger."""
    kinds: dict[tuple, set[str]] = {}
    for d in ledger.entries:
        kinds.setdefault((d["table"], tuple(d["key"].items())), set()).add(d["kind"])
    drop: dict[str, set[tuple]] = {
        "ratinfo.contacts": _repair_contacts(t["ratinfo.contacts"], kinds)
    }
    netid_to_name = {
        _netid(t["ratinfo.contacts"].get(r, "email")): t["ratinfo.contacts"].get(r, "experimenter")
        for r in t["ratinfo.contacts"].rows
    }
    keep_kinds = {
        "rat_contact_blank",
        "rat_date_zero",
        "rathistory_datesac_zero",
        "rig_maintenance_zero_datetime",
        "surgery_time_odd",
        "session_protocol_data_null",
    }
    for (table, key), found in kinds.items():
        if table == "ratinfo.contacts":
            continue
        tab = t[table]
        row = _find(tab, dict(key))
        if row is None:
            continue
        if "rat_contact_trailing_comma" in found or "rathistory_contact_trailing_comma" in found:
            tab.set(row, "contact", (tab.get(row, "contact") or "").rstrip(", "))
            found = found - {"rat_contact_trailing_comma", "rathistory_contact_trailing_comma"}
        if "rat_experimenter_alias" in found:
            experimenter = tab.get(row, "experimenter")
            from .resolve import RATS_LITERALS

            name = netid_to_name.get(RATS_LITERALS.get(experimenter, experimenter))
            if name:
                tab.set(row, "experimenter", name)
            found = found - {"rat_experimenter_alias"}
        if found - keep_kinds:
            drop.setdefault(table, set()).add(key)
    for table, keys in drop.items():
        tab = t[table]
        tab.rows = [r for r in tab.rows if tuple(tab.key_of(r).items()) not in keys]
    _drop_unpaired_sessions(t)
    return Ledger()


def _find(tab: Table, key: dict[str, Any]) -> list[Any] | None:
    for row in tab.rows:
        if tab.key_of(row) == key:
            return row
    return None


def _drop_unpaired_sessions(t: dict[str, Table]) -> None:
    sessions, events = t["bdata.sessions"], t["bdata.parsed_events"]
    with_events = {events.get(r, "sessid") for r in events.rows}
    session_ids = {sessions.get(r, "sessid") for r in sessions.rows}
    sessions.rows = [r for r in sessions.rows if sessions.get(r, "sessid") in with_events]
    events.rows = [r for r in events.rows if events.get(r, "sessid") in session_ids]
