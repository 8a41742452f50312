"""The rows the lab's rigs and technicians produce each day.

Used by the initial build and by :func:`append_days`: given the rats in
training on a day, writes mass, water, schedule, tech_schedule, rigwater,
technotes, sess_started + sessions + parsed_events and (optionally) the rig
bookkeeping tables rigflush, rigfood and calibration_info_tbl.  Everything
produced here is clean; defects are injected afterwards (see ``inject``).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from . import blobs
from .tables import Table

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
VALVES = ("left valve", "center valve", "right valve")


@dataclass(frozen=True)
class ActiveRat:
    """A rat in training on a day: its name and the session experimenter text."""

    name: str
    experimenter: str  # the contact's experimenter name (sessions/technotes/schedule)


@dataclass
class DayContext:
    """What a day's rows draw on: rigs, technicians, id counters, trial counts."""

    rigs: list[int]
    tech_initials: list[str]  # initials matching exactly one contact (with email)
    tech_names: list[str]
    trials: tuple[int, int]
    next_ids: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, float] = field(default_factory=dict)

    def take(self, table: str) -> int:
        """Next auto-increment id of ``table``."""
        value = self.next_ids[table]
        self.next_ids[table] = value + 1
        return value


def _time(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=int(seconds))


def _dec(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def day_rng(seed: int, day: dt.date) -> random.Random:
    """The random stream of one calendar day (independent of every other day)."""
    return random.Random(f"{seed}:{day.isoformat()}")


def generate_day(
    t: dict[str, Table],
    ctx: DayContext,
    day: dt.date,
    active: list[ActiveRat],
    rng: random.Random,
    rig_tables: bool = True,
) -> None:
    """Append one day of rows to the tables ``t``."""
    rigs = ctx.rigs
    slot_of: dict[str, tuple[int, int]] = {}
    for k, rat in enumerate(active):
        slot_of[rat.name] = (rigs[k % len(rigs)], k // len(rigs) + 1)
    n_slots = max([int(ctx.per_day["timeslots"])] + [s for _, s in slot_of.values()])
    by_slot = {v: r for r, v in zip(active, slot_of.values(), strict=True)}
    for slot in range(1, n_slots + 1):
        for rig in rigs:
            rat = by_slot.get((rig, slot))
            t["ratinfo.schedule"].add(
                timeslot=slot,
                rig=rig,
                start_time=_time(6 * 3600 + slot * 7200),
                ratname=rat.name if rat else "",
                experimenter=rat.experimenter if rat else "",
                protocol=rng.choice(blobs.PROTOCOLS) if rat else " ",
                system=1,
                instructions=None,
                comments=None,
                technician=rng.choice(ctx.tech_initials),
                schedentryid=ctx.take("ratinfo.schedule"),
                date=day,
                wascompleted=int(rat is not None),
                wasqueried=0,
                wasstarted=int(rat is not None),
                wasvideosaved=0,
                Trials_Issue="",
                Bias_Issue="",
            )
    for _ in range(int(ctx.per_day["tech_schedule"])):
        names = rng.sample(ctx.tech_names, 3)
        t["ratinfo.tech_schedule"].add(
            date=day,
            day=DAY_NAMES[day.weekday()],
            overnight=names[0],
            scheduleid=ctx.take("ratinfo.tech_schedule"),
            morning=names[1],
            evening=names[2],
        )
    for rat in active:
        rig, slot = slot_of[rat.name]
        t["ratinfo.mass"].add(
            mass=rng.randrange(220, 480),
            weighing=ctx.take("ratinfo.mass"),
            date=day,
            ratname=rat.name,
            tech=rng.choice(ctx.tech_initials),
            timeval=_time(rng.uniform(8 * 3600, 11 * 3600)),
        )
        n_water = 1 + int(rng.random() < ctx.per_day["water_extra"])
        for w in range(n_water):
            start = rng.uniform(13 * 3600, 18 * 3600) + w * 3600
            volume = rng.uniform(2.0, 12.0)
            t["ratinfo.water"].add(
                date=day,
                rat=rat.name,
                tech=rng.choice(ctx.tech_initials),
                starttime=_time(start),
                stoptime=_time(start + 3600),
                watering=ctx.take("ratinfo.water"),
                volume=_dec(volume, 3),
                percent_bodymass=_dec(volume / 3.5, 3),
                percent_target=_dec(rng.uniform(60, 140), 3),
            )
        if rng.random() < ctx.per_day["rigwater"]:
            trials = rng.randrange(100, 400)
            t["ratinfo.rigwater"].add(
                id=ctx.take("ratinfo.rigwater"),
                ratname=rat.name,
                dateval=day,
                totalvol=_dec(trials * 0.024, 5),
                trialvol="0.02400",
                complete=1,
                n_rewarded_trials=trials,
                target_percent=_dec(rng.uniform(50, 120), 2),
            )
        if rng.random() < ctx.per_day["session"]:
            _session(t, ctx, day, rat, rig, slot, rng)
    for _ in range(int(ctx.per_day["technotes"])):
        rat = rng.choice(active) if active else None
        t["ratinfo.technotes"].add(
            technoteid=ctx.take("ratinfo.technotes"),
            datestr=day,
            timestr=_time(rng.uniform(8 * 3600, 20 * 3600)),
            ratname=rat.name if rat else None,
            rigid=slot_of[rat.name][0] if rat else rng.choice(rigs),
            timeslot=slot_of[rat.name][1] if rat else None,
            experimenter=rat.experimenter if rat else None,
            techinitials=rng.choice(ctx.tech_initials),
            note=rng.choice(
                [
                    "rat out of water",
                    "rig leaking",
                    "poke light off",
                    "weight drop",
                    "moved to free water",
                ]
            ),
            flag=rng.choice([None, 0, 1]),
        )
    if not rig_tables:
        return
    for rig in rng.sample(rigs, min(len(rigs), int(ctx.per_day["rigflush"]))):
        t["ratinfo.rigflush"].add(
            id=ctx.take("ratinfo.rigflush"),
            rig=rig,
            wasflushed=int(rng.random() < 0.9),
            dateval=day,
        )
    for _ in range(int(ctx.per_day["rigfood"])):
        t["ratinfo.rigfood"].add(
            rigfoodid=ctx.take("ratinfo.rigfood"),
            rigid=rng.choice(rigs),
            datetime=dt.datetime.combine(day, dt.time(rng.randrange(8, 20), rng.randrange(60))),
        )
    for _ in range(int(ctx.per_day["calibration"])):
        t["bdata.calibration_info_tbl"].add(
            rig_id=str(rng.choice(rigs)),
            initials=rng.choice(ctx.tech_initials),
            dateval=dt.datetime.combine(
                day, dt.time(rng.randrange(7, 10), rng.randrange(60), rng.randrange(60))
            ),
            valve=rng.choice(VALVES),
            timeval=round(rng.uniform(0.05, 0.4), 4),
            dispense=round(rng.uniform(18, 30), 3),
            isvalid=1,
            calibrationid=ctx.take("bdata.calibration_info_tbl"),
            target=rng.choice(["low", "high"]),
            validity="PASS",
        )


def _session(
    t: dict[str, Table],
    ctx: DayContext,
    day: dt.date,
    rat: ActiveRat,
    rig: int,
    slot: int,
    rng: random.Random,
) -> None:
    sessid = ctx.take("bdata.sess_started")
    start = 6 * 3600 + slot * 7200 + rng.uniform(0, 600)
    n_trials = rng.randrange(*ctx.trials)
    protocol = rng.choice(blobs.PROTOCOLS)
    hostname = f"Rig{rig:02d}"
    rigid, started_host = rig, hostname
    if rng.random() < 0.02:  # problem 26: rig only in the hostname (migratable)
        rigid = 0
        started_host = hostname if rng.random() < 0.5 else str(rig)
    t["bdata.sess_started"].add(
        sessid=sessid,
        sessiondate=day,
        starttime=_time(start),
        was_ended=1,
        ratname=rat.name,
        hostname=started_host,
        technotes=None,
        crashed=0,
        rigid=rigid,
    )
    stamp = day.strftime("%y%m%d")
    correct = round(rng.uniform(0.5, 0.95), 2)
    t["bdata.sessions"].add(
        sessid=sessid,
        ratname=rat.name,
        hostname=hostname,
        experimenter=rat.experimenter,
        starttime=_time(start),
        endtime=_time(start + 5400),
        sessiondate=day,
        n_done_trials=n_trials,
        comments=None,
        settings_file=f"settings_@{protocol}_{rat.experimenter}_{rat.name}_{stamp}a.mat",
        settings_path=f"/ratter/SoloData/Settings/{rat.experimenter}/{rat.name}",
        data_file=f"data_@{protocol}_{rat.experimenter}_{rat.name}_{stamp}a.mat",
        data_path=f"/ratter/SoloData/Data/{rat.experimenter}/{rat.name}",
        video_file="",
        video_path="",
        protocol=protocol,
        total_correct=correct,
        right_correct=round(min(0.99, correct + 0.03), 2),
        left_correct=round(max(0.0, correct - 0.03), 2),
        percent_violations=round(rng.uniform(0, 0.3), 2),
        brokenbits=0,
        protocol_data=blobs.BlobJob("protocol_data", rng.getrandbits(63), n_trials, protocol),
        left_pokes=rng.randrange(50, 400),
        center_pokes=rng.randrange(100, 600),
        right_pokes=rng.randrange(50, 400),
        technotes=None,
        IP_addr=f"128.112.161.{100 + rig}",
        crashed=0,
        foodpuck=0,
    )
    t["bdata.parsed_events"].add(
        sessid=sessid, peh=blobs.BlobJob("peh", rng.getrandbits(63), n_trials)
    )


def render_blobs(t: dict[str, Table]) -> None:
    """Turn the blob placeholders of sessions / parsed_events into mYm bytes."""
    for name, column in (("bdata.sessions", "protocol_data"), ("bdata.parsed_events", "peh")):
        if name in t:
            blobs.render_jobs(t[name].rows, t[name].i(column))
