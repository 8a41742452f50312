"""``build_legacy_database``: the whole synthetic legacy database plus its defect manifest."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from . import colony, people, records
from .clean import scrub
from .daily import ActiveRat, DayContext, day_rng, generate_day, render_blobs
from .defects import DEFECT_KINDS, Ledger
from .inject import Injector, inject_activity
from .inject_people import cascade, inject_contacts, inject_history, inject_rats
from .inject_sessions import inject_sessions, inject_surgery
from .scales import Scale, get_scale
from .tables import Table, new_tables
from .writer import create_schemas, insert_rows, prepare_session, row_counts

TRAILING_COMMA_RATS = ("H125", "M102", "T232")


def day_context(
    scale: Scale, contacts: list[people.Contact], rigs: list[int], next_ids: dict[str, int]
) -> DayContext:
    """The per-day generation context of a build."""
    techs = [c for c in contacts if c.is_tech]
    return DayContext(
        rigs=rigs,
        tech_initials=[c.initials for c in techs if c.initials],
        tech_names=[c.experimenter for c in techs],
        trials=scale.trials,
        next_ids=next_ids,
        per_day={
            "timeslots": scale.timeslots,
            "tech_schedule": scale.tech_schedule_per_day,
            "water_extra": scale.water_extra_rate,
            "rigwater": scale.rigwater_rate,
            "session": scale.session_rate,
            "technotes": scale.technotes_per_day,
            "rigflush": scale.rigflush_per_day,
            "rigfood": scale.rigfood_per_day,
            "calibration": scale.calibration_per_day,
        },
    )


def generate(scale: Scale, seed: int, end_date: dt.date) -> tuple[dict[str, Table], Ledger]:
    """All rows of the 19 tables and the ledger of injected defects (no database needed)."""
    rng = random.Random(seed)
    t = new_tables()
    ledger = Ledger()
    day0 = end_date - dt.timedelta(days=scale.days - 1)
    contacts = people.make_contacts(rng)
    people.fill_contacts(t["ratinfo.contacts"], contacts, rng)
    rigs = people.fill_riginfo(t["ratinfo.riginfo"], rng)
    people.fill_training_room(t["ratinfo.training_room"], rigs)
    rats = colony.make_rats(rng, contacts, scale.rats, scale.days, scale.active_per_day)
    for rat in rats:
        t["ratinfo.rats"].add(**colony.rat_row(rat, day0, scale.days, rng))
    clean_rats = {r.name for r in rats if r.clean and r.name}
    inj = Injector(t, ledger, rng, scale.defect_factor, clean_rats)
    inject_contacts(ledger, contacts)
    inject_rats(inj, contacts, TRAILING_COMMA_RATS)
    inj.clean_rats -= {
        t["ratinfo.rats"].get(r, "ratname")
        for r in t["ratinfo.rats"].rows
        if ledger.is_quarantined("ratinfo.rats", t["ratinfo.rats"].key_of(r))
    }
    records.fill_rat_history(
        t["ratinfo.rat_history"], t["ratinfo.rats"], rats, day0, scale.rat_history_edits, rng
    )
    next_ids = {name: scale.first_ids.get(name, 1) for name in t}
    ctx = day_context(scale, contacts, rigs, next_ids)
    experimenter_of = {r.name: (r.owner.experimenter if r.owner else r.experimenter) for r in rats}
    for d in range(scale.days):
        day = day0 + dt.timedelta(days=d)
        active = [
            ActiveRat(r.name, experimenter_of[r.name])
            for r in sorted(rats, key=lambda r: r.internal_id)
            if r.name and r.start <= d < r.end
        ]
        generate_day(t, ctx, day, active, day_rng(seed, day))
    render_blobs(t)
    tech_people = [c.experimenter for c in contacts if c.is_tech]
    surgeons = [
        c.experimenter for c in contacts if c.netid and c.initials and c.experimenter != "Alex"
    ][:20]
    records.fill_surgeries(t["ratinfo.surgery"], rats, day0, surgeons, rng)
    records.fill_rig_maintenance(
        t["ratinfo.rig_maintenance"],
        scale.rig_maintenance_rows,
        rigs,
        day0,
        scale.days,
        tech_people,
        rng,
    )
    inject_history(inj, contacts, TRAILING_COMMA_RATS)
    inject_activity(inj, contacts)
    inject_surgery(inj)
    inject_sessions(inj)
    cascade(t, ledger)
    return t, ledger


def build_legacy_database(
    conn: Any,
    schema_prefix: str,
    scale: str = "small",
    seed: int = 7,
    end_date: dt.date | None = None,
    manifest_path: Path | None = None,
    defects: bool = True,
) -> dict[str, Any]:
    """Create ``{prefix}bdata``, ``{prefix}ratinfo``, ``{prefix}protocol`` filled with synthetic lab data.

    Same (scale, seed, end_date) -> identical table contents.  Returns the
    ground-truth manifest (also written as JSON to ``manifest_path``): the
    row counts, every injected defect row with its kind, §5 problem number,
    whether a correct migration must quarantine it and the §4 checks that
    must flag it, and the catalog of defect kinds.

    ``defects=False`` builds the same database with every defect row repaired or removed
    (:func:`.clean.scrub`): the manifest's ``defects`` list is empty and a correct migration
    quarantines nothing.
    """
    chosen = get_scale(scale)
    end = end_date or dt.date.today()
    tables, ledger = generate(chosen, seed, end)
    if not defects:
        ledger = scrub(tables, ledger)
    prepare_session(conn)
    create_schemas(conn, schema_prefix)
    for table in tables.values():
        insert_rows(conn, schema_prefix, table)
    manifest = {
        "seed": seed,
        "defects_injected": defects,
        "scale": chosen.name,
        "end_date": end.isoformat(),
        "schema_prefix": schema_prefix,
        "row_counts": row_counts(conn, schema_prefix),
        "defects": ledger.entries,
        "defect_kinds": DEFECT_KINDS,
    }
    if manifest_path is not None:
        Path(manifest_path).write_text(json.dumps(manifest, indent=1, default=str))
    return json.loads(json.dumps(manifest, default=str))
