"""Occasional records: surgeries, rig maintenance and the rats' audit log."""

from __future__ import annotations

import datetime as dt
import random

from .colony import HISTORY_COLUMNS, Rat, history_rows
from .tables import Table

N_SURGERIES = 272  # legacy auto-increment counter 273: ids 1..272 at every scale
SURGERY_TYPES = ("cannula", "tetrode drive", "optic fiber", "virus injection", "neuropixels")
REGIONS = ("FOF", "PPC", "ADS", "mPFC", "TS", "M2")


def fill_surgeries(
    table: Table, rats: list[Rat], day0: dt.date, surgeons: list[str], rng: random.Random
) -> None:
    """272 surgeries on named rats during their training windows; (rat, date, start) unique."""
    named = [r for r in rats if r.name and r.clean]
    problem = [r for r in rats if r.name and not r.clean]
    seen: set[tuple[str, dt.date, dt.timedelta]] = set()
    sid = 1
    while sid <= N_SURGERIES:
        if sid <= 4:
            rat = next(r for r in named if r.name == ("W055", "W009")[sid % 2])
        elif sid % 90 == 0 and problem:
            rat = problem[sid // 90 % len(problem)]
        else:
            rat = named[rng.randrange(len(named))]
        date = day0 + dt.timedelta(days=rng.randrange(rat.start, max(rat.start + 1, rat.end)))
        start = dt.timedelta(seconds=rng.randrange(9 * 3600, 16 * 3600, 60))
        if (rat.name, date, start) in seen:
            continue
        seen.add((rat.name, date, start))
        table.add(
            id=sid,
            ratname=rat.name,
            surgeon=rng.choice(surgeons),
            ratgrams=rng.randrange(250, 450),
            date=date,
            starttime=start,
            endtime=start + dt.timedelta(minutes=rng.randrange(60, 240)),
            type=rng.choice(SURGERY_TYPES),
            eib_num=None,
            coordinates=f"AP {rng.uniform(-4, 3):.1f} ML {rng.uniform(0.5, 3):.1f}",
            brainregions=rng.choice(REGIONS),
            ketamine=round(rng.uniform(0.5, 1.5), 2),
            buprenex=round(rng.uniform(0.1, 0.3), 2),
            notes=rng.choice([None, "uneventful", "slight bleeding, recovered well"]),
            Bregma="0,0",
            IA0=f"{rng.uniform(3, 5):.2f}",
            angle=0.0 if rng.random() < 0.8 else 15.0,
            tilt_axis=rng.choice([None, "AP", "ML"]),
        )
        sid += 1


def fill_rig_maintenance(
    table: Table,
    n: int,
    rigs: list[int],
    day0: dt.date,
    days: int,
    people: list[str],
    rng: random.Random,
) -> None:
    """``n`` maintenance records (ids 1..n) spread over the window, broke before fixed."""
    span = max(1, days) * 86400
    stamps = sorted(rng.randrange(span) for _ in range(n))
    start = dt.datetime.combine(day0, dt.time())
    for mid, offset in enumerate(stamps, start=1):
        broke = start + dt.timedelta(seconds=offset)
        table.add(
            maintenance_id=mid,
            rigid=rng.choice(rigs),
            note=rng.choice(
                ["water valve stuck", "center poke dead", "speaker crackles", "door sensor"]
            ),
            isbroken=int(rng.random() < 0.3),
            broke_person=rng.choice(people),
            fix_person=rng.choice(people),
            broke_date=broke,
            fix_date=broke + dt.timedelta(hours=rng.randrange(1, 72)),
            fix_note=rng.choice(["replaced", "cleaned", "rebooted", ""]),
        )


def fill_rat_history(
    table: Table,
    rats_table: Table,
    rats: list[Rat],
    day0: dt.date,
    mean_edits: int,
    rng: random.Random,
) -> None:
    """The audit log: one insert row per named rat and a few edit rows during its window."""
    by_id = {rats_table.get(r, "internalID"): r for r in rats_table.rows}
    entries = []
    for rat in rats:
        if not rat.name:
            continue
        values = dict(zip(rats_table.columns, by_id[rat.internal_id], strict=True))
        first = dt.datetime.combine(
            day0 + dt.timedelta(days=rat.start), dt.time(10)
        ) - dt.timedelta(days=rng.randrange(7, 30))
        stamps = {first}
        for _ in range(rng.randrange(0, 2 * mean_edits + 1)):
            day = day0 + dt.timedelta(days=rng.randrange(rat.start, max(rat.start + 1, rat.end)))
            stamps.add(
                dt.datetime.combine(
                    day, dt.time(rng.randrange(8, 20), rng.randrange(60), rng.randrange(60))
                )
            )
        for row in history_rows(values, sorted(stamps), rng):
            entries.append(row)
    entries.sort(key=lambda r: (r["logtime"], r["ratname"]))
    for hid, row in enumerate(entries, start=1):
        table.add(internalID=hid, **{c: row[c] for c in HISTORY_COLUMNS}, logtime=row["logtime"])
