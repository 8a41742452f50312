"""The fast blob paths (engine.fastblob) against DataJoint's reference path, and the transform pool.

* :func:`read_legacy` must return exactly ``matlab_to_python(decode_legacy_blob(b))`` (same
  types, dtypes, shapes, values) or decline (``Unsupported``); the transforms then fall back, so
  the outcome (value, or reason code and detail) is always the reference one.
* :func:`pack_dj0` must write the bytes ``datajoint.blob.pack`` writes; :func:`unpack_dj0` must
  read what ``datajoint.blob.unpack`` reads.

Checked on every blob of a generated ``small`` database, on hand-made edge cases, on random
values and on random corruptions. The last tests run the engine with the pool (two workers) and
in process, and crash a worker.
"""

from __future__ import annotations

import contextlib
import os
import random
import struct
import zlib
from typing import Any

import datajoint.blob as dj_blob
import numpy as np
import pytest

from brody_assets.demo.legacy import blobs as legacy_blobs
from brody_assets.demo.legacy import build_legacy_database, mym
from brody_assets.migration.engine import blobs, fastblob
from brody_assets.migration.engine.fastblob import (
    Unsupported,
    pack_dj0,
    read_legacy,
    unpack_dj0,
    unpack_native_fast,
)
from brody_assets.migration.engine.matlab import matlab_to_python
from brody_assets.migration.engine.parallel import TransformPool, TransformWorkerError

from .native_support import PATHS, using

# --- comparison helpers ----------------------------------------------------------------------


def assert_identical(actual: Any, expected: Any, path: str = "value") -> None:
    """Same Python types all the way down; numpy arrays: same dtype, shape and values (NaN == NaN)."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} vs {type(expected)}"
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, f"{path}: {actual.dtype} vs {expected.dtype}"
        assert actual.shape == expected.shape, f"{path}: {actual.shape} vs {expected.shape}"
        if expected.dtype == object:
            for i, (a, e) in enumerate(zip(actual.reshape(-1), expected.reshape(-1), strict=True)):
                assert_identical(a, e, f"{path}.flat[{i}]")
        else:
            assert actual.tobytes() == expected.tobytes(), path
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys"
        for key in expected:
            assert_identical(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), f"{path}: length"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(a, e, f"{path}[{i}]")
    elif isinstance(expected, float | complex):  # repr: NaN equals NaN, -0.0 differs from 0.0
        assert repr(actual) == repr(expected), f"{path}: {actual!r} vs {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} vs {expected!r}"


def reference(blob: bytes) -> tuple[str, Any]:
    """The reference outcome: ('ok', value) or ('error', 'Type: message')."""
    try:
        return "ok", matlab_to_python(blobs.decode_legacy_blob(blob))
    except Exception as error:  # noqa: BLE001
        return "error", f"{type(error).__name__}: {error}"


def check_legacy(blob: bytes) -> str:
    """Fast reader == reference (or declines); the fallback wrapper == reference always."""
    kind, expected = reference(blob)
    try:
        value = read_legacy(blob)
    except Unsupported:
        value = Unsupported
    if value is not Unsupported:
        assert kind == "ok", f"fast reader accepted a blob the reference rejects: {expected}"
        assert_identical(value, expected)
    try:
        wrapped = ("ok", blobs._decode_to_python(blob))
    except Exception as error:  # noqa: BLE001
        wrapped = ("error", f"{type(error).__name__}: {error}")
    assert wrapped[0] == kind
    if kind == "ok":
        assert_identical(wrapped[1], expected)
    else:
        assert wrapped[1] == expected
    return (
        "fast"
        if value is not Unsupported
        else ("fallback-ok" if kind == "ok" else "fallback-error")
    )


def check_pack(value: Any) -> bytes:
    expected = blobs.pack_native(value)
    assert pack_dj0(value) == expected
    assert fastblob.pack_native_fast(value) == expected
    check_unpack(expected)
    return expected


def check_unpack(blob: bytes) -> None:
    expected = dj_blob.unpack(blob)
    assert_identical(unpack_native_fast(blob), expected)
    with contextlib.suppress(Unsupported):
        assert_identical(unpack_dj0(blob), expected)


# --- a raw mYm writer for edge cases the demo encoder does not produce -------------------------

U32 = struct.Struct("<I").pack


def m_array(
    data: np.ndarray, cls: int, shape: tuple[int, ...] | None = None, imag: np.ndarray | None = None
) -> bytes:
    shape = data.shape if shape is None else shape
    body = (
        b"A" + U32(len(shape)) + b"".join(U32(d) for d in shape) + U32(cls) + U32(imag is not None)
    )
    body += np.asarray(data).tobytes(order="F")
    if imag is not None:
        body += np.asarray(imag).tobytes(order="F")
    return body


def m_char(rows: list[str], width: int | None = None) -> bytes:
    width = max((len(r) for r in rows), default=0) if width is None else width
    codes = np.array([[ord(c) for c in r] for r in rows], dtype="<u2").reshape(len(rows), width)
    return m_array(codes, 4)


def m_struct(
    names: list[str], elements: list[list[bytes]], shape: tuple[int, ...] | None = None
) -> bytes:
    shape = (1, len(elements)) if shape is None else shape
    out = b"S" + U32(len(shape)) + b"".join(U32(d) for d in shape) + U32(len(names))
    out += b"".join(n.encode() + b"\0" for n in names)
    for element in elements:
        for value in element:
            out += U32(len(value)) + value
    return out


def m_cell(items: list[bytes], shape: tuple[int, ...]) -> bytes:
    return (
        b"C"
        + U32(len(shape))
        + b"".join(U32(d) for d in shape)
        + b"".join(U32(len(i)) + i for i in items)
    )


def blob(value: bytes, compress: bool = False) -> bytes:
    raw = b"mYm\0" + value
    return b"ZL123\0" + U32(len(raw)) + zlib.compress(raw) if compress else raw


DOUBLE = 6
CLASSES = {
    3: "bool",
    6: "<f8",
    7: "<f4",
    8: "i1",
    9: "u1",
    10: "<i2",
    11: "<u2",
    12: "<i4",
    13: "<u4",
    14: "<i8",
    15: "<u8",
}


def numeric(cls: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(CLASSES[cls])
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


EDGE_CASES: dict[str, bytes] = {}


def _edge_cases() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    z = np.zeros
    cases = {
        "scalar double": m_array(np.array([[2.5]]), DOUBLE),
        "nan scalar": m_array(np.array([[np.nan]]), DOUBLE),
        "-0.0 scalar": m_array(np.array([[-0.0]]), DOUBLE),
        "inf row": m_array(np.array([[np.inf, -np.inf, np.nan]]), DOUBLE),
        "empty 0x0": m_array(z((0, 0)), DOUBLE),
        "empty 0x2": m_array(z((0, 2)), DOUBLE),
        "empty 1x0": m_array(z((1, 0)), DOUBLE),
        "empty 0x1": m_array(z((0, 1)), DOUBLE),
        "row 1x5": m_array(np.arange(5.0).reshape(1, 5), DOUBLE),
        "column 5x1": m_array(np.arange(5.0).reshape(5, 1), DOUBLE),
        "matrix 3x2": m_array(np.arange(6.0).reshape(3, 2), DOUBLE),
        "matrix 2x2": m_array(np.arange(4.0).reshape(2, 2), DOUBLE),
        "3-d double": m_array(np.arange(8.0).reshape(2, 2, 2), DOUBLE),
        "3-d singleton": m_array(np.arange(4.0).reshape(1, 4, 1), DOUBLE),
        "1-d dims": b"A" + U32(1) + U32(3) + U32(DOUBLE) + U32(0) + np.arange(3.0).tobytes(),
        "0-d dims": b"A" + U32(0) + U32(DOUBLE) + U32(0) + np.float64(4.0).tobytes(),
        "complex double": m_array(np.array([[1.0, 2.0]]), DOUBLE, imag=np.array([[3.0, -4.0]])),
        "complex scalar": m_array(np.array([[1.5]]), DOUBLE, imag=np.array([[-2.0]])),
        "complex single": m_array(
            np.array([[1.0, 2.0]], "<f4"), 7, imag=np.array([[3.0, 4.0]], "<f4")
        ),
        "complex single scalar": m_array(
            np.array([[1.0]], "<f4"), 7, imag=np.array([[3.0]], "<f4")
        ),
        "complex int16": m_array(np.array([[1, 2]], "<i2"), 10, imag=np.array([[3, 4]], "<i2")),
        "char row": m_char(["hello"]),
        "char single": m_char(["x"]),
        "char empty 0x0": m_array(z((0, 0), "<u2"), 4),
        "char empty 1x0": m_array(z((1, 0), "<u2"), 4),
        "char empty 3x0": m_array(z((3, 0), "<u2"), 4),
        "char matrix": m_char(["abc", "def", "ghi"]),
        "char column": m_char(["a", "b"]),
        "char with NUL": m_char(["a\0b\0"]),
        "char all NUL": m_char(["\0\0"]),
        "char matrix with NUL": m_char(["a\0", "\0b"]),
        "char high byte ignored": m_array(np.array([[0x141, 0x142]], "<u2"), 4),
        "char latin-1": m_char(["caf\xe9"]),
        "char 3-d": m_array(np.full((2, 2, 2), ord("a"), "<u2"), 4),
        "char complex flag": b"A"
        + U32(2)
        + U32(1)
        + U32(2)
        + U32(4)
        + U32(1)
        + np.array([97, 98], "<u2").tobytes(),
        "logical": m_array(np.array([[True, False, True]]), 3),
        "logical scalar": m_array(np.array([[True]]), 3),
        "logical raw 2": m_array(np.array([[2, 0]], "u1"), 3),
        "struct 1x1": m_struct(["a", "b"], [[m_array(np.array([[1.0]]), DOUBLE), m_char(["x"])]]),
        "struct 1x3": m_struct(
            ["a"], [[m_array(np.array([[float(i)]]), DOUBLE)] for i in range(3)]
        ),
        "struct 3x1": m_struct(
            ["a"], [[m_array(np.array([[float(i)]]), DOUBLE)] for i in range(3)], (3, 1)
        ),
        "struct 2x2": m_struct(
            ["a"], [[m_array(np.array([[float(i)]]), DOUBLE)] for i in range(4)], (2, 2)
        ),
        "struct 0x0": m_struct(["a", "b"], [], (0, 0)),
        "struct 1x0": m_struct(["a"], [], (1, 0)),
        "struct no fields": m_struct([], [[]]),
        "struct no fields 0x0": m_struct([], [], (0, 0)),
        "struct nested": m_struct(
            ["outer"],
            [
                [
                    m_struct(
                        ["inner", "other"],
                        [
                            [
                                m_struct(
                                    ["deep"], [[m_array(np.arange(4.0).reshape(2, 2), DOUBLE)]]
                                ),
                                m_struct(["x"], [[m_char(["s"])], [m_array(z((0, 2)), DOUBLE)]]),
                            ]
                        ],
                    )
                ]
            ],
        ),
        "struct field no fields": m_struct(["e"], [[m_struct([], [[]])]]),
        "struct unicode name": m_struct(["näme"], [[m_array(np.array([[1.0]]), DOUBLE)]]),
        "struct empty name": m_struct([""], [[m_array(np.array([[1.0]]), DOUBLE)]]),
        "struct duplicate names": m_struct(["a", "a"], [[m_array(np.array([[1.0]]), DOUBLE)] * 2]),
        "struct bad utf8 name": m_struct(["ok"], [[m_array(np.array([[1.0]]), DOUBLE)]]).replace(
            b"ok\0", b"o\xff\0"
        ),
        "struct 3-d": m_struct(["a"], [[m_array(np.array([[1.0]]), DOUBLE)]] * 2, (1, 2, 1)),
        "struct 1-d": m_struct(["a"], [[m_array(np.array([[1.0]]), DOUBLE)]] * 2, (2,)),
        "cell mixed": m_cell([m_array(np.array([[1.0]]), DOUBLE), m_char(["ab"])], (1, 2)),
        "cell of scalars": m_cell(
            [m_array(np.array([[1.0]]), DOUBLE), m_array(np.array([[2.0]]), DOUBLE)], (2, 1)
        ),
        "cell of strings": m_cell([m_char(["ab"]), m_char(["cd"])], (1, 2)),
        "cell empty": m_cell([], (0, 0)),
        "struct with cell": m_struct(["c"], [[m_cell([m_char(["ab"]), m_char(["cde"])], (1, 2))]]),
        "unknown class": m_array(np.array([[1.0]]), 16),
        "void class": m_array(np.array([[1.0]]), 5),
        "datetime class": m_array(np.array([[1]], "<i8"), 65539),
        "sparse": b"P" + U32(2),
        "dj0 code inside mYm": b"\x05" + struct.pack("<I", 2) + b"hi",
    }
    for cls in CLASSES:
        for shape in ((1, 1), (1, 4), (3, 2), (0, 3)):
            cases[f"class {cls} {shape}"] = m_array(numeric(cls, shape, rng), cls)
    text = m_char(["xy"])
    good = m_struct(["a", "b"], [[m_array(np.arange(6.0).reshape(3, 2), DOUBLE), text]])
    out = {name: blob(value) for name, value in cases.items()}
    out.update({f"{name} (zlib)": blob(value, compress=True) for name, value in cases.items()})
    raw = blob(good)
    comp = blob(good, compress=True)
    out.update(
        {
            "trailing byte": raw + b"\0",
            "truncated": raw[:-3],
            "header only": b"mYm\0",
            "empty": b"",
            "zlib wrong size": comp[:6] + U32(len(raw) + 1) + comp[10:],
            "zlib corrupt": comp[:14] + b"\0" * 8 + comp[22:],
            "zlib trailing garbage": comp + b"junk",
            "zlib of a non-mYm": b"ZL123\0" + U32(8) + zlib.compress(b"dj0\0abcd"),
            "field length too long": raw.replace(U32(len(text)) + text, U32(len(text) + 1) + text),
            "field length too short": raw.replace(U32(len(text)) + text, U32(len(text) - 1) + text),
            "dj0 blob": dj_blob.pack({"python": "native"}),
            "not a blob": b"not a blob at all",
        }
    )
    return out


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_legacy_edge_cases_match_the_reference(name: str) -> None:
    check_legacy(EDGE_CASES[name])


def test_common_shapes_take_the_fast_path() -> None:
    for name in (
        "scalar double",
        "empty 0x2",
        "matrix 3x2",
        "char row",
        "char matrix",
        "char with NUL",
        "struct 1x3",
        "struct nested",
        "struct 0x0",
        "struct no fields",
        "logical",
        "class 12 (3, 2)",
        "complex double",
        "matrix 3x2 (zlib)",
    ):
        read_legacy(EDGE_CASES[name])  # no Unsupported
    for name in (
        "cell mixed",
        "3-d double",
        "1-d dims",
        "char latin-1",
        "struct duplicate names",
        "trailing byte",
        "truncated",
        "dj0 blob",
        "zlib wrong size",
    ):
        with pytest.raises(Unsupported):
            read_legacy(EDGE_CASES[name])


def test_the_fast_path_never_touches_the_global_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("DataJoint's reader was called")

    monkeypatch.setattr(dj_blob, "unpack", forbidden)
    monkeypatch.setattr(dj_blob, "use_32bit_dims", False)
    blob_ = legacy_blobs.peh_blob(random.Random(3), 20)
    result = blobs.transform_parsed_events([{"sessid": 1, "peh": blob_}])
    assert len(result.good) == 1 and dj_blob.use_32bit_dims is False


# --- random values and random corruption --------------------------------------------------------


def random_value(rng: random.Random, nprng: np.random.Generator, depth: int = 0) -> bytes:
    kind = rng.choice(
        ["double", "double", "char", "numeric", "struct", "struct"]
        if depth < 3
        else ["double", "char", "numeric"]
    )
    if kind == "double":
        shape = rng.choice(
            [(1, 1), (1, 1), (0, 2), (0, 0), (1, 0), (1, 2), (2, 1), (rng.randrange(2, 6), 2)]
        )
        return m_array(nprng.standard_normal(shape).round(4), DOUBLE)
    if kind == "char":
        rows = rng.choice([1, 1, 1, 2, 3, 0])
        width = rng.randrange(0, 8)
        text = ["".join(rng.choice("ab_xyz\0") for _ in range(width)) for _ in range(rows)]
        return m_char(text, width)
    if kind == "numeric":
        cls = rng.choice(list(CLASSES))
        shape = rng.choice([(1, 1), (1, 3), (2, 2), (0, 1)])
        data = numeric(cls, shape, nprng)
        if rng.random() < 0.2 and cls != 3:
            return m_array(data, cls, imag=numeric(cls, shape, nprng))
        return m_array(data, cls)
    names = rng.sample(["a", "b", "cc", "state_0", "Left", "x1"], rng.randrange(0, 4))
    shape = rng.choice([(1, 1), (1, 1), (1, 3), (3, 1), (0, 0), (2, 2)])
    n = shape[0] * shape[1]
    return m_struct(
        names, [[random_value(rng, nprng, depth + 1) for _ in names] for _ in range(n)], shape
    )


def test_random_values_match_the_reference() -> None:
    rng, nprng = random.Random(11), np.random.default_rng(11)
    paths = {"fast": 0, "fallback-ok": 0, "fallback-error": 0}
    for i in range(400):
        paths[check_legacy(blob(random_value(rng, nprng), compress=i % 2 == 0))] += 1
    assert paths["fast"] > 300


def test_random_corruptions_match_the_reference() -> None:
    rng = random.Random(12)
    sources = [legacy_blobs.peh_blob(random.Random(s), 4) for s in range(3)]
    sources += [
        mym.encode(legacy_blobs.peh_value(random.Random(s), 3), compress=False) for s in range(3)
    ]
    sources += [blob(random_value(rng, np.random.default_rng(s))) for s in range(10)]
    for _ in range(1500):
        data = bytearray(rng.choice(sources))
        if data.startswith(b"ZL123\0") and rng.random() < 0.8:  # corrupt inside the zlib stream
            raw = bytearray(zlib.decompress(bytes(data[10:])))
            _mutate(rng, raw)
            data = bytearray(b"ZL123\0" + U32(len(raw)) + zlib.compress(bytes(raw)))
        else:
            _mutate(rng, data)
        check_legacy(bytes(data))


def _mutate(rng: random.Random, data: bytearray) -> None:
    for _ in range(rng.randrange(1, 4)):
        if not data:
            return
        i = rng.randrange(len(data))
        action = rng.random()
        if action < 0.5:
            data[i] = rng.randrange(256)
        elif action < 0.7:
            del data[i:]
        elif action < 0.85:
            data[i:i] = bytes([rng.randrange(256)])
        else:
            data[i : i + 4] = U32(rng.choice([0, 1, 2, 3, 7, 255, 2**31, 2**32 - 1]))


# --- dj0 packing and reading --------------------------------------------------------------------


def test_pack_matches_datajoint_byte_for_byte() -> None:
    nprng = np.random.default_rng(3)
    values: list[Any] = [
        [],
        {},
        [{"a": 1.0}],
        [
            {
                "s": "text",
                "u": "ünïcødé ✓",
                "e": "",
                "f": 0.1,
                "nan": float("nan"),
                "i": 3,
                "neg": -129,
                "big": 2**200,
                "t": True,
                "fl": False,
                "n": None,
                "c": 1 + 2j,
            }
        ],
        [
            {
                "m": np.arange(6.0).reshape(3, 2),
                "e": np.zeros((0, 2)),
                "r": np.arange(4.0),
                "z": np.zeros(0),
                "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                "view": np.arange(12.0).reshape(3, 4)[:, ::2],
                "0d": np.array(2.5),
                "3d": np.arange(24.0).reshape(2, 3, 4),
                "b": np.array([True, False]),
                "i32": np.arange(3, dtype=np.int32),
                "u8": np.arange(3, dtype=np.uint8),
                "f32": np.ones(2, np.float32),
                "c128": np.array([1 + 2j, 3 - 4j]),
                "c64": np.array([1 + 2j], np.complex64),
            }
        ],
        [
            {
                "np": np.float64(1.5),
                "npi": np.int64(-3),
                "npb": np.bool_(True),
                "npf32": np.float32(2.0),
            }
        ],
        {"nested": {"deeper": [{"x": (1.0, "two", [3.0])}]}, 5: "int key", None: 0.0},
        ("tuple", 1.0),
        [
            {"big-endian": np.arange(3, dtype=">f8")}
        ],  # DataJoint refuses: same error through the fallback
        [{"strings": np.array(["a", "bc"])}],  # U arrays: DataJoint's own path
        [{"dt": np.array(["2024-01-01"], dtype="datetime64[D]")}],
    ]
    values += [
        blobs.peh_records(read_legacy(legacy_blobs.peh_blob(random.Random(s), n)))
        for s, n in ((1, 1), (2, 5), (3, 40), (4, 300))
    ]
    values += [
        [{"x": nprng.standard_normal((nprng.integers(0, 5), 2))} for _ in range(k)]
        for k in (1, 10, 100)
    ]
    for value in values:
        try:
            expected = blobs.pack_native(value)
        except Exception as error:  # noqa: BLE001
            with pytest.raises(type(error)):
                fastblob.pack_native_fast(value)
            continue
        assert fastblob.pack_native_fast(value) == expected, value
        with contextlib.suppress(Unsupported):
            assert pack_dj0(value) == expected
        check_unpack(expected)
    small = pack_dj0([{"a": 1.0}])
    assert not small.startswith(b"ZL123") and small == blobs.pack_native([{"a": 1.0}])
    assert pack_dj0([{"x": np.zeros((300, 2))}]).startswith(b"ZL123\0")


def test_unpack_declines_what_it_does_not_read() -> None:
    for value in (np.arange(3.0), "text", [{"s": np.array(["a"])}], [1 + 2j]):
        packed = blobs.pack_native(value)
        check_unpack(packed)
    for bad in (b"dj0\0", b"dj0\0\x02" + b"\xff" * 8, blobs.pack_native([1.0])[:-2], b"mYm\0A"):
        with pytest.raises(Unsupported):
            unpack_dj0(bad)


# --- every blob of a generated small database ----------------------------------------------------


@pytest.fixture(scope="module")
def small_blobs(mariadb_server, prefix_factory):
    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    try:
        build_legacy_database(conn, prefix, "small", seed=7)
        with conn.cursor() as cur:
            cur.execute(f"SELECT sessid, peh FROM `{prefix}bdata`.parsed_events ORDER BY sessid")
            peh = list(cur.fetchall())
            cur.execute(
                f"SELECT sessid, protocol_data FROM `{prefix}bdata`.sessions ORDER BY sessid"
            )
            protocol = list(cur.fetchall())
    finally:
        conn.close()
    return {"peh": peh, "protocol_data": protocol}


@pytest.mark.parametrize("column", ["peh", "protocol_data"])
def test_every_small_blob_matches_the_reference(small_blobs, column: str) -> None:
    rows = small_blobs[column]
    assert len(rows) > 400
    paths = {"fast": 0, "fallback-ok": 0, "fallback-error": 0}
    for _, data in rows:
        if data is not None:
            paths[check_legacy(data)] += 1
    assert paths["fast"] > 0.9 * len(rows)
    # the whole transform, fast (with the C extension and without) vs reference, row for row
    transform = blobs.transform_parsed_events if column == "peh" else blobs.transform_protocol_data
    build = blobs.peh_records if column == "peh" else blobs._protocol_data_value
    dict_rows = [{"sessid": s, column: d} for s, d in rows]
    expected_good, expected_rejected = [], []
    for s, d in rows:
        if d is None:
            continue
        kind, value = reference(d)
        if kind == "ok":
            try:
                expected_good.append({"sessid": s, column: blobs.pack_native(build(value))})
            except Exception:  # noqa: BLE001
                expected_rejected.append(s)
        else:
            expected_rejected.append(s)
    for path in PATHS:
        with using(path) as ext:
            fast = transform(dict_rows)
        assert fast.good == expected_good, path  # byte-identical blobs
        assert [r.sessid for r in fast.rejected if r.reason != blobs.BLOB_MISSING] == expected_rejected
        if ext is not None and column == "peh":
            assert ext.answered["peh_dj0"] > 0.9 * len(rows)
    for row in fast.good:
        check_unpack(row[column])


# --- the transform pool ---------------------------------------------------------------------------


def _square_all(items):
    return [x * x for x in items]


def _crash_on_13(items):
    if 13 in items:
        os._exit(7)
    return list(items)


def _raise_on_13(items):
    if 13 in items:
        raise ValueError("thirteen")
    return list(items)


def _concat(parts):
    return [x for part in parts for x in part]


def test_pool_keeps_order_and_runs_in_process_with_one_worker() -> None:
    items = list(range(1000))
    for workers in (1, 2, 3):
        pool = TransformPool(workers)
        try:
            assert pool.submit(_square_all, items, _concat).result() == [x * x for x in items]
            assert pool.submit(_square_all, items[:3], _concat).result() == [0, 1, 4]
        finally:
            pool.close()
    assert TransformPool(1)._executor is None


def test_batches_under_min_items_stay_in_process() -> None:
    pool = TransformPool(2, min_items=50)
    try:
        assert pool.submit(_square_all, list(range(49)), _concat).result() == [x * x for x in range(49)]
        assert pool._executor is None  # nothing forked for a small batch
        assert pool.submit(_square_all, list(range(50)), _concat).result() == [x * x for x in range(50)]
        assert pool._executor is not None
    finally:
        pool.close()


def test_a_crashed_or_raising_worker_is_a_clear_error_and_the_pool_recovers() -> None:
    pool = TransformPool(2)
    try:
        with pytest.raises(TransformWorkerError, match="worker process.*BrokenProcessPool"):
            pool.submit(_crash_on_13, list(range(100)), _concat, label="crash batch").result()
        with pytest.raises(TransformWorkerError, match="worker process: ValueError: thirteen"):
            pool.submit(_raise_on_13, list(range(100)), _concat).result()
        assert pool.submit(_square_all, list(range(50)), _concat).result() == [
            x * x for x in range(50)
        ]
    finally:
        pool.close()
    with pytest.raises(ValueError, match="thirteen"):  # in process: the transform's own error
        TransformPool(1).submit(_raise_on_13, list(range(100)), _concat).result()


# --- the engine with and without the pool -----------------------------------------------------------

BLOB_TABLES = [
    "acquisition.session_protocol_data",
    "acquisition.parsed_events",
    "acquisition.behavior_event",
]


def _blob_state(conn, settings) -> dict[str, list]:
    from brody_assets.migration.registry import entry
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    state = {}
    with conn.cursor() as cur:
        for name in BLOB_TABLES:
            e = entry(name)
            layers = ("new", "shadow") if e.kind == "python" else ("new",)
            for layer in layers:
                prefix = settings.new_prefix if layer == "new" else settings.shadow_prefix
                table = f"`{prefix}{e.family}`.`{TABLE_NAMES[(layer, e.family, e.new_class)]}`"
                cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
                state[f"{layer}:{name}"] = list(cur.fetchall())
        cur.execute(
            f"SELECT table_name, legacy_key, stage, reason, detail FROM `{settings.new_prefix}migration`."
            "quarantine WHERE table_name IN %s ORDER BY table_name, key_int",
            (BLOB_TABLES,),
        )
        state["ledger"] = list(cur.fetchall())
    return state


def _reset_blob_tables(conn, settings) -> None:
    from brody_assets.migration.registry import entry
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    with conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name in BLOB_TABLES:
            e = entry(name)
            for layer, prefix in (("new", settings.new_prefix), ("shadow", settings.shadow_prefix)):
                if (layer, e.family, e.new_class) in TABLE_NAMES:
                    cur.execute(
                        f"TRUNCATE TABLE `{prefix}{e.family}`.`{TABLE_NAMES[(layer, e.family, e.new_class)]}`"
                    )
        for table in ("quarantine", "watermark"):
            cur.execute(
                f"DELETE FROM `{settings.new_prefix}migration`.`{table}` WHERE table_name IN %s",
                (BLOB_TABLES,),
            )
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")


def _crash_in_a_worker(rows):
    if any(row["sessid"] == _CRASH_SESSID for row in rows):
        os._exit(9)
    return _REAL_TRANSFORM(rows)


_REAL_TRANSFORM = blobs.transform_parsed_events
_CRASH_SESSID = -1


@pytest.fixture(scope="module")
def engine_db(mariadb_server, prefix_factory, tmp_path_factory):
    from brody_assets.db import bootstrap
    from brody_assets.migration.engine import migrate
    from brody_assets.migration.registry import entries
    from brody_assets_tests.conftest import make_settings, write_config

    from .engine_support import END, options_from_json, options_json, run_process

    prefix = prefix_factory()
    conn = mariadb_server.admin_connect()
    build_legacy_database(conn, prefix, "small", seed=7, end_date=END)
    settings = make_settings(mariadb_server, prefix)
    bootstrap(conn, settings)
    config = write_config(settings, tmp_path_factory.mktemp("fastblob") / "dj_local_conf.json")
    run_process(config, "--declare")
    sql_tables = [e.name for e in entries() if e.name not in BLOB_TABLES]
    migrate(settings, options_from_json(options_json()), tables=sql_tables)
    yield {
        "conn": conn,
        "settings": settings,
        "options": lambda **kw: options_from_json(options_json(**kw)),
    }
    conn.close()


def test_engine_output_is_the_same_with_and_without_workers(engine_db) -> None:
    from brody_assets.migration.engine import migrate

    conn, settings = engine_db["conn"], engine_db["settings"]
    states = []
    for workers in (2, 1):
        _reset_blob_tables(conn, settings)
        results = migrate(
            settings,
            engine_db["options"](transform_workers=workers, blob_batch_rows=40, pool_min_rows=8),
            tables=BLOB_TABLES,
        )
        assert all(r.new.invariant.holds for r in results)
        states.append(_blob_state(conn, settings))
    assert states[0] == states[1]
    parsed = states[0]["new:acquisition.parsed_events"]
    assert len(parsed) > 400 and len(states[0]["new:acquisition.behavior_event"]) > 10 * len(parsed)
    with conn.cursor() as cur:  # the stored blobs are the reference path's bytes
        cur.execute(f"SELECT sessid, peh FROM `{settings.legacy_schema_prefix}bdata`.parsed_events")
        legacy = dict(cur.fetchall())
    for sessid, packed in parsed[:100]:
        value = blobs.peh_records(matlab_to_python(blobs.decode_legacy_blob(legacy[sessid])))
        assert packed == blobs.pack_native(value)


def test_a_worker_crash_fails_the_run_without_a_partial_batch(engine_db, monkeypatch) -> None:
    from brody_assets.migration.engine import migrate
    from brody_assets.migration.engine.names import Names  # noqa: F401 - engine importable

    conn, settings = engine_db["conn"], engine_db["settings"]
    _reset_blob_tables(conn, settings)
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT sessid FROM `{settings.legacy_schema_prefix}bdata`.parsed_events ORDER BY sessid"
        )
        sessids = [r[0] for r in cur.fetchall()]
    crash = sessids[len(sessids) // 2]
    monkeypatch.setattr(f"{__name__}._CRASH_SESSID", crash)
    monkeypatch.setattr(blobs, "transform_parsed_events", _crash_in_a_worker)
    options = engine_db["options"](transform_workers=2, blob_batch_rows=40, sessid_chunk=10**7,
                                   pool_min_rows=8)
    with pytest.raises(
        TransformWorkerError, match="acquisition.parsed_events sessions .*BrokenProcessPool"
    ):
        migrate(settings, options, tables=["acquisition.parsed_events"])
    with conn.cursor() as cur:
        cur.execute(f"SELECT sessid FROM `{settings.shadow_prefix}acquisition`.`__parsed_events`")
        written = {r[0] for r in cur.fetchall()}
        cur.execute(
            f"SELECT key_int FROM `{settings.new_prefix}migration`.quarantine "
            "WHERE table_name = 'acquisition.parsed_events'"
        )
        ledgered = {r[0] for r in cur.fetchall()}
    # one scope batch cut into parts of 40 sessions: the parts before the crash's are complete
    # (rows written or ledgered), nothing of the crash's part or later is
    done = sorted(written | ledgered)
    assert done and crash not in done
    assert (
        done == sessids[: len(done)]
        and len(done) % 40 == 0
        and len(done) > sessids.index(crash) - 40
    )


# --- legacy peh straight to the new blob (pehfast) ---------------------------------------------


def _sub(names: list[str], values: list[bytes]) -> bytes:
    return m_struct(names, [values])


def _pairs(*rows: tuple[float, float]) -> bytes:
    return m_array(np.array(rows, dtype=float).reshape(len(rows), 2), DOUBLE)


def _peh_cases() -> dict[str, tuple[bytes, bool]]:
    """Legacy peh blobs: name -> (blob, whether the direct transcoder takes it)."""
    one = m_array(np.array([[0.5]]), DOUBLE)
    row = m_array(np.array([[1.0, 2.0]]), DOUBLE)
    col = m_array(np.array([[1.0], [2.0]]), DOUBLE)

    def trial(t: float) -> list[bytes]:
        return [
            _sub(["cpoke", "hit"], [_pairs((t, t + 0.5)), m_array(np.zeros((0, 2)), DOUBLE)]),
            _sub(["C", "L"], [_pairs((t, t + 0.1), (t + 1, t + 1.2)), row]),
            m_char([f"state_{int(t)}"]),
        ]

    fields = ["states", "pokes", "note"]
    cases = {
        "three trials": (m_struct(fields, [trial(1.0), trial(2.0), trial(3.0)]), True),
        "one trial": (m_struct(fields, [trial(1.0)]), True),
        "zero trials": (m_struct(fields, [], (1, 0)), True),
        "a column of trials (Nx1)": (m_struct(fields, [trial(1.0), trial(2.0)], (2, 1)), True),
        "sub-key missing in a trial": (
            m_struct(["states"], [[_sub(["a", "b"], [row, col])], [_sub(["b", "c"], [one, row])]]),
            True,
        ),
        "scalars, vectors, empty and NaN": (
            m_struct(["w"], [[_sub(["s", "r", "c", "e0", "e1", "nan"], [
                one, row, col, m_array(np.zeros((1, 0)), DOUBLE), m_array(np.zeros((0, 0)), DOUBLE),
                m_array(np.array([[np.nan, -0.0]]), DOUBLE)])]]),
            True,
        ),
        "strings with NULs and empty": (m_struct(["a", "b"], [[m_char(["x\0y"]), m_char([])]]), True),
        "plain double fields": (m_struct(["t", "v"], [[one, _pairs((1, 2))], [row, col]]), True),
        "a sub-struct in some trials only": (m_struct(["s"], [[_sub(["a"], [one])], [one]]), False),
        "clashing column names": (m_struct(["a__b", "a"], [[one, _sub(["b"], [one])]]), False),
        "a char matrix": (m_struct(["s"], [[m_char(["ab", "cd"])]]), False),
        "an int array": (m_struct(["s"], [[m_array(np.array([[1, 2]], "<i4"), 12)]]), False),
        "a complex array": (
            m_struct(["s"], [[m_array(np.array([[1.0, 2.0]]), DOUBLE, imag=np.array([[3.0, 4.0]]))]]),
            False,
        ),
        "a nested sub-struct": (m_struct(["s"], [[_sub(["a"], [_sub(["b"], [one])])]]), False),
        "a struct array in a trial": (
            m_struct(["s"], [[m_struct(["a"], [[one], [one]])]]), False),
        "a sub-struct without fields": (m_struct(["s"], [[m_struct([], [[]])]]), False),
        "a cell": (m_struct(["s"], [[m_cell([one], (1, 1))]]), False),
        "a struct without fields": (m_struct([], [[]]), False),
        "not a struct": (row, False),
        "a 3-d array": (m_struct(["s"], [[m_array(np.zeros((1, 2, 2)), DOUBLE)]]), False),
    }
    out = {}
    for name, (value, direct) in cases.items():
        out[name] = (blob(value), direct)
        out[name + " (zlib)"] = (blob(value, compress=True), direct)
    big = m_struct(fields, [trial(float(t)) for t in range(40)])  # > 1000 bytes: compressed
    out["forty trials"] = (blob(big), True)
    raw = blob(m_struct(fields, [trial(1.0)]))
    out.update({
        "truncated": (raw[:-5], False),
        "trailing byte": (raw + b"\0", False),
        "field length off": (raw.replace(U32(len(row)) + row, U32(len(row) + 1) + row), False),
    })
    return out


PEH_CASES = _peh_cases()


@pytest.mark.parametrize("name", sorted(PEH_CASES))
def test_peh_transcoder_gives_the_reference_bytes_or_declines(name: str, implementation) -> None:
    from brody_assets.migration.engine.pehfast import transcode_peh

    data, direct = PEH_CASES[name]
    row = [{"sessid": 1, "peh": data}]
    expected = blobs._transform(row, "peh", blobs.peh_records)  # the path without the transcoder

    assert blobs.transform_parsed_events(row) == expected
    if direct:
        assert transcode_peh(data) == expected.good[0]["peh"]
    else:
        with pytest.raises(Unsupported):
            transcode_peh(data)
    if implementation is not None:  # the C code took exactly the shapes the transcoder takes
        assert bool(implementation.answered["peh_dj0"]) is direct


def test_generator_sessions_take_the_peh_transcoder(small_blobs, implementation) -> None:
    from brody_assets.migration.engine.pehfast import transcode_peh

    taken = 0
    for _, data in small_blobs["peh"]:
        try:
            transcode_peh(data)
            taken += 1
        except Unsupported:
            pass
    assert taken > 0.95 * len(small_blobs["peh"])
    if implementation is not None:
        assert implementation.answered["peh_dj0"] == taken


# --- a behavior-event load the server refuses: bisected down to the session, quarantined ------------


def test_a_session_whose_events_fail_to_load_is_quarantined_and_the_rest_migrate(
    engine_db, monkeypatch
) -> None:
    from brody_assets.migration.engine import migrate, pystage
    from brody_assets.migration.registry import entry
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    conn, settings = engine_db["conn"], engine_db["settings"]
    _reset_blob_tables(conn, settings)
    options = engine_db["options"](transform_workers=1, blob_batch_rows=40)
    migrate(settings, options, tables=BLOB_TABLES[:2])
    with conn.cursor() as cur:
        cur.execute(f"SELECT sessid FROM `{settings.new_prefix}acquisition`.parsed_events ORDER BY sessid")
        sessions = [r[0] for r in cur.fetchall()]
    bad = sessions[len(sessions) // 3]
    real = pystage.session_event_text

    def with_a_bad_row(transform, sessid, blob):
        text, info = real(transform, sessid, blob)
        if sessid == bad and text is not None:  # a value the table cannot hold, as no rule foresaw
            text += f"{sessid}\t{info + 1}\t1\tpokes\t{'x' * 40}\t1\t1.0\t2.0\n"
            info += 1
        return text, info

    monkeypatch.setattr(pystage, "session_event_text", with_a_bad_row)
    result = migrate(settings, options, tables=[BLOB_TABLES[2]])[0]

    events = f"`{settings.new_prefix}acquisition`.`{TABLE_NAMES[('new', 'acquisition', entry(BLOB_TABLES[2]).new_class)]}`"
    with conn.cursor() as cur:
        cur.execute(f"SELECT DISTINCT sessid FROM {events}")
        with_events = {r[0] for r in cur.fetchall()}
        cur.execute(
            f"SELECT key_int, stage, reason, detail FROM `{settings.new_prefix}migration`.quarantine "
            "WHERE table_name = %s",
            (BLOB_TABLES[2],),
        )
        ledger = {r[0]: r[1:] for r in cur.fetchall()}
    assert bad not in with_events
    stage, reason, detail = ledger[bad]
    assert (stage, reason) == ("new", "insert_error")
    assert "LOAD DATA wrote" in detail and "event_name" in detail
    # every other session either has its events or a reason of its own (the generator's defects)
    assert set(sessions) - {bad} == with_events | (set(ledger) - {bad})
    assert reason not in {v[1] for k, v in ledger.items() if k != bad}
    assert result.new.invariant.holds
