"""Server-side prepared statements over a PyMySQL connection (MySQL's binary protocol).

PyMySQL sends every value inside the SQL text, so a blob travels as an escaped literal that the
server must lex byte by byte: MariaDB takes blobs that way at ~80 MB/s, and at ~590 MB/s
when the same bytes arrive as binary parameters of a prepared statement (measured in
``benchmarks/RESULTS.md``, "Ephys ingestion"). PyMySQL has no prepared statements, so this module
speaks the commands it needs — ``COM_STMT_PREPARE``, ``COM_STMT_SEND_LONG_DATA``,
``COM_STMT_EXECUTE``, ``COM_STMT_RESET`` and ``COM_STMT_CLOSE`` (MariaDB/MySQL client/server
protocol) — on the connection's own socket, in the connection's own transaction. Only statements that return no rows (``INSERT``) are supported.

Values: ``None``, ``bool``/``int`` (and numpy integers), ``float`` (and numpy floats), ``str``,
``bytes``/``bytearray``/``memoryview``, ``uuid.UUID`` (its 16 bytes, as DataJoint stores it), and
:class:`Streamed`: a blob sent in pieces ahead of the execution (``COM_STMT_SEND_LONG_DATA``), so
the client never holds more than one piece of it, however long the value.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Sequence

import numpy as np
from pymysql.constants import CLIENT

COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1A

_NULL = b"\x06\x00"  # MYSQL_TYPE_NULL
_LONGLONG = b"\x08\x00"  # signed 8-byte integer
_DOUBLE = b"\x05\x00"
_STRING = b"\xfe\x00"  # MYSQL_TYPE_STRING: text in the connection's character set
_BLOB = b"\xfc\x00"  # MYSQL_TYPE_BLOB: bytes as they are


class PreparedStatementError(RuntimeError):
    """The server's answer did not follow the protocol (not a SQL error: those raise PyMySQL's)."""


class Streamed:
    """A blob parameter given as ``pieces`` (bytes-like, in order) that add up to ``nbytes``; read
    lazily, one piece at a time, while the statement executes. ``len()`` is ``nbytes``."""

    def __init__(self, pieces: Iterable, nbytes: int) -> None:
        self.pieces = pieces
        self.nbytes = nbytes

    def __len__(self) -> int:
        return self.nbytes


def _length(n: int) -> bytes:
    """A length-encoded integer."""
    if n < 251:
        return bytes((n,))
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def _encode(value, encoding: str) -> tuple[bytes, list[bytes]]:
    """(type code, value bytes) of one parameter."""
    if value is None:
        return _NULL, []
    if isinstance(value, (bool, int, np.integer)):
        return _LONGLONG, [struct.pack("<q", int(value))]
    if isinstance(value, (float, np.floating)):
        return _DOUBLE, [struct.pack("<d", float(value))]
    if isinstance(value, str):
        data = value.encode(encoding)
        return _STRING, [_length(len(data)), data]
    if isinstance(value, uuid.UUID):
        return _BLOB, [_length(16), value.bytes]
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = memoryview(value).cast("B")
        return _BLOB, [_length(data.nbytes), data]
    raise TypeError(f"prepared statements take None, int, float, str, bytes or UUID values, not {type(value).__name__}")


class PreparedStatement:
    """One statement prepared on ``connection`` (a ``pymysql.Connection``); use as a context
    manager, or call :meth:`close`. :meth:`execute` runs it with one set of parameters and returns
    the affected rows; SQL errors raise PyMySQL's exceptions, as ``cursor.execute`` would."""

    def __init__(self, connection, sql: str) -> None:
        self.connection = connection
        self.sql = sql
        connection._execute_command(COM_STMT_PREPARE, sql)
        first = connection._read_packet()  # an error packet raises here
        data = first.get_all_data()
        if data[:1] != b"\x00" or len(data) < 12:
            raise PreparedStatementError(f"unexpected answer to COM_STMT_PREPARE of {sql[:80]!r}")
        self.statement_id, columns, self.n_params = struct.unpack("<IHH", data[1:9])
        eof = not connection.client_flag & CLIENT.DEPRECATE_EOF
        for count in (self.n_params, columns):  # definitions of the parameters, then of the columns
            for _ in range(count):
                connection._read_packet()
            if count and eof:
                connection._read_packet()
        if columns:
            self.close()
            raise PreparedStatementError(f"{sql[:80]!r} returns rows: only statements without a result are supported")

    def execute(self, params: Sequence) -> int:
        if len(params) != self.n_params:
            raise ValueError(f"the statement takes {self.n_params} parameters, {len(params)} given")
        encoding = self.connection.encoding
        null = bytearray((len(params) + 7) // 8)
        types, values, streamed = [], [], []
        for i, value in enumerate(params):
            if isinstance(value, Streamed):  # sent before the execution; no value in its packet
                types.append(_BLOB)
                streamed.append((i, value))
                continue
            code, parts = _encode(value, encoding)
            if code is _NULL:
                null[i // 8] |= 1 << (i % 8)
            types.append(code)
            values.extend(parts)
        for i, value in streamed:
            self._send_long_data(i, value)
        header = struct.pack("<IBI", self.statement_id, 0, 1) + bytes(null) + b"\x01" + b"".join(types)
        self.connection._execute_command(COM_STMT_EXECUTE, b"".join([header, *values]))
        answer = self.connection._read_packet()  # an error packet raises here
        if not answer.is_ok_packet():
            raise PreparedStatementError(f"unexpected answer to COM_STMT_EXECUTE of {self.sql[:80]!r}")
        answer.advance(1)
        return answer.read_length_encoded_integer()

    def _send_long_data(self, i: int, value: Streamed) -> None:
        """The pieces of parameter ``i``; the server answers nothing (errors come with the execution)."""
        prefix = struct.pack("<IH", self.statement_id, i)
        sent = 0
        for piece in value.pieces:
            piece = memoryview(piece).cast("B")
            self.connection._execute_command(COM_STMT_SEND_LONG_DATA, prefix + piece)
            sent += piece.nbytes
        if sent == 0:  # an empty value must still be sent, or the parameter counts as unbound
            self.connection._execute_command(COM_STMT_SEND_LONG_DATA, prefix)
        if sent != value.nbytes:
            self._reset()
            raise ValueError(f"parameter {i} of {self.sql[:80]!r}: {sent} bytes streamed, {value.nbytes} announced")

    def _reset(self) -> None:
        """Drop the long data sent so far (``COM_STMT_RESET``); the statement stays prepared."""
        self.connection._execute_command(COM_STMT_RESET, struct.pack("<I", self.statement_id))
        self.connection._read_packet()

    def close(self) -> None:
        if self.statement_id is not None:
            self.connection._execute_command(COM_STMT_CLOSE, struct.pack("<I", self.statement_id))
            self.statement_id = None

    def __enter__(self) -> PreparedStatement:
        return self

    def __exit__(self, *exc) -> None:
        if self.connection.open:
            self.close()
