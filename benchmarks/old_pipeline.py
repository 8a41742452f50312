"""The old pipeline's approach, re-created for benchmark (b): DataJoint ``populate`` per legacy row
into a shadow table, then fetch ``shadow - new`` and insert it, falling back to one insert per row.

Only ``ratinfo.water`` is re-created (the biggest daily table, and the one whose rules are simple),
faithfully to spec §2.16 / §3.4 / §3.5: a Computed shadow keyed by the renamed legacy key, whose
``make`` fetches one legacy row, applies the rules in Python and inserts it; then a bulk insert of
the set difference with a per-row fallback on failure.
"""

from __future__ import annotations

import datetime as dt

import datajoint as dj

SHADOW_DEFINITION = """
water_id                 : int(11)
---
ratname                  : varchar(8)
administration_date      : date
administration_starttime : time
administration_stoptime=null : time
administration_person    : varchar(32)
volume                   : decimal(6,3)
percent_bodymass         : decimal(6,3)
percent_target           : decimal(6,3)
"""


def run_old_water(connection: dj.Connection, legacy_schema: str, work_prefix: str, first_id: int,
                  last_id: int) -> dict[str, int]:
    """Populate the old-style shadow for waterings ``first_id..last_id``, then copy to a new table."""
    legacy = dj.VirtualModule("legacy_ratinfo", legacy_schema, connection=connection)
    schema = dj.Schema(f"{work_prefix}oldpipe", connection=connection, create_schema=True)
    legacy_water = legacy.Water & f"watering BETWEEN {first_id} AND {last_id}"

    @schema
    class ShadowWater(dj.Computed):
        definition = SHADOW_DEFINITION

        @property
        def key_source(self):
            return legacy_water.proj(water_id="watering")

        def make(self, key):
            row = (legacy.Water & {"watering": key["water_id"]}).fetch1()
            date = row["date"]
            if not isinstance(date, dt.date):
                raise ValueError(f"not a date: {date}")
            self.insert1(
                {
                    "water_id": key["water_id"],
                    "ratname": row["rat"],
                    "administration_date": date,
                    "administration_starttime": row["starttime"],
                    "administration_stoptime": row["stoptime"],
                    "administration_person": row["tech"],
                    "volume": row["volume"],
                    "percent_bodymass": row["percent_bodymass"],
                    "percent_target": row["percent_target"],
                }
            )

    @schema
    class NewWater(dj.Manual):
        definition = SHADOW_DEFINITION

    ShadowWater.populate(suppress_errors=True)
    todo = ShadowWater() - NewWater.proj()
    failed = 0
    try:
        NewWater.insert(todo)
    except Exception:  # noqa: BLE001 - the old pipeline's fallback: row by row
        for row in todo.fetch(as_dict=True):
            try:
                NewWater.insert1(row)
            except Exception:  # noqa: BLE001
                failed += 1
    counts = {"shadow": len(ShadowWater()), "new": len(NewWater()), "failed": failed}
    schema.drop(force=True)
    return counts
