"""Rats and their audit log (``ratinfo.rats``, ``ratinfo.rat_history``).

Each clean rat belongs to one experimenter (a contact first name, or for a few
rats a literal netID / ``Peter Bibawi`` that the resolution rule accepts), is
delivered, trains on a window of days and is (maybe) sacrificed.  The
problem rats of spec §5 (problems 2, 3, 10) train only on the first two days
so that their cascaded dependents stay few.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .people import Contact

SPECIAL_CLEAN = ("W055", "W009", "H125", "M102", "T232")
"""Clean rats the spec names (surgery duplicates; trailing-comma contact lists)."""
PROBLEM_RATS: tuple[tuple[str, str], ...] = (
    ("Z003", "Alex"),
    ("Z004", "Alex"),
    ("T075", ""),
    ("J090", "AnimalFacility"),
    ("Z089", "Elyssa"),
    ("J096", "experimenter"),
    ("J089", "Jovanna/Min"),
)
"""Rats that cannot be migrated (experimenter ambiguous or junk), spec problem 10."""
ORPHAN_NAMES = (
    "M084",
    "E057",
    "J288",
    "F100",
    "U011",
    "M021",
    "U001",
    "A171",
    "TANK",
    "J289",
    "BROK",
    "X000",
    "Z999",
    "ratn",
    "F084",
    "K999",
    "T09",
    "Z58",
    "Z60",
    "A280",
    "0446",
    "0447",
    "229",
    "261",
    "U002",
    "U003",
    "0014",
    "CO64",
    "`",
    "unna",
    "sen1",
)
"""Rat names used by child tables that never existed in ``rats`` (problem 9)."""
ALIASES = ("pbibawi", "abondy", "velliott", "Peter Bibawi")


@dataclass
class Rat:
    """A rat of the colony and the days it trains (indices into the build window)."""

    internal_id: int
    name: str | None
    experimenter: str  # text stored in rats.experimenter
    owner: Contact | None  # resolved contact (None when unresolvable)
    start: int
    end: int  # exclusive
    contact: str | None
    clean: bool = True


def _rat_names(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    letters = "ABCEFGHJKLMNPRSTVW"
    while len(names) < n:
        name = f"{rng.choice(letters)}{rng.randrange(1, 400):03d}"
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def make_rats(
    rng: random.Random, contacts: list[Contact], n_clean: int, days: int, active: float
) -> list[Rat]:
    """The colony: ``n_clean`` clean rats plus the spec's problem rats."""
    by_netid = {c.netid: c for c in contacts if c.netid}
    owners = [
        c
        for c in contacts
        if c.netid
        and not c.is_tech
        and c.initials
        and c.experimenter != "Alex"
        and c.contactid not in (97, 53, 59)
    ][:24]
    taken = set(SPECIAL_CLEAN) | {n for n, _ in PROBLEM_RATS} | set(ORPHAN_NAMES)
    names = list(SPECIAL_CLEAN) + _rat_names(rng, n_clean - len(SPECIAL_CLEAN), taken)
    mean_len = max(2.0, active * days / max(1.0, n_clean - active))
    rats: list[Rat] = []
    for k, name in enumerate(names):
        owner = owners[k % len(owners)]
        experimenter = owner.experimenter
        if k in (7, 13, 19, 25):  # a few rats carry an accepted alias instead of a first name
            alias = ALIASES[(k - 7) // 6]
            experimenter = alias
            owner = by_netid["pbibawi" if alias == "Peter Bibawi" else alias]
        length = int(mean_len * rng.uniform(0.6, 1.4)) + 1
        if name in SPECIAL_CLEAN or mean_len * 0.6 >= days:
            start = 0
        else:
            start = rng.randrange(-length + 1, days)
        second = owners[(k + 5) % len(owners)].netid
        contact = owner.netid if rng.random() < 0.7 else f"{owner.netid}, {second}"
        rats.append(
            Rat(0, name, experimenter, owner, max(0, start), min(days, start + length), contact)
        )
    for name, junk in PROBLEM_RATS:
        rats.append(Rat(0, name, junk, None, 0, min(2, days), "", clean=False))
    rng.shuffle(rats)
    for i, rat in enumerate(rats, start=1):
        rat.internal_id = i
    return rats


def rat_row(rat: Rat, day0: dt.date, days: int, rng: random.Random) -> dict:
    """The ``ratinfo.rats`` row of ``rat`` (``day0`` = first day of the window)."""
    delivered = day0 + dt.timedelta(days=rat.start - rng.randrange(7, 30))
    sacrificed = (
        day0 + dt.timedelta(days=rat.end) if rat.end < days and rng.random() < 0.7 else None
    )
    return dict(
        internalID=rat.internal_id,
        free=0,
        alert=int(rng.random() < 0.05),
        experimenter=rat.experimenter,
        contact=rat.contact,
        ratname=rat.name,
        training=1,
        comments=rng.choice([None, "", "good rat", "bites"]),
        vendor=rng.choice(["Taconic", "Taconic", "Harlan"]),
        waterperday=rng.choice([30, 45, 60, 90]),
        recovering=0,
        deliverydate=delivered,
        massArrival=rng.randrange(90, 160),
        po=None,
        extant=int(sacrificed is None),
        cagemate=None,
        forceFreeWater=0,
        dateSac=sacrificed,
        forceDepWater=0,
        bringUpAt=0,
        bringupday=None,
        ignoredByWatermeister=0,
        larid=rng.randrange(10000, 99999) if rng.random() < 0.3 else None,
        israt=1,
    )


HISTORY_COLUMNS = (
    "free",
    "alert",
    "experimenter",
    "contact",
    "ratname",
    "training",
    "comments",
    "waterperday",
    "recovering",
    "extant",
    "cagemate",
    "forceFreeWater",
    "dateSac",
    "forceDepWater",
    "bringUpAt",
    "bringupday",
    "ignoredByWatermeister",
)


def history_rows(rat_values: dict, logtimes: list[dt.datetime], rng: random.Random) -> list[dict]:
    """Audit-log rows a rat's insert and later edits produce (what the triggers wrote)."""
    rows = []
    values = {c: rat_values[c] for c in HISTORY_COLUMNS}
    for n, logtime in enumerate(logtimes):
        if n:
            edit = rng.choice(["comments", "waterperday", "alert", "recovering"])
            if edit == "comments":
                values["comments"] = rng.choice(
                    ["weight ok", "on free water", "moved rig", "back on schedule"]
                )
            elif edit == "waterperday":
                values["waterperday"] = rng.choice([30, 45, 60, 90])
            else:
                values[edit] = 1 - int(values[edit] or 0)
        rows.append({**values, "logtime": logtime})
    return rows
