"""Fast paths for the blob tables: a specialised legacy mYm reader and a ``dj0`` packer/reader.

The reference path of :mod:`.blobs` is DataJoint's pure-Python reader (``blob.unpack`` with the
module-global 32-bit flag on), then :func:`.matlab.matlab_to_python`, then ``blob.pack``. That is
correct and slow (milliseconds per session). This module does the same work for the values legacy
blobs and our shadow blobs actually contain, in one pass over the bytes with ``struct`` and
``numpy.frombuffer``, and promises **the same result or no result**:

* :func:`read_legacy` returns exactly what ``matlab_to_python(decode_legacy_blob(data))`` returns
  (same Python types, same numpy dtypes and shapes, same values); for anything it does not
  understand or that is malformed in any way (cell arrays, dimensions other than 2, unusual
  classes, length mismatches, non-ASCII chars, duplicate or empty field names, ...) it raises
  :class:`Unsupported`, and the caller runs the reference path, which produces the value or the
  error message the project has always produced. It never touches DataJoint's global flags.
* :func:`pack_dj0` returns the bytes ``datajoint.blob.pack`` writes with Python-native blobs
  enabled (``dj0`` protocol, ``ZL123`` zlib wrapper when larger than 1000 bytes and smaller
  compressed), byte for byte, for lists / tuples / dicts of str, float, int, bool, complex, None
  and plain numeric numpy arrays; :class:`Unsupported` otherwise.
* :func:`unpack_dj0` returns what ``datajoint.blob.unpack(blob)`` returns (64-bit dims, not
  squeezed) for the same kinds of values; :class:`Unsupported` otherwise.

:func:`legacy_to_python`, :func:`pack_native_fast` and :func:`unpack_native_fast` wrap each with
its fallback. Pure Python: no database.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

__all__ = [
    "Unsupported",
    "legacy_to_python",
    "pack_dj0",
    "pack_native_fast",
    "read_legacy",
    "unpack_dj0",
    "unpack_native_fast",
]


class Unsupported(Exception):
    """The fast path does not handle this value or blob; use the reference (DataJoint) path."""


_MYM = b"mYm\0"
_DJ0 = b"dj0\0"
_ZL = b"ZL123\0"

_u8 = struct.Struct("<B").unpack_from
_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_u32x3 = struct.Struct("<III").unpack_from
_u32x4 = struct.Struct("<IIII").unpack_from
_u64 = struct.Struct("<Q").unpack_from
_u64x2 = struct.Struct("<QQ").unpack_from
_u32x2 = struct.Struct("<II").unpack_from
_f64 = struct.Struct("<d").unpack_from

# MATLAB / DataJoint class ids of plain numeric and logical arrays (datajoint.blob.deserialize_lookup).
_NUMERIC: dict[int, np.dtype] = {
    3: np.dtype("bool"),
    6: np.dtype("float64"),
    7: np.dtype("float32"),
    8: np.dtype("int8"),
    9: np.dtype("uint8"),
    10: np.dtype("int16"),
    11: np.dtype("uint16"),
    12: np.dtype("int32"),
    13: np.dtype("uint32"),
    14: np.dtype("int64"),
    15: np.dtype("uint64"),
}
_CHAR = 4
_F8 = np.dtype("float64")
_frombuffer = np.frombuffer


# --- legacy mYm (32-bit dims) -> the values matlab_to_python produces ---------------------------


def char_units(buf: bytes, p: int, n: int) -> tuple[bytes, int]:
    """The low bytes of the ``n`` UTF-16 units of a char array at ``p`` (DataJoint keeps only
    those), and the end of the data; ASCII only (DataJoint fails on anything else)."""
    end = p + 2 * n
    if end > len(buf):
        raise Unsupported("char data past the end")
    low = buf[p:end:2]
    if not low.isascii():
        raise Unsupported("non-ASCII char (DataJoint fails on it)")
    return low, end


def without_nul(text: str) -> str:
    """A char value as DataJoint reads it: NUL characters vanish."""
    return text.replace("\0", "") if "\0" in text else text


def struct_names(buf: bytes, p: int, count: int) -> tuple[list[str], int]:
    """The ``count`` NUL-terminated field names of a struct at ``p``, and where they end."""
    names = []
    for _ in range(count):
        stop = buf.find(b"\0", p)
        if stop <= p:  # no terminator, or an empty name (numpy would rename it)
            raise Unsupported("struct field name")
        names.append(buf[p:stop].decode())
        p = stop + 1
    if len(set(names)) != count:
        raise Unsupported("duplicate struct field names")
    return names, p


def _legacy_array(buf: bytes, p: int) -> tuple[Any, int]:
    """An ``A`` value at ``p`` (after the type byte); 2-D only."""
    if _u32(buf, p)[0] != 2:
        raise Unsupported("array dimensions other than 2")
    rows, cols, cls, cplx = _u32x4(buf, p + 4)
    p += 20
    n = rows * cols
    size = len(buf)
    if cls == 6 and not cplx:  # double, the common case
        end = p + 8 * n
        if end > size:
            raise Unsupported("array data past the end")
        if n == 1:
            return _f64(buf, p)[0], end
        array = _frombuffer(buf, _F8, n, p).reshape((rows, cols), order="F")
        if rows == 1 or cols == 1:
            array = array.reshape((cols,) if rows == 1 else (rows,))
        return array, end
    if cls == _CHAR:
        low, end = char_units(buf, p, n)
        if n == 0 or rows == 1:
            return without_nul(low.decode("ascii")), end
        # a char matrix: one string per row (MATLAB stores it column-major); NULs vanish
        return [without_nul(low[i::rows].decode("ascii")) for i in range(rows)], end
    dtype = _NUMERIC.get(cls)
    if dtype is None:
        raise Unsupported(f"array class {cls}")
    end = p + dtype.itemsize * n * (2 if cplx else 1)
    if end > size:
        raise Unsupported("array data past the end")
    # the same numpy operations as DataJoint's reader (a numpy scalar when there is one element)
    data = _frombuffer(buf, dtype, n, p)
    if n == 1:
        data = data[0]
    if cplx:
        imag = _frombuffer(buf, dtype, n, p + dtype.itemsize * n)
        data = data + 1j * (imag[0] if n == 1 else imag)
    value = data.reshape((rows, cols), order="F")
    if value.size == 1:
        return value.reshape(()).item(), end
    return np.squeeze(value), end


def _legacy_struct(buf: bytes, p: int) -> tuple[Any, int]:
    """An ``S`` value at ``p`` (after the type byte)."""
    if _u32(buf, p)[0] != 2:
        raise Unsupported("struct dimensions other than 2")
    rows, cols, n_fields = _u32x3(buf, p + 4)
    p += 16
    if not n_fields:
        return None, p  # DataJoint reads a struct without fields as None
    names, p = struct_names(buf, p, n_fields)
    n = rows * cols
    if n * n_fields * 4 > len(buf) - p:
        raise Unsupported("struct elements past the end")
    elements = []
    read = _legacy_value
    for _ in range(n):
        values = []
        for _ in range(n_fields):
            length = _u32(buf, p)[0]
            p += 4
            value, stop = read(buf, p)
            if stop - p != length:
                raise Unsupported("struct field length mismatch")
            values.append(value)
            p = stop
        elements.append(dict(zip(names, values, strict=False)))
    return (elements[0] if n == 1 else elements), p


def _legacy_value(buf: bytes, p: int) -> tuple[Any, int]:
    code = buf[p]
    if code == 0x41:  # 'A'
        return _legacy_array(buf, p + 1)
    if code == 0x53:  # 'S'
        return _legacy_struct(buf, p + 1)
    raise Unsupported(f"mYm type code {code!r}")  # cells 'C' and the rest: reference path


def _unwrap(data: bytes, size_bytes: int, magic: bytes, kind: str) -> bytes:
    """The serialized payload: ``data`` itself, or its ``ZL123`` zlib body (uncompressed size in a
    ``size_bytes``-wide field: 4 for legacy mYm blobs, 8 for dj0), checked to start with ``magic``."""
    if type(data) is not bytes:
        raise Unsupported("not bytes")
    if data.startswith(_ZL):
        try:
            buf = zlib.decompress(data[len(_ZL) + size_bytes :])
        except zlib.error as error:
            raise Unsupported("zlib") from error
        size = (_u32 if size_bytes == 4 else _u64)(data, len(_ZL))[0]
        if len(buf) != size:
            raise Unsupported("uncompressed size mismatch")
    else:
        buf = data
    if not buf.startswith(magic) or len(buf) <= len(magic):
        raise Unsupported(f"not {kind} blob")
    return buf


def read_legacy(data: bytes) -> Any:
    """``matlab_to_python(decode_legacy_blob(data))`` for the blobs it understands.

    Raises :class:`Unsupported` for everything else (including every malformed blob), never a
    different value.
    """
    buf = _unwrap(data, 4, _MYM, "an mYm")
    try:
        value, end = _legacy_value(buf, len(_MYM))
    except Unsupported:
        raise
    except Exception as error:  # struct.error, ValueError, IndexError on truncated data
        raise Unsupported(f"{type(error).__name__}: {error}") from error
    if end != len(buf):
        raise Unsupported("trailing bytes")
    return value


def legacy_to_python(data: Any) -> Any:
    """Decode a legacy mYm blob to Python: the fast reader, else the reference path of :mod:`.blobs`.

    Same value and same exceptions (:class:`.blobs.BlobDecodeError`,
    :class:`.matlab.UnexpectedShapeError`) as ``matlab_to_python(decode_legacy_blob(data))``.
    """
    try:
        return read_legacy(data)
    except Unsupported:
        from .blobs import decode_legacy_blob
        from .matlab import matlab_to_python

        return matlab_to_python(decode_legacy_blob(data))


# --- Python-native dj0 blobs: packing ---------------------------------------------------------

_q = struct.Struct("<Q").pack
_len_float = struct.Struct("<QBd").pack  # length-prefixed float: 9, 0x0d, value
_len_complex = struct.Struct("<QBdd").pack
_hdr1 = struct.Struct("<QBQQII").pack  # length prefix, 'A', ndim=1, n, type id, is_complex
_hdr2 = struct.Struct("<QBQQQII").pack
_hdr0 = struct.Struct("<QBQII").pack
_TRUE = _q(2) + b"\x0b\x01"
_FALSE = _q(2) + b"\x0b\x00"
_NONE = _q(1) + b"\xff"

# numpy dtype -> DataJoint type id (datajoint.blob.serialize_lookup for numeric and logical)
_TYPE_ID: dict[np.dtype, int] = {dtype: cls for cls, dtype in _NUMERIC.items()}
_COMPLEX_PART = {
    np.dtype("complex128"): np.dtype("float64"),
    np.dtype("complex64"): np.dtype("float32"),
}

_string_cache: dict[str, bytes] = {}
_STRING_CACHE_MAX = 4096


def _item_string(s: str) -> bytes:
    cached = _string_cache.get(s)
    if cached is None:
        encoded = s.encode()
        cached = _q(len(encoded) + 9) + b"\x05" + _q(len(encoded)) + encoded
        if len(_string_cache) < _STRING_CACHE_MAX and len(encoded) < 256:
            _string_cache[s] = cached
    return cached


def _item_array(array: np.ndarray) -> bytes:
    dtype = array.dtype
    cplx = 0
    type_id = _TYPE_ID.get(dtype)
    if type_id is None:
        part = _COMPLEX_PART.get(dtype)
        if part is None:
            raise Unsupported(f"array dtype {dtype}")
        type_id, cplx = _TYPE_ID[part], 1
        data = np.real(array).tobytes(order="F") + np.imag(array).tobytes(order="F")
    else:
        data = array.tobytes(order="F")
    ndim = array.ndim
    if ndim == 2:
        rows, cols = array.shape
        return _hdr2(len(data) + 33, 0x41, 2, rows, cols, type_id, cplx) + data
    if ndim == 1:
        return _hdr1(len(data) + 25, 0x41, 1, array.shape[0], type_id, cplx) + data
    if ndim == 0:
        return _hdr0(len(data) + 17, 0x41, 0, type_id, cplx) + data
    header = (
        b"A" + struct.pack(f"<{ndim + 1}Q", ndim, *array.shape) + struct.pack("<II", type_id, cplx)
    )
    return _q(len(header) + len(data)) + header + data


def _item(obj: Any) -> bytes:
    """``len_u64(packed) + packed`` for one value, as DataJoint's list/dict/tuple packers write it."""
    kind = type(obj)
    if kind is float:
        return _len_float(9, 0x0D, obj)
    if kind is np.ndarray:
        return _item_array(obj)
    if kind is str:
        return _item_string(obj)
    if kind is dict:
        packed = _dict(obj)
    elif kind is list:
        packed = _sequence(b"\x02", obj)
    elif kind is bool:
        return _TRUE if obj else _FALSE
    elif obj is None:
        return _NONE
    elif kind is int:
        packed = _int(obj)
    elif kind is tuple:
        packed = _sequence(b"\x01", obj)
    elif kind is complex:
        return _len_complex(17, 0x0C, obj.real, obj.imag)
    elif kind in _SCALAR_TYPES:  # numpy scalars: DataJoint packs them as 0-d arrays
        return _item_array(np.array(obj))
    else:
        raise Unsupported(f"value of type {kind.__name__}")
    return _q(len(packed)) + packed


_SCALAR_TYPES = frozenset({*(d.type for d in _NUMERIC.values()), np.complex64, np.complex128})


def _int(value: int) -> bytes:
    n_bytes = value.bit_length() // 8 + 1
    if n_bytes > 0xFFFF:
        raise Unsupported("integer too large")
    return b"\x0a" + struct.pack("<H", n_bytes) + value.to_bytes(n_bytes, "little", signed=True)


def _dict(d: dict) -> bytes:
    parts = [b"\x04", _q(len(d))]
    append = parts.append
    item = _item
    for key, value in d.items():
        append(item(key))
        append(item(value))
    return b"".join(parts)


def _sequence(code: bytes, items: list | tuple) -> bytes:
    parts = [code, _q(len(items))]
    parts.extend(map(_item, items))
    return b"".join(parts)


def pack_dj0(obj: Any, compress: bool = True) -> bytes:
    """``datajoint.blob.pack(obj)`` with Python-native blobs enabled, byte for byte.

    ``obj`` must be a ``list``, ``tuple`` or ``dict`` (the top level of the values we store) of
    the supported values; anything else raises :class:`Unsupported`.
    """
    kind = type(obj)
    if kind is list:
        body = _sequence(b"\x02", obj)
    elif kind is dict:
        body = _dict(obj)
    elif kind is tuple:
        body = _sequence(b"\x01", obj)
    else:
        raise Unsupported(f"top-level value of type {kind.__name__}")
    blob = _DJ0 + body
    return compress_dj0(blob) if compress else blob


def compress_dj0(blob: bytes) -> bytes:
    """What ``datajoint.blob.pack`` stores for the serialized ``blob``: its ``ZL123`` zlib form
    (default level, so the bytes are DataJoint's) when it is over 1000 bytes and that is smaller."""
    if len(blob) > 1000:
        compressed = _ZL + _q(len(blob)) + zlib.compress(blob)
        if len(compressed) < len(blob):
            return compressed
    return blob


def pack_native_fast(value: Any) -> bytes:
    """:func:`.blobs.pack_native` (same bytes), through :func:`pack_dj0` when it can."""
    try:
        return pack_dj0(value)
    except (Unsupported, RecursionError):
        from .blobs import pack_native

        return pack_native(value)


# --- Python-native dj0 blobs: reading ---------------------------------------------------------


def _dj0_array(buf: bytes, p: int) -> tuple[Any, int]:
    ndim = _u64(buf, p)[0]
    p += 8
    if ndim == 2:
        shape = _u64x2(buf, p)
        p += 16
    elif ndim == 1:
        shape = _u64(buf, p)
        p += 8
    else:
        raise Unsupported("array dimensions other than 1 and 2")
    n = shape[0] * shape[1] if ndim == 2 else shape[0]
    cls, cplx = _u32x2(buf, p)
    p += 8
    dtype = _NUMERIC.get(cls)
    if dtype is None:
        raise Unsupported(f"array class {cls}")
    end = p + dtype.itemsize * n * (2 if cplx else 1)
    if end > len(buf):
        raise Unsupported("array data past the end")
    data = _frombuffer(buf, dtype, n, p)
    if n == 1:
        data = data[0]
    if cplx:
        imag = _frombuffer(buf, dtype, n, p + dtype.itemsize * n)
        data = data + 1j * (imag[0] if n == 1 else imag)
    return data.reshape(shape, order="F"), end


def _dj0_items(buf: bytes, p: int, n: int) -> tuple[list, int]:
    out = []
    append = out.append
    read = _dj0_value
    for _ in range(n):
        length = _u64(buf, p)[0]
        p += 8
        value, stop = read(buf, p)
        if stop - p != length:
            raise Unsupported("length mismatch")
        append(value)
        p = stop
    return out, p


def _dj0_value(buf: bytes, p: int) -> tuple[Any, int]:
    code = buf[p]
    p += 1
    if code == 0x0D:  # float
        return _f64(buf, p)[0], p + 8
    if code == 0x41:  # 'A'
        return _dj0_array(buf, p)
    if code == 0x05:  # str
        n = _u64(buf, p)[0]
        p += 8
        if p + n > len(buf):
            raise Unsupported("string past the end")
        return buf[p : p + n].decode(), p + n
    if code == 0x04:  # dict
        n = _u64(buf, p)[0]
        items, p = _dj0_items(buf, p + 8, 2 * n)
        return dict(zip(items[0::2], items[1::2], strict=False)), p
    if code == 0x02:  # list
        return _dj0_items(buf, p + 8, _u64(buf, p)[0])
    if code == 0x01:  # tuple
        items, p = _dj0_items(buf, p + 8, _u64(buf, p)[0])
        return tuple(items), p
    if code == 0x0B:  # bool
        return buf[p] != 0, p + 1
    if code == 0xFF:
        return None, p
    if code == 0x0A:  # int
        n = _u16(buf, p)[0]
        p += 2
        if p + n > len(buf):
            raise Unsupported("int past the end")
        return int.from_bytes(buf[p : p + n], "little", signed=True), p + n
    raise Unsupported(f"dj0 type code {code!r}")


def unpack_dj0(blob: bytes) -> Any:
    """``datajoint.blob.unpack(blob)`` (64-bit dims, unsqueezed) for the ``dj0`` blobs we write.

    Raises :class:`Unsupported` for anything else, including every malformed blob.
    """
    buf = _unwrap(blob, 8, _DJ0, "a dj0")
    try:
        value, end = _dj0_value(buf, len(_DJ0))
    except Unsupported:
        raise
    except (
        Exception
    ) as error:  # struct.error, IndexError, UnicodeDecodeError, TypeError (unhashable key)
        raise Unsupported(f"{type(error).__name__}: {error}") from error
    if end != len(buf):
        raise Unsupported("trailing bytes")
    return value


def unpack_native_fast(blob: Any) -> Any:
    """``datajoint.blob.unpack(blob)``, through :func:`unpack_dj0` when it can."""
    try:
        return unpack_dj0(blob)
    except Unsupported:
        import datajoint.blob as dj_blob

        return dj_blob.unpack(blob)
