"""DataJoint blobs for numeric arrays, packed here without DataJoint's zlib pass.

DataJoint's ``blob.pack`` tries ``zlib.compress`` on every blob over 1 kB and keeps the result only
where it is smaller. Filtered float32 LFP traces barely compress (a few per cent), so for the LFP
rows that pass costs more CPU than everything else in the step (1.6 s of 3.5 s on a 10-minute
recording) and buys almost nothing. :func:`pack_numeric` writes the bytes DataJoint itself writes
with ``compress=False`` (``mYm\\0``, ``A``, ndim, shape, type id, real flag, the values in Fortran
order) — DataJoint's ``unpack`` (and the element, and MATLAB's mYm) read them unchanged; a test
compares the bytes with DataJoint's.
"""

from __future__ import annotations

import numpy as np

_HEADER = b"mYm\0A"


def numeric_header(dtype, shape: tuple[int, ...]) -> bytes:
    """The bytes that precede the values in :func:`pack_numeric`'s blob of an array of ``dtype`` and
    ``shape``: a blob can be streamed as this header, then the values in Fortran order."""
    from datajoint.blob import serialize_lookup

    dtype = np.dtype(dtype)
    entry = serialize_lookup.get(dtype)
    if len(shape) == 0 or dtype.kind not in "biuf" or entry is None:
        raise TypeError(f"pack_numeric takes real numeric arrays of at least one dimension, not {dtype} "
                        f"with shape {shape}")
    return (_HEADER + np.array([len(shape), *shape], dtype=np.uint64).tobytes()
            + np.array([entry["type_id"], 0], dtype=np.uint32).tobytes())


def pack_numeric(array: np.ndarray) -> bytes:
    """The uncompressed DataJoint blob of a real numeric ``array`` (ndim >= 1): byte for byte what
    ``datajoint.blob.pack(array, compress=False)`` returns."""
    array = np.asarray(array)
    return numeric_header(array.dtype, array.shape) + array.tobytes(order="F")
