"""The C extension ``engine._native`` against the Python code it speeds up (the reference).

* It is built in the test environment (the install has gcc) and loaded unless ``BRODY_NATIVE=0``.
* Differential fuzzing: on valid blobs and thousands of random mutations of them (truncations,
  byte flips, nudged length fields, hostile sizes, appended bytes), each function returns
  ``None`` or exactly what the Python path returns, and never crashes.
* Times are written as Python's ``repr`` writes them; memory is not kept between calls.
"""

from __future__ import annotations

import contextlib
import gc
import random
import struct
import sysconfig
import tracemalloc

import numpy as np
import pytest

from brody_assets.demo.legacy import blobs as legacy_blobs
from brody_assets.demo.legacy import mym
from brody_assets.migration.engine import native, pehfast
from brody_assets.migration.engine.blobs import pack_native
from brody_assets.migration.engine.eventload import _fast_text, _read_columns
from brody_assets.migration.engine.events import EVENT_NAME_MAX, EVENT_TYPE_MAX
from brody_assets.migration.engine.fastblob import _DJ0, _MYM, Unsupported, _unwrap

from .native_support import extension, using
from .test_eventload import SHAPES, TRICKY, generator_blob
from .test_fastblob import DOUBLE, PEH_CASES, U32, m_array, m_char, m_struct

# --- built and switchable ---------------------------------------------------------------------


def test_the_extension_is_built_by_the_install() -> None:
    module = extension()  # ImportError here: the install did not build it (gcc, headers?)

    assert module.__file__.endswith(sysconfig.get_config_var("EXT_SUFFIX"))
    assert callable(module.peh_dj0) and callable(module.event_text)


def test_brody_native_0_forces_the_python_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRODY_NATIVE", "0")
    assert native.load() is None
    monkeypatch.delenv("BRODY_NATIVE")
    assert native.load() is extension()


def test_the_name_limits_are_the_event_table_widths() -> None:
    assert (extension().EVENT_TYPE_MAX, extension().EVENT_NAME_MAX) == (
        EVENT_TYPE_MAX,
        EVENT_NAME_MAX,
    )


# --- the two paths side by side ---------------------------------------------------------------


def python_peh(buf: bytes) -> bytes | None:
    """The Python transcoder's uncompressed blob of an unwrapped mYm payload, or None."""
    try:
        return pehfast._dj0_blob(_unwrap(buf, 4, _MYM, "mYm"))
    except Unsupported:
        return None


def python_events(sessid: int, buf: bytes) -> tuple[str, int] | None:
    with using("python"):
        return _fast_text(sessid, buf)


def ascii_names(buf: bytes, kind: str) -> bool:
    """Whether the field names / keys of a blob the Python path reads are all ASCII."""
    if kind == "peh":
        names, trials = pehfast._trials(buf)
        names += [
            key for trial in trials for value in trial if isinstance(value, dict) for key in value
        ]
    else:
        names = list(_read_columns(buf))
    return all(name.isascii() for name in names)


def compare(buf: bytes, kind: str) -> str:
    """Asserts native gives None or exactly the Python result. Returns "both" (equal results),
    "python-only" (native declined what Python reads) or "neither"."""
    if kind == "peh":
        got, expected = extension().peh_dj0(buf), python_peh(buf)
    else:
        got, expected = extension().event_text(11, buf), python_events(11, buf)
    assert got is None or got == expected, buf
    if got is not None:
        return "both"
    return "neither" if expected is None else "python-only"


def assert_native_reads_what_python_reads(buffers: list[bytes], kind: str) -> int:
    """Every buffer: same result or declined; declined only for non-ASCII names. Returns how
    many the C code answered."""
    outcomes = [compare(buf, kind) for buf in buffers]
    missed = [
        buf
        for buf, o in zip(buffers, outcomes, strict=True)
        if o == "python-only" and ascii_names(buf, kind)
    ]
    assert not missed
    return outcomes.count("both")


def peh_sources() -> list[bytes]:
    """Unwrapped legacy payloads: the hand-made cases and generated sessions."""
    sources = [_unwrap(data, 4, _MYM, "mYm") for data, _ in PEH_CASES.values()]
    sources += [
        mym.encode(legacy_blobs.peh_value(random.Random(s), 1 + s % 9), compress=False)
        for s in range(12)
    ]
    return sources


def event_sources() -> list[bytes]:
    """Unwrapped dj0 payloads: every shape of the event tests, generated and transcoded sessions."""
    blobs = [pack_native(records) for _, records, _ in SHAPES] + [pack_native(TRICKY)]
    blobs += [generator_blob(seed, 1 + seed % 7) for seed in range(8)]
    for source in peh_sources():
        with contextlib.suppress(Unsupported):
            blobs.append(pehfast.transcode_peh(source))
    return [_unwrap(blob, 8, _DJ0, "dj0") for blob in blobs]


def test_valid_blobs_are_answered_identically() -> None:
    generated = [
        mym.encode(legacy_blobs.peh_value(random.Random(s), 1 + s % 30), compress=False)
        for s in range(40)
    ]
    assert {compare(buf, "peh") for buf in generated} == {"both"}
    transcoded = [_unwrap(pehfast.transcode_peh(buf), 8, _DJ0, "dj0") for buf in generated]
    assert {compare(buf, "events") for buf in transcoded} == {"both"}
    # the hand-made shapes of the transcoder and event tests
    assert assert_native_reads_what_python_reads(peh_sources(), "peh") > 25
    assert assert_native_reads_what_python_reads(event_sources(), "events") > 45


FIELD_VALUES = [0, 1, 2, 3, 7, 8, 9, 17, 255, 2**31, 2**32 - 1, 2**32, 2**61, 2**63, 2**64 - 1]


def length_fields(data: bytes, width: int) -> list[int]:
    """Offsets holding a little-endian integer that could be a length, count or dimension."""
    return [
        i
        for i in range(len(data) - width + 1)
        if 0 < int.from_bytes(data[i : i + width], "little") <= len(data)
    ]


def mutate(rng: random.Random, data: bytearray, width: int, fields: list[int]) -> None:
    """One to three random edits; `width` is the format's length-field size (4 mYm, 8 dj0)."""
    top = 2 ** (8 * width)
    for _ in range(rng.randrange(1, 4)):
        if not data:
            return
        i = rng.randrange(len(data))
        action = rng.random()
        if action < 0.25:
            data[i] = rng.randrange(256)  # a byte flip
        elif action < 0.35:
            del data[i:]  # a truncation
        elif action < 0.45:
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))  # appended bytes
        elif action < 0.5:
            data[i:i] = bytes([rng.randrange(256)])  # an inserted byte
        elif action < 0.85 and fields:  # a length field nudged
            i = rng.choice(fields)
            value = int.from_bytes(data[i : i + width], "little") + rng.choice(
                [-9, -8, -2, -1, 1, 2, 8, 9]
            )
            data[i : i + width] = (value % top).to_bytes(width, "little")
        else:  # a hostile size
            data[i : i + width] = (rng.choice(FIELD_VALUES) % top).to_bytes(width, "little")


@pytest.mark.parametrize(
    ("kind", "width", "sources"), [("peh", 4, peh_sources), ("events", 8, event_sources)]
)
def test_mutated_blobs_give_the_python_result_or_none(kind: str, width: int, sources) -> None:
    rng = random.Random(20261126)
    originals = sources()
    fields = [length_fields(source, width) for source in originals]
    mutated = []
    for _ in range(10000):
        k = rng.randrange(len(originals))
        data = bytearray(originals[k])
        mutate(rng, data, width, fields[k])
        mutated.append(bytes(data))
    # most mutations break the blob (both decline); those that do not take the C path and match
    assert assert_native_reads_what_python_reads(mutated, kind) > 250


# --- hostile sizes ------------------------------------------------------------------------------

Q = struct.Struct("<Q").pack


def _events_blob(*trials: bytes) -> bytes:
    return _DJ0 + b"\x02" + Q(len(trials)) + b"".join(Q(len(t)) + t for t in trials)


def _key(name: bytes) -> bytes:
    return Q(9 + len(name)) + b"\x05" + Q(len(name)) + name


def _array(rows: int, cols: int, data: bytes = b"") -> bytes:
    body = b"A" + Q(2) + Q(rows) + Q(cols) + struct.pack("<II", 6, 0) + data
    return Q(len(body)) + body


HUGE = 2**64 - 1
HOSTILE_EVENTS = {
    "trial count 2^64-1": _DJ0 + b"\x02" + Q(HUGE),
    "key count 2^64-1": _events_blob(b"\x04" + Q(HUGE)),
    "key length 2^64-1": _events_blob(b"\x04" + Q(1) + Q(8) + b"\x05" + Q(HUGE)),
    "key length wraps 9 + n": _events_blob(b"\x04" + Q(1) + Q(8) + b"\x05" + Q(HUGE - 8) + b"a"),
    "value length 2^64-1": _events_blob(b"\x04" + Q(1) + _key(b"a__b") + Q(HUGE) + b"A" + Q(2)),
    "rows x cols wraps to 0": _events_blob(b"\x04" + Q(1) + _key(b"a__b") + _array(2**32, 2**32)),
    "rows x cols wraps to 2": _events_blob(
        b"\x04" + Q(1) + _key(b"a__b") + _array(2**63 + 1, 2, b"\0" * 16)
    ),
    "8 n wraps": _events_blob(b"\x04" + Q(1) + _key(b"a__b") + _array(2**61, 1)),
    "trial length 2^64-1": _DJ0 + b"\x02" + Q(1) + Q(HUGE) + b"\x04" + Q(0),
    "non-ASCII key": _events_blob(
        b"\x04" + Q(1) + _key("é__b".encode()) + _array(1, 2, b"\0" * 16)
    ),
}

_ONE = m_array(np.array([[0.5]]), DOUBLE)
HOSTILE_PEH = {
    "trial count 2^64-ish": b"S" + U32(2) + U32(2**32 - 1) + U32(2**32 - 1) + U32(1) + b"a\0",
    "field count 2^32-1": b"S" + U32(2) + U32(1) + U32(1) + U32(2**32 - 1) + b"a\0",
    "name without terminator": b"S" + U32(2) + U32(1) + U32(1) + U32(1) + b"abc",
    "8 n wraps": m_struct(
        ["a"], [[b"A" + U32(2) + U32(2**32 - 1) + U32(2**32 - 1) + U32(6) + U32(0)]]
    ),
    "char units past the end": m_struct(
        ["a"], [[b"A" + U32(2) + U32(1) + U32(2**31) + U32(4) + U32(0)]]
    ),
    "sub-struct of 2^32-1 fields": m_struct(
        ["a"], [[b"S" + U32(2) + U32(1) + U32(1) + U32(2**32 - 1) + b"x\0"]]
    ),
    "field length 2^32-1": m_struct(["a"], [[_ONE]]).replace(
        U32(len(_ONE)) + _ONE, U32(2**32 - 1) + _ONE
    ),
    "non-ASCII name": m_struct(["é"], [[_ONE]]),
    "non-ASCII char": m_struct(["a"], [[m_char(["é"])]]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EVENTS))
def test_hostile_dj0_sizes_are_declined(name: str) -> None:
    buf = HOSTILE_EVENTS[name]
    assert extension().event_text(1, buf) is None
    assert extension().event_text(1, buf + b"\0" * 64) is None


@pytest.mark.parametrize("name", sorted(HOSTILE_PEH))
def test_hostile_mym_sizes_are_declined(name: str) -> None:
    buf = _MYM + HOSTILE_PEH[name]
    assert extension().peh_dj0(buf) is None
    assert extension().peh_dj0(buf + b"\0" * 64) is None
    assert compare(buf, "peh") != "both"


# --- times as Python writes them --------------------------------------------------------------

TIMES = [
    -0.0,
    0.0,
    1e16,
    1e-05,
    5e-324,
    0.1,
    1e22,
    1e15,
    123456789.123456789,
    -1.5,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    9007199254740993.0,
    0.30000000000000004,
]


def _lines(values: list[float]) -> str | None:
    buf = _unwrap(pack_native([{"a__b": np.array(values)}]), 8, _DJ0, "dj0")
    out = extension().event_text(3, buf)
    assert out is None or out == python_events(3, buf)
    return None if out is None else out[0]


@pytest.mark.parametrize("value", TIMES, ids=repr)
def test_a_time_is_written_as_its_repr(value: float) -> None:
    assert _lines([value, 1.0]) == f"3\t1\t1\ta\tb\t1\t{value!r}\t1.0\n"


def test_nan_is_null_and_an_infinite_time_is_declined() -> None:
    assert _lines([np.nan, 2.0]) == "3\t1\t1\ta\tb\t1\t\\N\t2.0\n"
    assert _lines([1.0, np.inf]) is None
    assert _lines([-np.inf, np.nan]) is None


def test_random_bit_patterns_are_written_as_their_repr() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**64, size=4000, dtype=np.uint64).view(np.float64)
    values = values[np.isfinite(values)]
    values = values[: len(values) // 2 * 2]
    text = _lines(list(values))
    assert text is not None
    assert [line.split("\t")[6:] for line in text.splitlines()] == [
        [repr(float(a)), repr(float(b))] for a, b in zip(values[0::2], values[1::2], strict=True)
    ]


# --- memory -------------------------------------------------------------------------------------


def test_no_memory_is_kept_between_calls() -> None:
    module = extension()
    pehs = peh_sources() + [_MYM + v for v in HOSTILE_PEH.values()]
    events = event_sources() + list(HOSTILE_EVENTS.values())

    def run() -> None:
        for buf in pehs:
            module.peh_dj0(buf)
        for buf in events:
            module.event_text(5, buf)

    run()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            run()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 2048
