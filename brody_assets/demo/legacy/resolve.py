"""The spec's identity rules (§1.3, §2.11, §2.12, §2.17, §2.18) as plain functions.

The generator uses them to know, for every row it writes, whether a correct
migration can carry it (they mirror the migration's rules; they do not touch
a database).
"""

from __future__ import annotations

from .people import Contact

RATS_LITERALS = {
    "pbibawi": "pbibawi",
    "abondy": "abondy",
    "velliott": "velliott",
    "Peter Bibawi": "pbibawi",
}
HISTORY_LITERALS = {
    **RATS_LITERALS,
    "lb6": "lb6",
    "jtb3": "jtb3",
    "Nick Horbelt": "nhorbelt",
    "Sarah Jo": "venditto",
}
EXCLUDED_CONTACTS = frozenset({53, 59, 97})


def _same(a: str, b: str) -> bool:
    """SQL equality under a case-insensitive PAD SPACE collation."""
    return a.rstrip(" ").lower() == b.rstrip(" ").lower()


def contacts_named(contacts: list[Contact], experimenter: str | None) -> list[Contact]:
    """Contacts whose experimenter equals ``experimenter`` (SQL semantics)."""
    if experimenter is None:
        return []
    return [c for c in contacts if _same(c.experimenter, experimenter)]


def contacts_with_initials(contacts: list[Contact], initials: str | None) -> list[Contact]:
    """Contacts whose initials equal ``initials`` (SQL semantics; NULL matches nothing)."""
    if initials is None:
        return []
    return [c for c in contacts if c.initials is not None and _same(c.initials, initials)]


def resolve_user(
    contacts: list[Contact], experimenter: str | None, history: bool = False
) -> str | None:
    """netID for a rats (or, with ``history``, rat_history) experimenter; None when skipped."""
    found = contacts_named(contacts, experimenter)
    if len(found) == 1:
        c = found[0]
        return c.netid if c.netid and c.contactid not in EXCLUDED_CONTACTS else None
    literals = HISTORY_LITERALS if history else RATS_LITERALS
    return literals.get(experimenter or "")


def resolve_session_user(contacts: list[Contact], experimenter: str | None) -> str | None:
    """netID for a sessions experimenter (exactly one contact, non-NULL email)."""
    found = contacts_named(contacts, experimenter)
    if len(found) == 1 and found[0].netid and found[0].contactid not in EXCLUDED_CONTACTS:
        return found[0].netid
    return None


def rig_from_hostname(hostname: str | None) -> int | None:
    """Rig number from a hostname (strip the characters R, i, g at both ends)."""
    if hostname is None:
        return None
    try:
        return int(hostname.strip("Rig"))
    except ValueError:
        return None


def sess_started_rig(rigid: int, hostname: str | None) -> int | None:
    """The new session_started_rigid (§2.17), None when not derivable."""
    if rigid != 0 or hostname is None:
        return rigid
    if "Rig" in hostname:
        return rig_from_hostname(hostname)
    try:
        return int(float(hostname))
    except ValueError:
        return None
