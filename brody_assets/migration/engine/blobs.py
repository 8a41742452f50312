"""Legacy MATLAB mYm blobs -> Python-native DataJoint blobs (spec §1.3, §2.19, §2.20, §3.6).

The lab's rig software wrote ``sessions.protocol_data`` and ``parsed_events.peh`` with the
MATLAB mYm library, whose dimension fields are 32-bit. DataJoint 0.14 reads them only while
its module-global ``datajoint.blob.use_32bit_dims`` is on, and mis-reads every 64-bit blob
while it is on. The old pipeline switched it on and never back (spec §3.6, §3.8 #12); here it is
switched on only inside :func:`legacy_blob_mode`, and always restored.

Pure Python: no Dagster, no database. The transforms take fetched rows and return the rows to
insert plus the rows to quarantine with a reason code:

* ``blob_missing``: the blob is NULL, or the session has no ``parsed_events`` row at all;
* ``blob_undecodable``: DataJoint's mYm reader fails (detail: its error and the first bytes);
* ``blob_unexpected_shape``: it decodes, but not to the struct the table expects.

MATLAB values are converted to Python by :func:`.matlab.matlab_to_python` (spec §2.19).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import datajoint as dj
import datajoint.blob as dj_blob
import numpy as np

from .fastblob import Unsupported, pack_native_fast, read_legacy
from .matlab import UnexpectedShapeError, matlab_to_python
from .pehfast import transcode_peh

BLOB_MISSING = "blob_missing"
BLOB_UNDECODABLE = "blob_undecodable"
BLOB_UNEXPECTED_SHAPE = "blob_unexpected_shape"

_MYM_HEADER = b"mYm\0"
_ZLIB_HEADER = b"ZL123\0"
_FIRST_BYTES = 16

# One lock for every change this module makes to DataJoint's global blob settings.
_GLOBAL_BLOB_SETTINGS = threading.RLock()


class BlobDecodeError(ValueError):
    """DataJoint's mYm reader could not decode a legacy blob."""


class Rejection(NamedTuple):
    """A row that is not migrated: its key, a reason code and a detail a person can act on."""

    sessid: int
    reason: str
    detail: str


@dataclass
class TransformResult:
    """Rows ready to insert (``good``) and rows to quarantine (``rejected``)."""

    good: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


# --- DataJoint's global flags, scoped ---------------------------------------------------------


@contextmanager
def legacy_blob_mode() -> Iterator[None]:
    """Switch DataJoint's reader to 32-bit mYm dims for the block; restore it on any exit.

    ``use_32bit_dims`` is a module global of ``datajoint.blob``, read by every blob fetch in
    the process. This context holds a module lock, so calls through this module are serialized,
    but it cannot stop *another* thread from fetching 64-bit blobs from DataJoint while the
    flag is on: use it from one thread at a time (the project runs DataJoint work in
    processes, never threads: see spec/stack.md). ``bypass_serialization`` is forced off too.
    """
    with _GLOBAL_BLOB_SETTINGS:
        saved = (dj_blob.use_32bit_dims, dj_blob.bypass_serialization)
        dj_blob.use_32bit_dims, dj_blob.bypass_serialization = True, False
        try:
            yield
        finally:
            dj_blob.use_32bit_dims, dj_blob.bypass_serialization = saved


@contextmanager
def _python_native_blobs() -> Iterator[None]:
    """Allow DataJoint's ``dj0`` (Python-native) blob format for the block; restore the setting."""
    with _GLOBAL_BLOB_SETTINGS:
        saved = dj.config["enable_python_native_blobs"]
        dj.config["enable_python_native_blobs"] = True
        try:
            yield
        finally:
            dj.config["enable_python_native_blobs"] = saved


def pack_native(value: Any) -> bytes:
    """Serialize ``value`` exactly as DataJoint stores a Python-native (``dj0``) blob column."""
    with _python_native_blobs():
        return dj_blob.pack(value)


# --- decoding ---------------------------------------------------------------------------------


def _first_bytes(data: bytes) -> str:
    return data[:_FIRST_BYTES].hex(" ")


def _payload_header(data: bytes) -> bytes:
    """The first 4 bytes of the blob after mYm's optional zlib wrapper (marker + 32-bit size)."""
    if data.startswith(_ZLIB_HEADER):
        body = data[len(_ZLIB_HEADER) + 4 :]
        return zlib.decompressobj().decompress(body, len(_MYM_HEADER))
    return data[: len(_MYM_HEADER)]


def decode_legacy_blob(data: bytes) -> Any:
    """Decode one legacy mYm blob with DataJoint's reader in 32-bit-dims mode.

    Returns DataJoint's raw value (``MatStruct`` / ``MatCell`` / numpy array, unsqueezed);
    pass it to :func:`matlab_to_python`. Raises :class:`BlobDecodeError` (message: the reader's
    error and the first bytes) for anything that is not a complete, valid mYm blob, including
    Python-native ``dj0`` blobs. The 32-bit flag is restored on every exit, error or not.
    """
    try:
        header = _payload_header(data)
        if header != _MYM_HEADER:
            raise BlobDecodeError(f"not an mYm blob (header {header!r})")
        with legacy_blob_mode():
            value = dj_blob.unpack(data, squeeze=False)
    except BlobDecodeError as error:
        raise BlobDecodeError(f"{error}; first bytes: {_first_bytes(data)}") from None
    except Exception as error:  # the reader fails with many types on corrupt input
        raise BlobDecodeError(
            f"{type(error).__name__}: {error}; first bytes: {_first_bytes(data)}"
        ) from error
    return value


# --- per-table transforms ---------------------------------------------------------------------


def _decode_to_python(data: Any) -> Any:
    """Decode + convert; raises BlobDecodeError or UnexpectedShapeError.

    The specialised reader of :mod:`.fastblob` answers for the blobs it understands (the same
    value, proven in the tests); everything else, malformed blobs included, takes DataJoint's
    reader and :func:`matlab_to_python`, so values and error messages are the reference ones.
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise BlobDecodeError(f"expected bytes, got {type(data).__name__}")
    try:
        return read_legacy(data)
    except Unsupported:
        return matlab_to_python(decode_legacy_blob(data))


def _transform(
    rows: list[dict[str, Any]],
    column: str,
    build: Callable[[Any], Any],
    direct: Callable[[bytes], bytes] | None = None,
) -> TransformResult:
    """Decode ``column`` of every row, shape it with ``build`` and pack it; never raises per row.

    ``direct(data)``, when given, returns the same packed bytes straight from the legacy bytes
    or raises :class:`.fastblob.Unsupported` (then the row takes the path above).
    """
    result = TransformResult()
    for row in rows:
        sessid = row["sessid"]
        data = row.get(column)
        if data is None:
            result.rejected.append(
                Rejection(sessid, BLOB_MISSING, f"{column} is NULL or the legacy row is absent")
            )
            continue
        if direct is not None:
            try:
                result.good.append({"sessid": sessid, column: direct(data)})
                continue
            except Unsupported:
                pass
        try:
            value = build(_decode_to_python(data))
            packed = pack_native_fast(value)  # the bytes pack_native writes
        except BlobDecodeError as error:
            result.rejected.append(Rejection(sessid, BLOB_UNDECODABLE, str(error)))
            continue
        except Exception as error:  # a shape we cannot represent, or one DataJoint cannot pack
            result.rejected.append(
                Rejection(sessid, BLOB_UNEXPECTED_SHAPE, f"{type(error).__name__}: {error}")
            )
            continue
        result.good.append({"sessid": sessid, column: packed})
    return result


def _protocol_data_value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnexpectedShapeError(
            f"protocol_data is {_describe(value)}, expected a 1×1 MATLAB struct"
        )
    return value


def transform_protocol_data(rows: list[dict[str, Any]]) -> TransformResult:
    """``SessionProtocolData`` rows from legacy ``{"sessid", "protocol_data"}`` rows (§2.19).

    ``good`` rows are ``{"sessid", "protocol_data": <Python-native blob bytes>}`` holding the
    converted struct (a dict). NULL -> ``blob_missing``; not a 1×1 struct ->
    ``blob_unexpected_shape``.
    """
    return _transform(rows, "protocol_data", _protocol_data_value)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}"


def peh_records(value: Any) -> list[dict[str, Any]]:
    """The per-trial records of a converted ``peh`` value (spec §2.20 steps 2–3).

    ``value`` is a list of per-trial dicts (a single-trial session's dict counts as a list of
    one). Columns are the trials' top-level fields in order; a column whose value is a dict in
    **every** trial becomes one column per sub-key, ``<field>__<subkey>``, sub-keys in order of
    first appearance; a trial lacking a sub-key another trial has gets ``None`` there. Other
    columns keep their name and values. Raises :class:`UnexpectedShapeError` when the value is
    not a struct (array) or two columns would get the same name.
    """
    trials = [value] if isinstance(value, dict) else value
    if not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
        raise UnexpectedShapeError(f"peh is {_describe(value)}, expected a MATLAB struct array")
    fields = list(dict.fromkeys(name for trial in trials for name in trial))
    records: list[dict[str, Any]] = [{} for _ in trials]
    used: set[str] = set()
    for name in fields:
        values = [trial.get(name) for trial in trials]
        if values and all(isinstance(v, dict) for v in values):
            subkeys = list(dict.fromkeys(k for v in values for k in v))
            columns = {f"{name}__{k}": [v.get(k) for v in values] for k in subkeys}
        else:
            columns = {name: values}
        for column, column_values in columns.items():
            if column in used:
                raise UnexpectedShapeError(f"two peh columns are both named {column!r}")
            used.add(column)
            for record, v in zip(records, column_values, strict=True):
                record[column] = v
    return records


def transform_parsed_events(rows: list[dict[str, Any]]) -> TransformResult:
    """``ParsedEvents`` rows from legacy ``{"sessid", "peh"}`` rows (spec §2.20 steps 1–4).

    ``good`` rows are ``{"sessid", "peh": <Python-native blob bytes>}`` holding a ``list`` of
    per-trial dicts keyed by flattened ``<field>__<subkey>`` names (see :func:`peh_records`).
    ``peh`` None (or the key absent: no ``parsed_events`` row) -> ``blob_missing``.
    """
    return _transform(rows, "peh", peh_records, direct=transcode_peh)
