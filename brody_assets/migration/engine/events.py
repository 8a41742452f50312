"""Behavior events (``acquisition.__behavior_event``) expanded from parsed events (spec §3.7).

Pure Python: takes one session's unpacked ``parsed_events.peh`` (the list of per-trial records
written by :func:`brody_assets.migration.engine.blobs.transform_parsed_events`) and returns the
rows to insert, all or nothing. The expansion is the upstream's, step for step; where the
upstream silently shifted or lost data, the whole session is rejected with a reason instead:

* ``events_odd_count``: a trial contributes an odd number of values to a column, so the
  column-wide in/out pairing of §3.7 step 4 would shift into the next trials (check I10);
* ``event_type_too_long`` / ``event_name_too_long``: longer than the table's ``varchar(16)`` /
  ``varchar(32)`` (spec §3.8 #13: the upstream lost the session silently);
* ``event_time_invalid``: an ``out_time`` (or a kept ``in_time``) that is not a real number or
  is infinite, which the ``DOUBLE`` columns cannot hold;
* ``blob_unexpected_shape``: the peh value is not a list of per-trial dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .blobs import BLOB_UNEXPECTED_SHAPE

EVENTS_ODD_COUNT = "events_odd_count"
EVENT_TYPE_TOO_LONG = "event_type_too_long"
EVENT_NAME_TOO_LONG = "event_name_too_long"
EVENT_TIME_INVALID = "event_time_invalid"

EVENT_TYPE_MAX = 16  # __behavior_event.event_type varchar(16)
EVENT_NAME_MAX = 32  # __behavior_event.event_name varchar(32)


@dataclass
class EventsResult:
    """One session's ``__behavior_event`` rows, or why none may be inserted.

    ``rejected`` is ``None`` when ``rows`` is complete; otherwise ``(reason, detail)`` and
    ``rows`` is empty (a session is never inserted in part).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: tuple[str, str] | None = None


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray | list | tuple)


def _time(value: Any, what: str, where: str) -> float | None:
    """A DOUBLE column value: NaN and None -> None; anything not a finite real -> reject."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            raise _Reject(EVENT_TIME_INVALID, f"{where}: {what} is {number}")
        return number
    raise _Reject(EVENT_TIME_INVALID, f"{where}: {what} is {type(value).__name__} {value!r}")


def _column_events(column: str, values: list[np.ndarray]) -> list[dict[str, Any]]:
    """§3.7 steps 2–5 for one column whose every trial value is a numpy array.

    Pairing is column-wide, as the upstream's; a trial with an odd number of values is
    rejected unless every value of the column is itself an array (a column of nested arrays,
    whose events are all dropped afterwards anyway).
    """
    event_type, _, event_name = column.partition("__")
    flat: list[tuple[int, Any]] = []  # (trial position, value), steps 2–3: row-major
    odd: list[tuple[int, tuple[int, ...]]] = []
    for position, array in enumerate(values):
        if array.size % 2:
            odd.append((position, array.shape))
        flat.extend((position, v) for v in array.reshape(-1))
    if odd and not all(_is_array(v) for _, v in flat):
        position, shape = odd[0]
        raise _Reject(
            EVENTS_ODD_COUNT,
            f"column {column!r} trial {position + 1}: {int(np.prod(shape))} values (shape "
            f"{shape}); pairing in/out times would shift into later trials"
            + (f" ({len(odd)} trials are odd)" if len(odd) > 1 else ""),
        )
    events = []
    entries: dict[int, int] = {}
    for (position, in_time), (_, out_time) in zip(flat[0::2], flat[1::2], strict=False):
        entries[position] = entries.get(position, 0) + 1  # step 5
        events.append(
            {
                "trial": position + 1,
                "event_type": event_type,
                "event_name": event_name,
                "entry_num": entries[position],
                "in_time": in_time,
                "out_time": out_time,
            }
        )
    return events


def _expand(sessid: int, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    columns = list(dict.fromkeys(name for record in records for name in record))
    events: list[dict[str, Any]] = []
    for column in columns:
        values = [record.get(column) for record in records]
        if all(isinstance(v, np.ndarray) for v in values):  # step 1
            events.extend(_column_events(column, values))
    events = [e for e in events if not _is_array(e["in_time"])]  # nested arrays
    rows = []
    for number, event in enumerate(events, start=1):
        where = f"{event['event_type']}__{event['event_name']} trial {event['trial']} entry {event['entry_num']}"
        if len(event["event_type"]) > EVENT_TYPE_MAX:
            raise _Reject(
                EVENT_TYPE_TOO_LONG,
                f"event_type {event['event_type']!r} has {len(event['event_type'])} characters "
                f"(max {EVENT_TYPE_MAX})",
            )
        if len(event["event_name"]) > EVENT_NAME_MAX:
            raise _Reject(
                EVENT_NAME_TOO_LONG,
                f"event_name {event['event_name']!r} (type {event['event_type']!r}) has "
                f"{len(event['event_name'])} characters (max {EVENT_NAME_MAX})",
            )
        rows.append(
            {
                "sessid": sessid,
                "id_event": number,
                **event,
                "in_time": _time(event["in_time"], "in_time", where),
                "out_time": _time(event["out_time"], "out_time", where),
            }
        )
    return rows


def behavior_event_rows(
    sessid: int, peh_records: Sequence[Mapping[str, Any]] | Mapping[str, Any]
) -> EventsResult:
    """Expand one session's parsed-events records into ``__behavior_event`` rows (spec §3.7).

    Columns (in order of first appearance) are used only when every trial's value is a numpy
    array; empty arrays are skipped; each array is flattened row-major and its values paired
    (in, out); ``trial`` is the 1-based trial position, ``entry_num`` the 1-based pair number
    within (column, trial); ``event_type`` / ``event_name`` are the column name before / after
    its first ``__`` (no ``__``: the whole name / ``''``); NaN -> ``None``; events whose
    ``in_time`` is itself an array are dropped; ``id_event`` numbers the rest 1..n by column,
    trial, entry. A single dict counts as a one-trial session. Never raises on bad data: see
    the module docstring for the rejection reasons.
    """
    records = [peh_records] if isinstance(peh_records, Mapping) else peh_records
    if (
        not isinstance(records, Sequence)
        or isinstance(records, str | bytes)
        or not all(isinstance(r, Mapping) for r in records)
    ):
        return EventsResult(
            rejected=(BLOB_UNEXPECTED_SHAPE, "peh is not a list of per-trial records")
        )
    try:
        return EventsResult(rows=_expand(sessid, records))
    except _Reject as reject:
        return EventsResult(rejected=(reject.reason, reject.detail))
