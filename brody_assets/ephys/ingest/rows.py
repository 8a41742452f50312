"""Writing one step's rows: keys and hashes as the element makes them, bounded statements (SQL
text through DataJoint, or prepared statements for blobs packed here), the one-transaction step, and
the electrode lookups the steps share."""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from brody_assets.ephys.errors import RecordingError
from brody_assets.ephys.ingest.context import EphysContext, Partition

STATEMENT_BYTES = 4 * 2**20  # one INSERT carries at most this much blob data (a bigger row goes
# alone): it bounds what one statement holds in this process and in the server


def dict_to_uuid(key: dict) -> uuid.UUID:
    """element-interface's hash: MD5 over ``str(k)``, ``str(v)`` in key order, as a UUID."""
    hashed = hashlib.md5()
    for k, v in sorted(key.items()):
        hashed.update(str(k).encode())
        hashed.update(str(v).encode())
    return uuid.UUID(hex=hashed.hexdigest())


def key_where(key: dict) -> tuple[str, tuple]:
    names = sorted(key)
    return " AND ".join(f"`{n}` = %s" for n in names), tuple(key[n] for n in names)


def select_by_key(ctx: EphysContext, columns: str, table: str, key: dict) -> list[tuple]:
    """``SELECT columns FROM`` the element's ``table`` rows matching every attribute of ``key``."""
    where, args = key_where(key)
    return ctx.query(f"SELECT {columns} FROM {ctx.t(table)} WHERE {where}", args)


def count_rows(ctx: EphysContext, table: str, key: dict) -> int:
    return int(select_by_key(ctx, "COUNT(*)", table, key)[0][0])


class PacketTooSmall(RuntimeError):
    """One row is larger than the server's ``max_allowed_packet`` allows."""


def check_row_fits(table: str, nbytes: int, max_packet: int, escaped: bool = True) -> None:
    """A row holding ``nbytes`` of blob data must fit the server's packet: blob bytes count twice in
    SQL text (``escaped``: escaped at worst to twice their size), once as prepared-statement
    parameters. Else an error that says how far to raise ``max_allowed_packet``."""
    need = (2 if escaped else 1) * nbytes + 4096
    if need > max_packet:
        raise PacketTooSmall(
            f"one {table} row holds {nbytes / 2**20:.1f} MiB of blob data; the server's max_allowed_packet "
            f"is {max_packet / 2**20:.0f} MiB: raise it to at least {need / 2**20:.0f} MiB")


def batches(rows: Iterable[dict], blob_bytes, limit: int = STATEMENT_BYTES,
             max_packet: int | None = None, table: str = "", escaped: bool = True) -> Iterator[list[dict]]:
    """Group rows into statements of at most ``limit`` bytes of blob data each; a single row that
    cannot fit the server's packet is an error (:func:`check_row_fits`)."""
    batch: list[dict] = []
    size = 0
    for row in rows:
        n = blob_bytes(row)
        if max_packet is not None:
            check_row_fits(table, n, max_packet, escaped)
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += n
    if batch:
        yield batch


def insert_rows(ctx: EphysContext, table: str, rows, blob_bytes=None) -> int:
    """Insert ``rows`` (an iterable, consumed lazily) in bounded statements; returns the count."""
    target = ctx.table(table)
    packet = ctx.max_packet
    n = 0
    for batch in batches(rows, blob_bytes or (lambda _row: 0), min(STATEMENT_BYTES, packet // 3), packet, table):
        target.insert(batch)
        n += len(batch)
    return n


def prepare_insert(ctx: EphysContext, table: str, names: list[str], rows: int = 1):
    """A prepared ``INSERT`` of ``rows`` rows of the columns ``names`` into the element's ``table``,
    on DataJoint's connection (so in its open transaction)."""
    from brody_assets.db.prepared import PreparedStatement

    one = "(" + ", ".join(["?"] * len(names)) + ")"
    return PreparedStatement(ctx.connection._conn, f"INSERT INTO {ctx.t(table)} "
                             f"({', '.join(f'`{c}`' for c in names)}) VALUES " + ", ".join([one] * rows))


def insert_packed(ctx: EphysContext, table: str, rows, blob_bytes) -> int:
    """Insert rows whose blob columns are already packed (:func:`blobs.pack_numeric`, or a
    ``prepared.Streamed`` of such a blob's pieces) as binary
    parameters of prepared ``INSERT`` statements (:mod:`brody_assets.db.prepared`: the server does
    not lex the blobs as it must in SQL text, ~8x faster), at most ``STATEMENT_BYTES`` of
    blob data each. DataJoint's insert would pack (and try to zlib) them again. Values are str,
    int, float, bytes or UUID (stored as its 16 bytes, as DataJoint does); every row names the
    same columns. Runs in the connection's open transaction."""
    packet = ctx.max_packet
    statements = {}
    n = 0
    try:
        for batch in batches(rows, blob_bytes, min(STATEMENT_BYTES, packet // 3), packet, table, escaped=False):
            names = list(batch[0])
            if len(batch) not in statements:
                statements[len(batch)] = prepare_insert(ctx, table, names, len(batch))
            statements[len(batch)].execute([row[c] for row in batch for c in names])
            n += len(batch)
    finally:
        for statement in statements.values():
            statement.close()
    return n


def blob_len(*names: str):
    return lambda row: sum(len(row[n]) for n in names)


def nbytes(*names: str):
    return lambda row: sum(np.asarray(row[n]).nbytes for n in names if row.get(n) is not None)


@dataclass
class StepResult:
    """What one step did: rows inserted per table (empty when it was a no-op) and facts to show."""

    step: str
    inserted: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None  # why nothing was written (already there, not sorted yet)
    facts: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.inserted.values())


@contextlib.contextmanager
def table_step(ctx: EphysContext, name: str) -> Iterator[StepResult]:
    result = StepResult(name)
    started = time.perf_counter()
    with ctx.connection.transaction:
        yield result
    result.seconds = time.perf_counter() - started


def already(ctx: EphysContext, part: Partition, table: str, result: StepResult) -> bool:
    if count_rows(ctx, table, part.rec_key):
        result.skipped = f"{table} rows of this recording are already there (unchanged: nothing written)"
        return True
    return False


def electrode_map(ctx: EphysContext, rec) -> list[dict]:
    """Electrode keys of the recording's saved neural channels, in file order."""
    by_site = ctx._sites.get(rec.probe_type)
    if by_site is None:
        rows = ctx.query(f"SELECT shank, shank_col, shank_row, electrode FROM {ctx.t('ProbeType.Electrode')} "
                         "WHERE probe_type = %s", (rec.probe_type,))
        if not rows:
            raise RecordingError(rec.ap_meta, f"probe type {rec.probe_type!r} has no electrodes in ProbeType")
        by_site = ctx._sites[rec.probe_type] = {(int(s), int(c), int(r)): int(e) for s, c, r, e in rows}
    out = []
    for channel, (shank, col, row, _used) in enumerate(rec.electrodes):
        electrode = by_site.get((shank, col, row))
        if electrode is None:
            raise RecordingError(rec.ap_meta, f"saved channel {channel} sits at shank {shank}, column {col}, "
                                 f"row {row}: not a site of a {rec.probe_type}")
        out.append({"probe_type": rec.probe_type, "electrode": electrode})
    return out


def electrode_config(keys: list[dict]) -> tuple[uuid.UUID, str]:
    """The element's electrode-config hash and name (e.g. ``0-383``) for these electrode keys."""
    config_hash = dict_to_uuid({k["electrode"]: k for k in keys})
    numbers = sorted(k["electrode"] for k in keys)
    gaps = [-1] + np.where(np.diff(numbers) > 1)[0].tolist() + [len(numbers) - 1]
    name = "; ".join(f"{numbers[a + 1]}-{numbers[b]}" for a, b in zip(gaps[:-1], gaps[1:], strict=True))
    return config_hash, name


def recording_config_hash(ctx: EphysContext, part: Partition) -> uuid.UUID:
    (value,) = select_by_key(ctx, "electrode_config_hash", "EphysRecording", part.rec_key)[0]
    return uuid.UUID(bytes=value) if isinstance(value, bytes) else uuid.UUID(str(value))
