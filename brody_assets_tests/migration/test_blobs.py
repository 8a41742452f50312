"""Legacy mYm blobs -> Python-native blobs (spec §1.3, §2.19, §2.20, §3.6): no database needed.

Blobs are built with the synthetic legacy database's own mYm encoder; the expected Python values
are derived here from the *encoder's input*, independently of DataJoint's reader, and the
transform's packed output is read back with ``datajoint.blob.unpack`` in ordinary 64-bit mode.
"""

from __future__ import annotations

import random
from typing import Any

import datajoint as dj
import datajoint.blob as dj_blob
import numpy as np
import pytest

from brody_assets.demo.legacy import blobs as legacy_blobs
from brody_assets.demo.legacy import mym
from brody_assets.migration.engine.blobs import (
    BLOB_MISSING,
    BLOB_UNDECODABLE,
    BLOB_UNEXPECTED_SHAPE,
    BlobDecodeError,
    decode_legacy_blob,
    matlab_to_python,
    transform_parsed_events,
    transform_protocol_data,
)

# --- the oracle: what spec §2.19 says the encoder's input must become -------------------------


def expected_value(value: Any) -> Any:
    if isinstance(value, mym.Struct):
        elements = [{f: expected_value(e[f]) for f in value.fields} for e in value.elements]
        return elements[0] if len(elements) == 1 else elements
    if isinstance(value, dict):
        return {k: expected_value(v) for k, v in value.items()}
    if isinstance(value, str):
        return value
    array = np.asarray(value, dtype=float)
    if array.size == 1:
        return float(array.reshape(()))
    if array.ndim < 2:  # the encoder writes 1-D input as a 1×N row
        return array.reshape(-1)
    return np.squeeze(array)


def expected_records(peh: mym.Struct) -> list[dict[str, Any]]:
    records = []
    for trial in peh.elements:
        record = {}
        for field in peh.fields:
            for key, value in trial[field].items():
                record[f"{field}__{key}"] = expected_value(value)
        records.append(record)
    return records


def assert_same(actual: Any, expected: Any, path: str = "value") -> None:
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{path}: {actual!r} is not an array"
        assert actual.shape == expected.shape, f"{path}: shape {actual.shape} != {expected.shape}"
        np.testing.assert_array_equal(actual, expected, err_msg=path)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not a dict"
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} vs {expected!r}"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def unpacked(result, column: str) -> dict[int, Any]:
    """The transform's good rows, read back the way DataJoint fetches a blob column."""
    assert dj_blob.use_32bit_dims is False
    return {row["sessid"]: dj_blob.unpack(row[column]) for row in result.good}


# --- parsed events (§2.20) --------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_generator_peh_round_trips_to_flattened_records(compress: bool) -> None:
    peh = legacy_blobs.peh_value(random.Random(7), 6)
    blob = mym.encode(peh, compress=compress)
    assert blob.startswith(b"ZL123\0") is compress  # both of mYm's framings are exercised

    result = transform_parsed_events([{"sessid": 101, "peh": blob}])

    assert result.rejected == []
    records = unpacked(result, "peh")[101]
    assert_same(records, expected_records(peh), "peh")
    assert records[0]["states__starting_state"] == "state_0"
    assert "pokes__C" in records[0] and "pokes" not in records[0]


def test_single_trial_session_gives_a_one_element_list() -> None:
    trial = {"states": {"s1": np.array([[1.0, 2.0]])}, "pokes": {"C": np.zeros((0, 2))}}
    peh = mym.Struct(("states", "pokes"), [trial])

    result = transform_parsed_events([{"sessid": 5, "peh": mym.encode(peh)}])

    records = unpacked(result, "peh")[5]
    assert isinstance(records, list) and len(records) == 1
    assert_same(records[0]["states__s1"], np.array([1.0, 2.0]))
    assert records[0]["pokes__C"].shape == (0, 2)


def test_peh_keeps_non_struct_fields_and_fills_missing_subkeys_with_none() -> None:
    trials = [
        {"states": {"a": np.array([[1.0, 2.0]])}, "note": "x"},
        {"states": {"a": np.array([[3.0, 4.0]]), "b": 7.0}, "note": "y"},
    ]
    result = transform_parsed_events(
        [{"sessid": 1, "peh": mym.encode(mym.Struct(("states", "note"), trials))}]
    )

    records = unpacked(result, "peh")[1]
    assert [list(r) for r in records] == [["states__a", "states__b", "note"]] * 2
    assert records[0]["states__b"] is None and records[1]["states__b"] == 7.0
    assert [r["note"] for r in records] == ["x", "y"]


# --- protocol data (§2.19) ---------------------------------------------------------------------


def test_generator_protocol_data_round_trips() -> None:
    value = legacy_blobs.protocol_data_value(random.Random(3), "PBups", 40)

    result = transform_protocol_data([{"sessid": 9, "protocol_data": mym.encode(value)}])

    assert result.rejected == []
    decoded = unpacked(result, "protocol_data")[9]
    assert_same(decoded, expected_value(value), "protocol_data")
    assert decoded["protocol"] == "PBups" and decoded["n_trials"] == 40.0
    assert decoded["hit_history"].shape == (40,)


def test_struct_arrays_and_nested_structs_become_lists_of_dicts_and_dicts() -> None:
    matrix = np.arange(6.0).reshape(2, 3)
    value = {
        "blocks": mym.Struct(
            ("name", "p"),
            [{"name": "easy", "p": 0.8}, {"name": "hard", "p": np.array([0.6, 0.7])}],
        ),
        "one_block": mym.Struct(("name",), [{"name": "only"}]),
        "outer": {"inner": {"matrix": matrix, "deep": {"x": 1.0}}},
        "empty": np.zeros((0, 0)),
        "label": "",
    }

    result = transform_protocol_data([{"sessid": 1, "protocol_data": mym.encode(value)}])

    decoded = unpacked(result, "protocol_data")[1]
    assert_same(
        decoded,
        {
            "blocks": [{"name": "easy", "p": 0.8}, {"name": "hard", "p": np.array([0.6, 0.7])}],
            "one_block": {"name": "only"},
            "outer": {"inner": {"matrix": matrix, "deep": {"x": 1.0}}},
            "empty": np.zeros((0, 0)),
            "label": "",
        },
    )


def test_matlab_cells_and_char_matrices() -> None:
    cell = dj_blob.MatCell((2,), dtype=object)
    cell[:] = [np.array([[1.0]]), np.array(["ab"])]
    chars = np.array([["a", "b"], ["c", "d"]])

    assert matlab_to_python(cell) == [1.0, "ab"]
    assert matlab_to_python(chars) == ["ab", "cd"]


# --- rejections --------------------------------------------------------------------------------


def test_null_or_absent_blob_is_blob_missing() -> None:
    result = transform_parsed_events([{"sessid": 1, "peh": None}, {"sessid": 2}])
    assert result.good == []
    assert [(r.sessid, r.reason) for r in result.rejected] == [(1, BLOB_MISSING), (2, BLOB_MISSING)]

    result = transform_protocol_data([{"sessid": 3, "protocol_data": None}])
    assert [(r.sessid, r.reason) for r in result.rejected] == [(3, BLOB_MISSING)]


def test_corrupt_blobs_are_undecodable_and_do_not_stop_the_batch() -> None:
    good = legacy_blobs.peh_blob(random.Random(1), 3)
    plain = mym.encode(legacy_blobs.peh_value(random.Random(1), 3), compress=False)
    rows = [
        {"sessid": 1, "peh": mym.corrupt(good)},  # the generator's own defect
        {"sessid": 2, "peh": plain[: len(plain) // 2]},  # truncated
        {"sessid": 3, "peh": b"not a blob at all"},
        {"sessid": 4, "peh": dj_blob.pack({"python": "native"})},  # a 64-bit dj0 blob
        {"sessid": 5, "peh": good},
    ]

    result = transform_parsed_events(rows)

    assert [row["sessid"] for row in result.good] == [5]
    assert [(r.sessid, r.reason) for r in result.rejected] == [
        (s, BLOB_UNDECODABLE) for s in (1, 2, 3, 4)
    ]
    first = result.rejected[0].detail
    assert 'Unknown data structure code "Q"' in first
    assert "first bytes: 6d 59 6d 00 51" in first  # b"mYm\0Q"


def test_blob_of_the_wrong_shape_is_rejected() -> None:
    result = transform_protocol_data([{"sessid": 1, "protocol_data": mym.encode(np.arange(4.0))}])
    assert [(r.sessid, r.reason) for r in result.rejected] == [(1, BLOB_UNEXPECTED_SHAPE)]
    assert "expected a 1×1 MATLAB struct" in result.rejected[0].detail

    result = transform_parsed_events([{"sessid": 2, "peh": mym.encode("just text")}])
    assert [(r.sessid, r.reason) for r in result.rejected] == [(2, BLOB_UNEXPECTED_SHAPE)]


# --- the global 32-bit flag (§3.6, §3.8 #12) ---------------------------------------------------


@pytest.mark.parametrize("before", [False, True])
def test_flag_is_on_while_decoding_and_restored_after_success_and_error(
    monkeypatch: pytest.MonkeyPatch, before: bool
) -> None:
    seen: list[bool] = []
    real_unpack = dj_blob.unpack

    def spy(blob, squeeze=False):
        seen.append(dj_blob.use_32bit_dims)
        return real_unpack(blob, squeeze=squeeze)

    monkeypatch.setattr(dj_blob, "unpack", spy)
    monkeypatch.setattr(dj_blob, "use_32bit_dims", before)
    blob = mym.encode({"a": 1.0})

    assert matlab_to_python(decode_legacy_blob(blob)) == {"a": 1.0}
    assert dj_blob.use_32bit_dims is before
    with pytest.raises(BlobDecodeError, match="Unknown data structure code"):
        decode_legacy_blob(mym.corrupt(blob))
    assert dj_blob.use_32bit_dims is before
    assert seen == [True, True]


def test_python_blobs_still_decode_after_legacy_decoding() -> None:
    native = dj_blob.pack([{"t": np.array([[1.0, 2.0], [3.0, 4.0]])}])
    transform_parsed_events(
        [
            {"sessid": 1, "peh": legacy_blobs.peh_blob(random.Random(1), 2)},
            {"sessid": 2, "peh": b"mYm\0Q"},
        ]
    )

    assert_same(dj_blob.unpack(native), [{"t": np.array([[1.0, 2.0], [3.0, 4.0]])}])


def test_python_native_setting_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dj.config, "enable_python_native_blobs", False)
    result = transform_protocol_data([{"sessid": 1, "protocol_data": mym.encode({"a": "b"})}])

    assert result.good[0]["protocol_data"].startswith(b"dj0\0")
    assert dj.config["enable_python_native_blobs"] is False
