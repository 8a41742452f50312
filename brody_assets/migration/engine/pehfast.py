"""Legacy ``peh`` blobs straight to the new ``parsed_events`` blob, without building values.

:func:`transcode_peh` returns the bytes ``pack_native(peh_records(legacy_to_python(data)))``
writes, for the shape the lab's sessions have: an mYm struct array of trials whose fields are
1x1 sub-structs (``states``, ``pokes``, ``waves``) or plain values, holding double arrays,
double scalars and char rows. Both formats store array data column-major, so an array's bytes
are copied as they are under a new header; only the record layout (spec §2.20's
``<field>__<subkey>`` columns, ``None`` for a sub-key a trial lacks) is rebuilt. Anything else
(other classes, complex or char-matrix values, cells, nested sub-structs, struct arrays inside
a trial, clashing column names, malformed bytes) raises :class:`.fastblob.Unsupported` and the
caller takes the reference path, so values and rejections are always the reference's (tested
blob for blob, byte for byte).

The parse and assembly also exist in C (:mod:`._native`'s ``peh_dj0``, through :mod:`.native`):
used when it was built and ``BRODY_NATIVE`` is not ``0``, it returns the same bytes as the Python
code below or declines (``None``), and then the Python code runs.
"""

from __future__ import annotations

import struct

from . import native
from .fastblob import (
    _CHAR,
    _DJ0,
    _MYM,
    _NONE,
    Unsupported,
    _f64,
    _hdr1,
    _hdr2,
    _item_string,
    _len_float,
    _q,
    _u32,
    _u32x3,
    _u32x4,
    _unwrap,
    char_units,
    compress_dj0,
    struct_names,
    without_nul,
)

_DOUBLE = 6


class _Sub(dict):
    """A trial's 1x1 sub-struct: sub-key -> packed item."""


def _array_item(buf: bytes, p: int) -> tuple[bytes, int]:
    """The packed dj0 item of the ``A`` value at ``p`` (after the type byte)."""
    if _u32(buf, p)[0] != 2:
        raise Unsupported("array dimensions other than 2")
    rows, cols, cls, cplx = _u32x4(buf, p + 4)
    p += 20
    n = rows * cols
    if cplx:
        raise Unsupported("complex array")
    if cls == _DOUBLE:
        end = p + 8 * n
        if end > len(buf):
            raise Unsupported("array data past the end")
        if n == 1:
            return _len_float(9, 0x0D, _f64(buf, p)[0]), end
        data = buf[p:end]
        if rows == 1 or cols == 1:
            return _hdr1(len(data) + 25, 0x41, 1, n, _DOUBLE, 0) + data, end
        return _hdr2(len(data) + 33, 0x41, 2, rows, cols, _DOUBLE, 0) + data, end
    if cls == _CHAR and (rows == 1 or n == 0):
        low, end = char_units(buf, p, n)
        return _item_string(without_nul(low.decode("ascii"))), end
    raise Unsupported(f"array class {cls}")


class _Names:
    """Struct field names, remembered by their raw block: every trial repeats the same ones."""

    def __init__(self) -> None:
        self.known: dict[int, list[tuple[bytes, list[str]]]] = {}

    def read(self, buf: bytes, p: int, count: int) -> tuple[list[str], int]:
        for block, names in self.known.get(count, ()):
            if buf.startswith(block, p):  # exactly ``count`` NUL-terminated names
                return names, p + len(block)
        names, end = struct_names(buf, p, count)
        self.known.setdefault(count, []).append((buf[p:end], names))
        return names, end


_A_HEAD = struct.Struct("<IBIIIII").unpack_from  # field length, 'A', ndims, rows, cols, class, complex


def _sub_struct(buf: bytes, p: int, names_of: _Names) -> tuple[_Sub, int]:
    """A 1x1 ``S`` value at ``p`` (after the type byte) whose fields are arrays."""
    if _u32(buf, p)[0] != 2:
        raise Unsupported("struct dimensions other than 2")
    rows, cols, n_fields = _u32x3(buf, p + 4)
    if rows * cols != 1 or not n_fields:
        raise Unsupported("sub-struct that is not 1x1 with fields")
    names, p = names_of.read(buf, p + 16, n_fields)
    sub = _Sub()
    size = len(buf)
    for name in names:
        length, code, ndims, rows, cols, cls, cplx = _A_HEAD(buf, p)
        if code != 0x41:
            raise Unsupported("sub-struct field that is not an array")
        n = rows * cols
        if cls == _DOUBLE and ndims == 2 and not cplx and n != 1:  # the common case, inline
            start = p + 25
            end = start + 8 * n
            if end > size or end - p - 4 != length:
                raise Unsupported("struct field length mismatch")
            data = buf[start:end]
            if rows == 1 or cols == 1:
                sub[name] = _hdr1(8 * n + 25, 0x41, 1, n, _DOUBLE, 0) + data
            else:
                sub[name] = _hdr2(8 * n + 33, 0x41, 2, rows, cols, _DOUBLE, 0) + data
            p = end
            continue
        item, stop = _array_item(buf, p + 5)
        if stop - p - 4 != length:
            raise Unsupported("struct field length mismatch")
        sub[name] = item
        p = stop
    return sub, p


def _trials(buf: bytes) -> tuple[list[str], list[list]]:
    p = len(_MYM)
    if buf[p] != 0x53 or _u32(buf, p + 1)[0] != 2:
        raise Unsupported("not a 2-d struct")
    rows, cols, n_fields = _u32x3(buf, p + 5)
    if not n_fields:
        raise Unsupported("struct without fields")
    names, p = struct_names(buf, p + 17, n_fields)
    n = rows * cols
    if n * n_fields * 4 > len(buf) - p:
        raise Unsupported("struct elements past the end")
    names_of = _Names()
    trials = []
    for _ in range(n):
        values = []
        for _ in range(n_fields):
            length = _u32(buf, p)[0]
            p += 4
            code = buf[p]
            if code == 0x53:
                value, stop = _sub_struct(buf, p + 1, names_of)
            elif code == 0x41:
                value, stop = _array_item(buf, p + 1)
            else:
                raise Unsupported(f"mYm type code {code!r}")
            if stop - p != length:
                raise Unsupported("struct field length mismatch")
            values.append(value)
            p = stop
        trials.append(values)
    if p != len(buf):
        raise Unsupported("trailing bytes")
    return names, trials


def transcode_peh(data: bytes) -> bytes:
    """The new ``parsed_events.peh`` blob of a legacy one (see the module docstring)."""
    buf = _unwrap(data, 4, _MYM, "an mYm")
    blob = native.ext.peh_dj0(buf) if native.ext is not None else None
    if blob is None:
        blob = _dj0_blob(buf)
    return compress_dj0(blob)


def _dj0_blob(buf: bytes) -> bytes:
    """The uncompressed ``dj0`` blob of the unwrapped legacy payload ``buf``."""
    try:
        names, trials = _trials(buf)
    except (struct.error, IndexError, UnicodeDecodeError) as error:
        raise Unsupported(f"{type(error).__name__}: {error}") from error
    columns: list[tuple[str, list[bytes]]] = []
    for i, name in enumerate(names):
        values = [trial[i] for trial in trials]
        subs = [type(v) is _Sub for v in values]
        if values and all(subs):
            keys = list(dict.fromkeys(k for v in values for k in v))
            columns += [(f"{name}__{k}", [v.get(k, _NONE) for v in values]) for k in keys]
        elif any(subs):
            raise Unsupported("a field that is a sub-struct in some trials only")
        else:
            columns.append((name, values))
    if len({c for c, _ in columns}) != len(columns):
        raise Unsupported("clashing column names")
    keys = [_item_string(c) for c, _ in columns]
    head = b"\x04" + _q(len(columns))
    parts = [_DJ0, b"\x02", _q(len(trials))]
    for t in range(len(trials)):
        record = head + b"".join([k + values[t] for k, (_, values) in zip(keys, columns, strict=True)])
        parts.append(_q(len(record)))
        parts.append(record)
    return b"".join(parts)
