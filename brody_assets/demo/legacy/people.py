"""Contacts (lab members), rigs and training-room towers: the lab's reference tables.

Contacts are fixed by the spec's facts (ids 12/97, 53/71, 59/94 share emails,
two contacts are called ``Alex``, netIDs pbibawi/abondy/velliott/nhorbelt/
venditto/lb6/jtb3 exist, some initials are shared by 2-3 contacts); only the
non-key attributes vary with the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .tables import Table

N_CONTACTS = 116
N_RIGS = 40
N_TOWERS = 17

FIRST_NAMES = [
    "Carlos",
    "Jeffrey",
    "Marino",
    "Chuck",
    "Ahmed",
    "Brian",
    "Jovan",
    "Kevin",
    "Thomas",
    "Emily",
    "Diksha",
    "Tyler",
    "Jorge",
    "Anna",
    "Bing",
    "Chris",
    "Joseph",
    "Katie",
    "Laura",
    "Maria",
    "Nadia",
    "Owen",
    "Priya",
    "Quinn",
    "Rachel",
    "Samuel",
    "Tanya",
    "Uma",
    "Vera",
    "Walter",
    "Xiao",
    "Yusuf",
    "Zoe",
    "Adam",
    "Bella",
    "Caleb",
    "Dana",
    "Eli",
    "Fiona",
    "Gabe",
    "Hana",
    "Ivan",
    "Julia",
    "Kai",
    "Lena",
    "Milo",
    "Nora",
    "Oscar",
    "Paula",
    "Rafael",
    "Sofia",
    "Theo",
    "Ursula",
    "Vince",
    "Wendy",
    "Yara",
    "Zack",
    "Amir",
    "Beth",
    "Cyrus",
    "Dora",
    "Ethan",
    "Faye",
    "Gil",
    "Hugo",
    "Iris",
    "Jonah",
    "Kira",
    "Leo",
    "Mina",
    "Nico",
    "Olga",
    "Pablo",
    "Rosa",
    "Sven",
    "Tess",
    "Ulla",
    "Victor",
    "Willa",
    "Xena",
    "Yosef",
    "Zara",
    "Abel",
    "Bruna",
    "Cora",
    "Dario",
    "Elsa",
    "Felix",
    "Greta",
    "Hank",
    "Ilse",
    "Jasper",
    "Kenji",
    "Lior",
    "Mae",
    "Nils",
    "Orla",
    "Pia",
    "Reza",
    "Saul",
    "Tova",
    "Uri",
    "Vlad",
    "Wren",
    "Yuki",
    "Zeno",
    "Arlo",
    "Blair",
    "Cleo",
    "Dev",
    "Esme",
    "Finn",
]
LAST_NAMES = [
    "Brody",
    "Erlich",
    "Pagan",
    "Kopec",
    "Akrami",
    "Scott",
    "Ryan",
    "Kim",
    "Luo",
    "Dennis",
    "Sharma",
    "Boyd",
    "Yanez",
    "Piet",
    "Wang",
    "Deck",
    "Hall",
    "Hart",
    "Reyes",
    "Ortiz",
    "Moss",
    "Park",
    "Rao",
    "Lang",
    "Stone",
    "Young",
    "Berg",
    "Cole",
    "Diaz",
    "Ford",
    "Grant",
    "Hayes",
    "Ito",
    "Jung",
    "Kerr",
    "Lowe",
    "Marsh",
    "Nash",
    "Owens",
    "Price",
    "Quill",
    "Rhodes",
    "Shaw",
    "Tate",
    "Upton",
    "Vance",
    "Wells",
    "York",
    "Zhao",
    "Abbott",
    "Blake",
    "Cruz",
    "Dunn",
    "Eaton",
    "Flynn",
    "Gale",
    "Holt",
    "Irwin",
    "Joyce",
    "Knox",
    "Lyle",
    "Mann",
    "Noble",
    "Oakes",
    "Pike",
]

SHARED_INITIALS: dict[str, int] = {
    "AS": 2,
    "RL": 2,
    "TJ": 2,
    "SS": 2,
    "SB": 2,
    "MP": 2,
    "JW": 2,
    "TH": 2,
    "AB": 3,
}
"""Initials that several contacts share (problem 4) and how many contacts carry them."""
UNKNOWN_INITIALS: tuple[str, ...] = ("FW", "TZL", "EJD", "TB")
"""Initials used in weighings that no contact has (problem 4)."""
FOREIGN_INITIALS: tuple[str, ...] = ("XQ", "ZQ")
"""Initials used in water / technotes that no contact has."""

# (contactid, experimenter, netid or None, initials) fixed by the spec
FIXED: tuple[tuple[int, str, str | None, str | None], ...] = (
    (3, "Peter", "pbibawi", "PB"),
    (5, "Adrian", "abondy", "ABO"),
    (7, "Victoria", "velliott", "VE"),
    (9, "Nick", "nhorbelt", "NH"),
    (11, "Sarah", "venditto", "SV"),
    (14, "Lucia", "lb6", "LB"),
    (16, "Jess", "jtb3", "JTB"),
    (23, "Alex", "apiet", "AP"),
    (88, "Alex", "akoralek", "AK"),
    (40, "Visitor", None, None),
)
DUPLICATE_EMAILS: tuple[tuple[int, int, str], ...] = (
    (12, 97, "{}x"),
    (71, 53, "old_{}"),
    (94, 59, "{}xx"),
)
"""(kept id, stale id, stale-name pattern) of the contacts sharing an email (problem 1)."""
TECH_IDS: tuple[int, ...] = (20, 21, 22, 24, 25, 26, 27, 28)


@dataclass(frozen=True)
class Contact:
    """One row of ``ratinfo.contacts`` as the generator sees it."""

    contactid: int
    experimenter: str
    netid: str | None
    initials: str | None
    is_tech: bool = False
    is_alumni: bool = False


def make_contacts(rng: random.Random) -> list[Contact]:
    """The 116 contacts (ids 1..116), including the spec's problem contacts."""
    fixed = {cid: Contact(cid, name, netid, ini) for cid, name, netid, ini in FIXED}
    stale_ids = {stale for _, stale, _ in DUPLICATE_EMAILS}
    shared_slots = [ini for ini, n in sorted(SHARED_INITIALS.items()) for _ in range(n)]
    reserved = (
        set(SHARED_INITIALS)
        | set(UNKNOWN_INITIALS)
        | set(FOREIGN_INITIALS)
        | {c.initials for c in fixed.values()}
    )
    used_names = {c.experimenter.lower() for c in fixed.values()}
    used_netids = {c.netid for c in fixed.values() if c.netid}
    firsts = [f for f in FIRST_NAMES if f.lower() not in used_names]
    contacts: dict[int, Contact] = dict(fixed)
    shared_ids = [cid for cid in range(30, 30 + 4 * len(shared_slots), 4)][: len(shared_slots)]
    fi = 0
    for cid in range(1, N_CONTACTS + 1):
        if cid in contacts or cid in stale_ids:
            continue
        first = firsts[fi]
        fi += 1
        last = LAST_NAMES[(cid * 7) % len(LAST_NAMES)]
        netid = (first[0] + last).lower()[:8]
        while netid in used_netids:
            netid = netid[:7] + str(len(used_netids) % 10)
        used_netids.add(netid)
        if cid in shared_ids:
            initials = shared_slots[shared_ids.index(cid)]
        else:
            initials = None
            for cand in (
                first[0] + last[0],
                first[0] + last[:2],
                first[:2] + last[0],
                first[:2] + last[:2],
            ):
                cand = cand.upper()
                if cand not in reserved:
                    initials = cand
                    break
            assert initials is not None
            reserved.add(initials)
        contacts[cid] = Contact(
            cid,
            first,
            netid,
            initials,
            is_tech=cid in TECH_IDS,
            is_alumni=rng.random() < 0.4 and cid not in TECH_IDS,
        )
    for kept, stale, pattern in DUPLICATE_EMAILS:
        k = contacts[kept]
        contacts[stale] = Contact(
            stale, pattern.format(k.experimenter), k.netid, None, is_alumni=True
        )
    return [contacts[cid] for cid in sorted(contacts)]


def fill_contacts(table: Table, contacts: list[Contact], rng: random.Random) -> None:
    """Rows of ``ratinfo.contacts``."""
    for c in contacts:
        table.add(
            experimenter=c.experimenter,
            email=f"{c.netid}@princeton.edu" if c.netid else None,
            initials=c.initials,
            telephone=6092580000 + rng.randrange(10000) if rng.random() < 0.7 else None,
            tag_letter=c.experimenter[0],
            tag_RGB_old=None,
            lab_manager=1 if c.contactid == 1 else 0,
            subscribe_all=int(rng.random() < 0.2),
            tech_morning=int(c.is_tech and rng.random() < 0.6),
            tech_afternoon=int(c.is_tech),
            tech_computer=int(c.is_tech and rng.random() < 0.3),
            is_alumni=int(c.is_alumni),
            custom_rig_order=None,
            FullName=f"{c.experimenter} {LAST_NAMES[c.contactid % len(LAST_NAMES)]}",
            tech_overnight=int(c.is_tech and rng.random() < 0.3),
            tag_RGB=f"{rng.randrange(256)} {rng.randrange(256)} {rng.randrange(256)}"[:12],
            tech_shifts="M,T,W" if c.is_tech else "",
            phone_carrier="verizon" if rng.random() < 0.5 else None,
            contactid=c.contactid,
        )


def fill_riginfo(table: Table, rng: random.Random) -> list[int]:
    """Rows of ``ratinfo.riginfo`` (rigs 1..40, hostnames ``RigNN``); returns the rig ids."""
    rigs = list(range(1, N_RIGS + 1))
    for rig in rigs:
        table.add(
            rigid=rig,
            ip_addr=f"128.112.161.{100 + rig}",
            mac_addr=f"{rng.getrandbits(48):012x}" if rng.random() < 0.9 else None,
            rtfsm_ip=f"128.112.161.{150 + rig}",
            hostname=f"Rig{rig:02d}",
            is_linux=int(rig % 3 == 0),
            video_server=None,
            comptype="behavior" if rig <= 36 else None,
        )
    return rigs


def fill_training_room(table: Table, rigs: list[int]) -> None:
    """Rows of ``ratinfo.training_room``: 17 towers of three rigs."""
    for tower in range(1, N_TOWERS + 1):
        slots = [rigs[(3 * (tower - 1) + k) % len(rigs)] for k in range(3)]
        table.add(
            tower=tower,
            top=f"Rig{slots[0]:02d}",
            middle=f"Rig{slots[1]:02d}",
            bottom=f"Rig{slots[2]:02d}",
        )
