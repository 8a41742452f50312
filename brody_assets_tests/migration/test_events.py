"""Behavior events expanded from parsed events (spec §3.7, §3.8 #13, check I10): no database needed."""

from __future__ import annotations

import random

import datajoint.blob as dj_blob
import numpy as np
import pytest

from brody_assets.demo.legacy import blobs as legacy_blobs
from brody_assets.demo.legacy import mym
from brody_assets.migration.engine.blobs import BLOB_UNEXPECTED_SHAPE, transform_parsed_events
from brody_assets.migration.engine.events import (
    EVENT_NAME_TOO_LONG,
    EVENT_TIME_INVALID,
    EVENT_TYPE_TOO_LONG,
    EVENTS_ODD_COUNT,
    behavior_event_rows,
)

COLUMNS = (
    "sessid",
    "id_event",
    "trial",
    "event_type",
    "event_name",
    "entry_num",
    "in_time",
    "out_time",
)


def as_tuples(rows: list[dict]) -> list[tuple]:
    assert all(tuple(row) == COLUMNS for row in rows)
    return [tuple(row[c] for c in COLUMNS) for row in rows]


def test_spec_example_two_pokes_in_one_trial() -> None:
    result = behavior_event_rows(7, [{"pokes__C": np.array([[1.0, 1.5], [2.0, 2.2]])}])

    assert result.rejected is None
    assert as_tuples(result.rows) == [
        (7, 1, 1, "pokes", "C", 1, 1.0, 1.5),
        (7, 2, 1, "pokes", "C", 2, 2.0, 2.2),
    ]


def test_numbering_by_column_then_trial_then_entry_with_empty_trials_skipped() -> None:
    records = [
        {"states__a": np.array([0.1, 0.2]), "pokes__L": np.zeros((0, 2))},
        {"states__a": np.zeros((0, 2)), "pokes__L": np.array([[5.0, 6.0], [7.0, 8.0]])},
        {"states__a": np.array([[0.3, 0.4]]), "pokes__L": np.array([9.0, 9.5])},
    ]

    result = behavior_event_rows(1, records)

    assert as_tuples(result.rows) == [
        (1, 1, 1, "states", "a", 1, 0.1, 0.2),
        (1, 2, 3, "states", "a", 1, 0.3, 0.4),
        (1, 3, 2, "pokes", "L", 1, 5.0, 6.0),
        (1, 4, 2, "pokes", "L", 2, 7.0, 8.0),
        (1, 5, 3, "pokes", "L", 1, 9.0, 9.5),
    ]


def test_strings_scalars_and_partly_array_columns_are_ignored() -> None:
    records = [
        {
            "states__starting_state": "state_0",
            "pokes__C": np.array([1.0, 2.0]),
            "n": 3.0,
            "mixed__x": np.array([1.0, 2.0]),
        },
        {
            "states__starting_state": "state_0",
            "pokes__C": np.array([3.0, 4.0]),
            "n": 4.0,
            "mixed__x": 5.0,
        },
    ]

    result = behavior_event_rows(1, records)

    assert {(r["event_type"], r["event_name"]) for r in result.rows} == {("pokes", "C")}
    assert len(result.rows) == 2


def test_nan_becomes_none() -> None:
    result = behavior_event_rows(1, [{"states__a": np.array([[1.0, np.nan], [np.nan, 4.0]])}])

    assert [(r["in_time"], r["out_time"]) for r in result.rows] == [(1.0, None), (None, 4.0)]


def test_rows_whose_in_time_is_an_array_are_dropped_and_ids_stay_contiguous() -> None:
    nested = np.empty(2, dtype=object)
    nested[:] = [np.array([1.0]), np.array([2.0])]
    records = [{"states__ending_state": nested, "pokes__C": np.array([1.0, 2.0])}]

    result = behavior_event_rows(1, records)

    assert as_tuples(result.rows) == [(1, 1, 1, "pokes", "C", 1, 1.0, 2.0)]


def test_column_name_without_double_underscore() -> None:
    result = behavior_event_rows(1, {"licks": np.array([1.0, 2.0])})  # a single-trial dict

    assert as_tuples(result.rows) == [(1, 1, 1, "licks", "", 1, 1.0, 2.0)]


# --- guards the upstream lacked ----------------------------------------------------------------


def test_a_trial_with_an_odd_number_of_values_rejects_the_session() -> None:
    records = [
        {"pokes__C": np.array([1.0, 2.0, 3.0])},  # would pair 3.0 with trial 2's 4.0
        {"pokes__C": np.array([4.0, 5.0, 6.0])},
    ]

    result = behavior_event_rows(1, records)

    assert result.rows == []
    reason, detail = result.rejected
    assert reason == EVENTS_ODD_COUNT
    assert "'pokes__C' trial 1: 3 values" in detail


def test_odd_columns_of_nested_arrays_only_are_dropped_not_rejected() -> None:
    nested = np.empty(1, dtype=object)
    nested[0] = np.array([1.0, 2.0])
    result = behavior_event_rows(1, [{"states__x": nested, "pokes__C": np.array([1.0, 2.0])}])

    assert result.rejected is None
    assert [r["event_name"] for r in result.rows] == ["C"]


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("a" * 17 + "__C", EVENT_TYPE_TOO_LONG),
        ("pokes__" + "n" * 33, EVENT_NAME_TOO_LONG),
    ],
)
def test_names_longer_than_the_columns_reject_the_session(column: str, reason: str) -> None:
    result = behavior_event_rows(
        1, [{"pokes__C": np.array([1.0, 2.0]), column: np.array([1.0, 2.0])}]
    )

    assert result.rows == []
    assert result.rejected[0] == reason
    assert "max" in result.rejected[1]


def test_names_exactly_at_the_column_widths_are_accepted() -> None:
    column = "t" * 16 + "__" + "n" * 32
    result = behavior_event_rows(1, [{column: np.array([1.0, 2.0])}])

    assert result.rejected is None
    assert (result.rows[0]["event_type"], result.rows[0]["event_name"]) == ("t" * 16, "n" * 32)


def test_long_names_of_ignored_columns_do_not_reject() -> None:
    result = behavior_event_rows(
        1, [{"states__" + "s" * 40: "a string", "pokes__C": np.array([1.0, 2.0])}]
    )

    assert result.rejected is None and len(result.rows) == 1


def test_infinite_times_are_rejected() -> None:
    result = behavior_event_rows(1, [{"pokes__C": np.array([1.0, np.inf])}])

    assert result.rows == [] and result.rejected[0] == EVENT_TIME_INVALID


def test_not_a_list_of_records_is_rejected() -> None:
    assert behavior_event_rows(1, "peh").rejected[0] == BLOB_UNEXPECTED_SHAPE
    assert behavior_event_rows(1, [1.0, 2.0]).rejected[0] == BLOB_UNEXPECTED_SHAPE


# --- end to end from a legacy blob --------------------------------------------------------------


def expected_events(sessid: int, peh: mym.Struct) -> list[tuple]:
    """§3.7 worked out from the generator's input: every array-valued sub-field, in field order."""
    columns: list[tuple[str, str]] = []
    for field in peh.fields:
        for key, value in peh.elements[0][field].items():
            if not isinstance(value, str):
                columns.append((field, key))
    rows = []
    for field, key in columns:
        for trial, element in enumerate(peh.elements, start=1):
            pairs = np.asarray(element[field][key], dtype=float).reshape(-1, 2)
            for entry, (t_in, t_out) in enumerate(pairs, start=1):
                rows.append((sessid, len(rows) + 1, trial, field, key, entry, t_in, t_out))
    return rows


def test_events_from_a_generator_session_end_to_end() -> None:
    peh = legacy_blobs.peh_value(random.Random(11), 8)
    packed = transform_parsed_events([{"sessid": 42, "peh": mym.encode(peh)}]).good[0]["peh"]

    result = behavior_event_rows(42, dj_blob.unpack(packed))

    assert result.rejected is None
    assert as_tuples(result.rows) == expected_events(42, peh)
    assert len(result.rows) > 8 * 4
