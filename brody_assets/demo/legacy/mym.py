"""A small encoder for MATLAB mYm blobs with 32-bit dimension fields.

The lab's rig software stored MATLAB values with the mYm library, whose
format DataJoint can read back (``datajoint.blob.unpack`` with
``datajoint.blob.use_32bit_dims = True``, spec §1.3).  Layout, all integers
little-endian ``uint32``:

* blob      = ``b"mYm\\0"`` + value
* value     = struct | array
* struct    = ``b"S"`` + ndims + dims… + n_fields + ``"name\\0"``… + for each
  element (column-major) and each field: byte length + value
* array     = ``b"A"`` + ndims + dims… + class id + is_complex + data
  (doubles as float64; chars as one uint16 per character).

Python values map as: :class:`Struct` (a MATLAB 1×N struct array; a plain
``dict`` is a 1×1 struct), ``str`` -> char row vector, ``float``/``int`` ->
1×1 double, ``numpy.ndarray`` -> double array (column-major), :class:`Pairs` ->
N×2 double matrix.
"""

from __future__ import annotations

import struct as _struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_DOUBLE = 6
_CHAR = 4
HEADER = b"mYm\0"


@dataclass(frozen=True)
class Struct:
    """A MATLAB 1×N struct array: ``fields`` in order, one mapping per element."""

    fields: tuple[str, ...]
    elements: Sequence[Mapping[str, object]]


_PACKERS = {n: _struct.Struct(f"<{n}I") for n in range(1, 9)}


class Pairs(tuple):
    """An N×2 double matrix given as a tuple of (in, out) rows (cheap to build and encode)."""

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.array(list(self), dtype=dtype or float).reshape(len(self), 2)


def _encode_pairs(rows: Pairs) -> bytes:
    n = len(rows)
    head = b"A" + _PACKERS[5].pack(2, n, 2, _DOUBLE, 0)
    if not n:
        return head
    return head + _struct.pack(f"<{2 * n}d", *[r[0] for r in rows], *[r[1] for r in rows])


def _u32(*values: int) -> bytes:
    return _PACKERS[len(values)].pack(*values)


def _encode_array(array: np.ndarray) -> bytes:
    if array.__class__ is np.ndarray and array.ndim == 2 and array.dtype == np.float64:
        return (
            b"A"
            + _PACKERS[5].pack(2, array.shape[0], array.shape[1], _DOUBLE, 0)
            + array.tobytes(order="F")
        )
    array = np.asarray(array, dtype="<f8")
    if array.ndim < 2:
        array = array.reshape(1, -1) if array.ndim == 1 else array.reshape(1, 1)
    return b"A" + _u32(array.ndim, *array.shape) + _u32(_DOUBLE, 0) + array.tobytes(order="F")


@lru_cache(maxsize=4096)
def _encode_char(text: str) -> bytes:
    data = np.frombuffer(text.encode("latin1"), dtype=np.uint8).astype("<u2")
    return b"A" + _u32(2, 1, len(text)) + _u32(_CHAR, 0) + data.tobytes()


@lru_cache(maxsize=1024)
def _struct_header(fields: tuple[str, ...], n_elements: int) -> bytes:
    return b"S" + _u32(2, 1, n_elements) + _u32(len(fields)) + "\0".join(fields).encode() + b"\0"


def _encode_struct(value: Struct) -> bytes:
    parts = [_struct_header(value.fields, len(value.elements))]
    pack = _PACKERS[1].pack
    for element in value.elements:
        for name in value.fields:
            encoded = encode_value(element[name])
            parts.append(pack(len(encoded)))
            parts.append(encoded)
    return b"".join(parts)


def encode_value(value: object) -> bytes:
    """Serialize one value (without the ``mYm`` header)."""
    if value.__class__ is Pairs:
        return _encode_pairs(value)
    if value.__class__ is np.ndarray:
        return _encode_array(value)
    if isinstance(value, Struct):
        return _encode_struct(value)
    if isinstance(value, Mapping):
        return _encode_struct(Struct(tuple(value), (value,)))
    if isinstance(value, str):
        return _encode_char(value)
    if isinstance(value, (int, float, np.ndarray, list, tuple)):
        return _encode_array(np.asarray(value, dtype=float))
    raise TypeError(f"cannot mYm-encode {type(value).__name__}")


COMPRESSION = b"ZL123\0"
COMPRESS_ABOVE = 1000


def encode(value: object, compress: bool = True) -> bytes:
    """A complete mYm blob (header + value) with 32-bit dimension fields.

    Like mYm, blobs larger than ``COMPRESS_ABOVE`` bytes are zlib-compressed
    behind the ``ZL123\\0`` marker and a 32-bit uncompressed length, when that
    makes them smaller.
    """
    blob = HEADER + encode_value(value)
    if compress and len(blob) > COMPRESS_ABOVE:
        packed = COMPRESSION + _u32(len(blob)) + zlib.compress(blob, 6)
        if len(packed) < len(blob):
            return packed
    return blob


def corrupt(blob: bytes) -> bytes:
    """A deliberately undecodable blob: the mYm header, then an unknown type code and junk."""
    return HEADER + b"Q" + blob[-16:]
