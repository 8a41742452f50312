"""The ephys ingestion engine (no Dagster): one SpikeGLX file set (one partition) -> the element's tables.

Per partition: **fetch** (match the folder to its behaviour session, read and validate the SpikeGLX
file set and its Kilosort folder — nothing is written before all of it passed), **compute**, and
**insert** each table's rows for exactly this partition's keys in one transaction per table step:

=====================  ===================================================================================
step                   tables (element 0.2.11 ``ephys_chronic`` / ``probe`` under ``<prefix>ephys*``)
=====================  ===================================================================================
``probe_insertion``    ``Probe`` (if new), ``ProbeInsertion`` (rat, ``imec<P>`` index — P21)
``ephys_recording``    ``EphysSession``, ``ElectrodeConfig`` (if new), ``EphysRecording`` + ``EphysFile``
``lfp``                ``LFP`` + ``LFP.Electrode``
``clustering``         ``ClusteringParamSet`` (if new), ``ClusteringTask`` (``load``), ``Clustering``
``curated_clustering`` ``Curation`` (exactly one per clustering, P27), ``CuratedClustering`` + ``Unit``
``waveform_set``       ``WaveformSet`` + ``PeakWaveform`` + ``Waveform``
``quality_metrics``    ``QualityMetrics`` + ``Cluster`` + ``Waveform``
=====================  ===================================================================================

The element's own ``make()`` methods are not called where 0.2.11 is wrong (spec §8.5): rows are
computed here with the right numbers — spike times from samples ÷ the **measured** AP rate (P29,
P30), parameters read from the output folder's ``params.py`` (P28), metrics from the curation
folder keyed by cluster id (P32), ``~snsGeomMap`` metas and Kilosort 4 folders (P34, P35).

Sizes (P37, README "Ephys storage"): LFP keeps the element's every-9th channel (43 of 384), filtered
(linear-phase FIR) and decimated to ``LFP_TARGET_RATE`` (≈ 500 Hz), float32, streamed through a
temporary file so memory is set by the chunk, not the recording; waveforms are means on the peak
channel and its ``WAVEFORM_NEIGHBOURS`` nearest channels, from at most ``WAVEFORM_SPIKES`` spikes
per unit (``waveforms`` NULL). Blob rows go to MariaDB in statements of at most
``STATEMENT_BYTES``.

Re-running a partition is a no-op for every table that already holds its rows
(``replace=True`` deletes the partition's rows first: a clean replace). A probe insertion whose
serial changed is an error naming both serials (P23), never hidden.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from brody_assets.config import ConfigError, Settings
from brody_assets.ephys.element import EphysSchemas, ensure_element, processed_root
from brody_assets.ephys.errors import EphysInputError, KilosortError, RecordingError
from brody_assets.ephys.partitions import meta_path_of

if TYPE_CHECKING:  # the readers load numpy/pandas arrays; imported where used
    from brody_assets.ephys.kilosort import KilosortOutput
    from brody_assets.ephys.matching import RecordingMatch
    from brody_assets.ephys.spikeglx import SpikeGLXRecording

LFP_TARGET_RATE = 500.0  # Hz stored (the LF band is 2.5 kHz; LFP analyses stay below ~200 Hz)
LFP_FIR_TAPS = 101  # anti-alias FIR at 0.4 x the stored rate, linear phase (no phase shift)
LFP_CHUNK_SECONDS = 2.0  # LF read per step: 2 s x 385 ch x 2 B = 3.9 MB (memory is set by this)
LFP_WRITE_SAMPLES = 8192  # decimated samples gathered before one write per trace (1.4 MB, ~16 s)
BLOB_PIECE_BYTES = 2**20  # a streamed blob is read and sent in pieces of this size
WAVEFORM_SPIKES = 200  # spikes averaged per unit at most (deterministic sample)
WAVEFORM_HALF_WIDTH = 32  # samples each side (64 samples = 2.1 ms at 30 kHz, as the element)
WAVEFORM_NEIGHBOURS = 12  # channels nearest the peak channel, stored besides it
STATEMENT_BYTES = 4 * 2**20  # one INSERT carries at most this much blob data (MariaDB takes LFP
# rows fastest in statements of 2-8 MiB: ~70 MB/s here, against ~45 MB/s in one 50-MB statement)
PRESENCE_BIN_S = 60.0  # presence-ratio bin (spikeinterface's default), shortened for short recordings

STEPS = ("probe_insertion", "ephys_recording", "lfp", "clustering", "curated_clustering",
         "waveform_set", "quality_metrics")
# tables each step owns for one partition, children first (deletion order)
OWNED: dict[str, tuple[str, ...]] = {
    "quality_metrics": ("QualityMetrics.Waveform", "QualityMetrics.Cluster", "QualityMetrics"),
    "waveform_set": ("WaveformSet.Waveform", "WaveformSet.PeakWaveform", "WaveformSet"),
    "curated_clustering": ("CuratedClustering.Unit", "CuratedClustering", "Curation"),
    "clustering": ("Clustering", "ClusteringTask"),
    "lfp": ("LFP.Electrode", "LFP"),
    "ephys_recording": ("EphysRecording.EphysFile", "EphysRecording"),
}
_METRIC_RENAMES = {"isi_viol": "isi_violation", "num_viol": "number_violation",
                   "contam_rate": "contamination_rate"}
_CLUSTER_METRICS = ("firing_rate", "snr", "presence_ratio", "isi_violation", "number_violation",
                    "amplitude_cutoff", "isolation_distance", "l_ratio", "d_prime", "nn_hit_rate",
                    "nn_miss_rate", "silhouette_score", "max_drift", "cumulative_drift",
                    "contamination_rate")
_WAVEFORM_METRICS = ("amplitude", "duration", "halfwidth", "pt_ratio", "repolarization_slope",
                     "recovery_slope", "spread", "velocity_above", "velocity_below")
_IMEC_DIR = re.compile(r"_imec\d+$")


class ProbeChangedError(EphysInputError):
    """A recording's probe serial differs from the one already inserted for that rat and insertion."""


# --- context ----------------------------------------------------------------------------------------


@dataclass
class EphysContext:
    """What one run needs: the DataJoint connection, schema names, drive roots, session lookup."""

    settings: Settings
    connection: object  # datajoint.Connection
    schemas: EphysSchemas
    _lookup: object | None = field(default=None, repr=False)
    _lookup_conn: object | None = field(default=None, repr=False)
    _tables: dict = field(default_factory=dict, repr=False)
    _sites: dict = field(default_factory=dict, repr=False)
    _max_packet: int | None = field(default=None, repr=False)  # probe type -> {(shank, col, row): electrode}

    @property
    def archive_root(self) -> Path:
        return _drive(self.settings.archive_root, "archive")

    @property
    def cup_root(self) -> Path:
        return _drive(self.settings.cup_root, "cup")

    @property
    def lookup(self):
        if self._lookup is None:
            import pymysql

            from brody_assets.ephys.matching import SessionLookup

            db = self.settings.database
            self._lookup_conn = pymysql.connect(host=db.host, port=db.port, user=db.user,
                                                password=db.password.reveal(), autocommit=True,
                                                **db.tls_options())
            self._lookup = SessionLookup.from_connection(self._lookup_conn, self.settings.new_prefix)
        return self._lookup

    def close(self) -> None:
        """Close the session-lookup connection (the DataJoint connection belongs to its owner)."""
        if self._lookup_conn is not None:
            self._lookup_conn.close()
            self._lookup_conn = self._lookup = None

    def table(self, name: str):
        """The element's table ``name`` as a ``dj.FreeTable`` (heading read once per context)."""
        import datajoint as dj

        if name not in self._tables:
            self._tables[name] = dj.FreeTable(self.connection, self.schemas.table(name).replace("`", ""))
        return self._tables[name]

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return list(self.connection.query(sql, args=args).fetchall())

    def t(self, name: str) -> str:
        return self.schemas.table(name)

    @property
    def max_packet(self) -> int:
        """The server's ``max_allowed_packet`` (bytes), read once."""
        if self._max_packet is None:
            self._max_packet = int(self.query("SELECT @@max_allowed_packet")[0][0])
        return self._max_packet


def _drive(root: Path | None, name: str) -> Path:
    if root is None:
        raise ConfigError(
            f"the {name} drive is not configured: set 'custom.ephys_root_data_dir' in "
            "dj_local_conf.json to [archive drive, cup drive]"
        )
    if not Path(root).is_dir():
        raise ConfigError(f"the {name} drive root {root} does not exist or is not a folder (not mounted?)")
    return Path(root)


def open_context(settings: Settings, connection=None) -> EphysContext:
    """Declare the element if needed (child process) and open a DataJoint connection."""
    import datajoint as dj

    schemas = ensure_element(settings)
    if connection is None:
        dj.config.update(settings.datajoint_config())
        connection = dj.Connection(
            host=settings.database.host, user=settings.database.user,
            password=settings.database.password.reveal(), port=settings.database.port,
            use_tls=settings.database.use_tls,
        )
    dj.config["enable_python_native_blobs"] = True  # ClusteringParamSet.params is a dict
    return EphysContext(settings, connection, schemas)


# --- fetch and validate: nothing is written before this passed ---------------------------------------


@dataclass(frozen=True)
class Partition:
    """One validated partition: its session match, recording and (when sorted) Kilosort output."""

    key: str
    match: RecordingMatch
    recording: SpikeGLXRecording
    kilosort: KilosortOutput | None  # None: not sorted yet
    kilosort_rel: str | None  # Kilosort folder relative to the cup's NP_sorted folder

    @property
    def rec_key(self) -> dict:
        """The primary key of ``EphysRecording`` for this partition."""
        return {"ratname": self.match.ratname, "sessid": int(self.match.sessid),
                "run": self.match.run, "insertion_number": int(self.match.insertion_number)}

    @property
    def meta_rel(self) -> str:
        return str(meta_path_of(self.key))

    @property
    def session_dir(self) -> str:
        raw = PurePosixPath(self.match.raw_dir)
        return str(raw.parent if _IMEC_DIR.search(raw.name) else raw)


def prepare(ctx: EphysContext, key: str, *, with_kilosort: bool = True) -> Partition:
    """Match, read and validate partition ``key``. Raises ``EphysInputError`` (naming the file) or
    ``matching.UnmatchedRecording``; writes nothing."""
    from brody_assets.ephys.kilosort import read_kilosort
    from brody_assets.ephys.matching import find_kilosort_folder, match_recording
    from brody_assets.ephys.spikeglx import read_recording

    archive, cup = ctx.archive_root, ctx.cup_root
    match = match_recording(key, ctx.lookup)
    recording = read_recording(archive / meta_path_of(key), archive)
    if recording.imec_index is not None and recording.imec_index != match.insertion_number:
        raise RecordingError(recording.ap_meta, f"file index imec{recording.imec_index} disagrees with "
                             f"its folder's insertion number {match.insertion_number}")
    kilosort = kilosort_rel = None
    if with_kilosort:
        folder = find_kilosort_folder(match, cup)
        if folder is not None:
            kilosort = read_kilosort(folder, cup)
            kilosort.validate_against(recording)
            _validate_clusters(kilosort)
            kilosort_rel = Path(folder).resolve().relative_to(processed_root(cup).resolve()).as_posix()
    return Partition(key, match, recording, kilosort, kilosort_rel)


def _validate_clusters(ks) -> None:
    """Cluster ids agree across spike_clusters / labels / templates (the units are the labelled
    clusters that own spikes; every spike's template exists)."""
    templates = np.asarray(ks.spike_templates)
    if templates.size and int(templates.max()) >= ks.templates.shape[0]:
        raise KilosortError(ks.folder / "spike_templates.npy",
                            f"template {int(templates.max())} does not exist (templates.npy holds "
                            f"{ks.templates.shape[0]})")
    owned = set(np.unique(np.asarray(ks.spike_clusters)).tolist())
    unlabelled = sorted(owned - set(ks.labels))
    if unlabelled:
        raise KilosortError(ks.label_file, f"cluster(s) {unlabelled[:10]} own spikes in spike_clusters.npy "
                            "but have no label")


# --- helpers ------------------------------------------------------------------------------------------


def dict_to_uuid(key: dict) -> uuid.UUID:
    """element-interface's hash: MD5 over ``str(k)``, ``str(v)`` in key order, as a UUID."""
    hashed = hashlib.md5()
    for k, v in sorted(key.items()):
        hashed.update(str(k).encode())
        hashed.update(str(v).encode())
    return uuid.UUID(hex=hashed.hexdigest())


def _where(key: dict) -> tuple[str, tuple]:
    names = sorted(key)
    return " AND ".join(f"`{n}` = %s" for n in names), tuple(key[n] for n in names)


def _count(ctx: EphysContext, table: str, key: dict) -> int:
    where, args = _where(key)
    return int(ctx.query(f"SELECT COUNT(*) FROM {ctx.t(table)} WHERE {where}", args)[0][0])


class PacketTooSmall(RuntimeError):
    """One row is larger than the server's ``max_allowed_packet`` allows."""


def _batches(rows: Iterable[dict], blob_bytes, limit: int = STATEMENT_BYTES,
             max_packet: int | None = None, table: str = "", escaped: bool = True) -> Iterator[list[dict]]:
    """Group rows into statements of at most ``limit`` bytes of blob data each. A single row that
    cannot fit the server's packet is an error that says how far to raise ``max_allowed_packet``:
    blob bytes count twice in SQL text (``escaped``: escaped at worst to twice their size), once
    as prepared-statement parameters."""
    batch: list[dict] = []
    size = 0
    for row in rows:
        n = blob_bytes(row)
        need = (2 if escaped else 1) * n + 4096
        if max_packet is not None and need > max_packet:
            raise PacketTooSmall(
                f"one {table} row holds {n / 2**20:.1f} MiB of blob data; the server's max_allowed_packet "
                f"is {max_packet / 2**20:.0f} MiB: raise it to at least {need / 2**20:.0f} MiB")
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += n
    if batch:
        yield batch


def _insert(ctx: EphysContext, table: str, rows, blob_bytes=None) -> int:
    """Insert ``rows`` (an iterable, consumed lazily) in bounded statements; returns the count."""
    target = ctx.table(table)
    packet = ctx.max_packet
    n = 0
    for batch in _batches(rows, blob_bytes or (lambda _row: 0), min(STATEMENT_BYTES, packet // 3), packet, table):
        target.insert(batch)
        n += len(batch)
    return n


def _insert_packed(ctx: EphysContext, table: str, rows, blob_bytes) -> int:
    """Insert rows whose blob columns are already packed (:func:`blobs.pack_numeric`, or a
    ``prepared.Streamed`` of such a blob's pieces) as binary
    parameters of prepared ``INSERT`` statements (:mod:`brody_assets.db.prepared`: the server does
    not lex the blobs as it must in SQL text, ~3x faster for LFP), at most ``STATEMENT_BYTES`` of
    blob data each. DataJoint's insert would pack (and try to zlib) them again. Values are str,
    int, float, bytes or UUID (stored as its 16 bytes, as DataJoint does); every row names the
    same columns. Runs in the connection's open transaction."""
    from brody_assets.db.prepared import PreparedStatement

    packet = ctx.max_packet
    conn = ctx.connection._conn  # DataJoint's PyMySQL connection: the same transaction
    statements: dict[int, PreparedStatement] = {}
    n = 0
    try:
        for batch in _batches(rows, blob_bytes, min(STATEMENT_BYTES, packet // 3), packet, table, escaped=False):
            names = list(batch[0])
            if len(batch) not in statements:
                one = "(" + ", ".join(["?"] * len(names)) + ")"
                statements[len(batch)] = PreparedStatement(conn, (
                    f"INSERT INTO {ctx.t(table)} ({', '.join(f'`{c}`' for c in names)}) VALUES "
                    + ", ".join([one] * len(batch))))
            statements[len(batch)].execute([row[c] for row in batch for c in names])
            n += len(batch)
    finally:
        for statement in statements.values():
            statement.close()
    return n


def _blob_len(*names: str):
    return lambda row: sum(len(row[n]) for n in names)


def _nbytes(*names: str):
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
def _step(ctx: EphysContext, name: str) -> Iterator[StepResult]:
    result = StepResult(name)
    started = time.perf_counter()
    with ctx.connection.transaction:
        yield result
    result.seconds = time.perf_counter() - started


def _already(ctx: EphysContext, part: Partition, table: str, result: StepResult) -> bool:
    if _count(ctx, table, part.rec_key):
        result.skipped = f"{table} rows of this recording are already there (unchanged: nothing written)"
        return True
    return False


def _electrode_map(ctx: EphysContext, rec) -> list[dict]:
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


def _config_hash(ctx: EphysContext, part: Partition) -> uuid.UUID:
    (value,) = ctx.query(f"SELECT electrode_config_hash FROM {ctx.t('EphysRecording')} WHERE "
                         + _where(part.rec_key)[0], _where(part.rec_key)[1])[0]
    return uuid.UUID(bytes=value) if isinstance(value, bytes) else uuid.UUID(str(value))


# --- steps --------------------------------------------------------------------------------------------


def insert_probe_insertion(ctx: EphysContext, part: Partition) -> StepResult:
    """``Probe`` (if new) and ``ProbeInsertion`` (rat, imec index). A different serial already
    inserted for this rat and insertion is an error naming both (P23)."""
    rec, m = part.recording, part.match
    with _step(ctx, "probe_insertion") as result:
        known = ctx.query(f"SELECT probe_type FROM {ctx.t('Probe')} WHERE probe = %s", (rec.serial,))
        if known and known[0][0] != rec.probe_type:
            raise ProbeChangedError(rec.ap_meta, f"probe {rec.serial} is a {rec.probe_type} here but "
                                    f"{known[0][0]!r} in the Probe table")
        if not known:
            result.inserted["Probe"] = _insert(ctx, "Probe", [{"probe": rec.serial, "probe_type": rec.probe_type,
                                                               "probe_comment": f"first seen in {part.meta_rel}"}])
        insertion = {"ratname": m.ratname, "insertion_number": int(m.insertion_number)}
        have = ctx.query(f"SELECT probe FROM {ctx.t('ProbeInsertion')} WHERE ratname = %s AND "
                         "insertion_number = %s", (m.ratname, int(m.insertion_number)))
        if have and have[0][0] != rec.serial:
            raise ProbeChangedError(
                rec.ap_meta,
                f"rat {m.ratname} insertion {m.insertion_number} (imec{m.insertion_number}) holds probe "
                f"{have[0][0]} in ProbeInsertion, but this recording's probe serial is {rec.serial}: "
                "a changed probe is a new implant — record it under a new insertion number by hand",
            )
        if have:
            result.skipped = f"insertion {m.insertion_number} of {m.ratname} with probe {rec.serial} is already there"
        else:
            result.inserted["ProbeInsertion"] = _insert(ctx, "ProbeInsertion", [{**insertion, "probe": rec.serial}])
        result.facts.update(probe_serial=rec.serial, probe_type=rec.probe_type,
                            insertion_number=int(m.insertion_number))
    return result


def insert_ephys_recording(ctx: EphysContext, part: Partition) -> StepResult:
    """``EphysSession``, the electrode config and ``EphysRecording`` + ``EphysFile``."""
    rec, m = part.recording, part.match
    with _step(ctx, "ephys_recording") as result:
        result.facts.update(sampling_rate=rec.ap_sample_rate, duration_s=rec.duration_s,
                            n_channels=rec.n_saved_channels, electrodes=len(rec.electrodes))
        files = ctx.query(f"SELECT file_path FROM {ctx.t('EphysRecording.EphysFile')} WHERE "
                          + _where(part.rec_key)[0], _where(part.rec_key)[1])
        if files:
            if files[0][0] != part.meta_rel:
                raise RecordingError(rec.ap_meta, f"run {m.run} probe {m.insertion_number} of session {m.sessid} "
                                     f"is already ingested from {files[0][0]}: a second file set (trigger) of "
                                     "the same run and probe is not supported")
            result.skipped = "EphysRecording of this recording is already there (unchanged: nothing written)"
            return result
        session = {"ratname": m.ratname, "sessid": int(m.sessid), "run": m.run}
        have = ctx.query(f"SELECT session_dir FROM {ctx.t('EphysSession')} WHERE " + _where(session)[0],
                         _where(session)[1])
        if not have:
            result.inserted["EphysSession"] = _insert(ctx, "EphysSession", [{**session, "session_dir": part.session_dir}])
        keys = _electrode_map(ctx, rec)
        config_hash, name = electrode_config(keys)
        if not ctx.query(f"SELECT 1 FROM {ctx.t('ElectrodeConfig')} WHERE electrode_config_hash = %s",
                         (config_hash.bytes,)):
            result.inserted["ElectrodeConfig"] = _insert(ctx, "ElectrodeConfig", [{
                "electrode_config_hash": config_hash, "probe_type": rec.probe_type, "electrode_config_name": name}])
            result.inserted["ElectrodeConfig.Electrode"] = _insert(
                ctx, "ElectrodeConfig.Electrode", ({"electrode_config_hash": config_hash, **k} for k in keys))
        result.inserted["EphysRecording"] = _insert(ctx, "EphysRecording", [{
            **part.rec_key, "electrode_config_hash": config_hash, "acq_software": "SpikeGLX",
            "sampling_rate": rec.ap_sample_rate, "recording_datetime": rec.recording_datetime,
            "recording_duration": rec.duration_s}])
        result.inserted["EphysRecording.EphysFile"] = _insert(
            ctx, "EphysRecording.EphysFile", [{**part.rec_key, "file_path": part.meta_rel}])
        result.facts["electrode_config"] = f"{config_hash} ({name})"
    return result


class _Decimator:
    """Streaming linear-phase FIR low-pass + decimation by ``q``, exact across chunk boundaries.

    Output sample ``j`` is the filter centred on input sample ``j·q`` (the input zero-padded by
    half the filter at both ends): ``y[j] = Σ_k h[k]·x[j·q + D - k]``, ``D = (taps - 1) / 2``.
    Only the kept outputs are computed (``1/q`` of the work of filtering every sample),
    so stored LFP sample ``j`` lies at ``j·q / rate`` seconds with no phase shift.
    """

    def __init__(self, q: int, taps: int, channels: int) -> None:
        from scipy.signal import firwin

        self.q = q
        h = firwin(taps, 0.8 / q).astype(np.float32) if q > 1 else np.ones(1, np.float32)
        self.h_rev = np.ascontiguousarray(h[::-1])
        self.delay = (len(h) - 1) // 2
        self.buf = np.zeros((self.delay, channels), dtype=np.float32)  # the left zero padding
        self.start = 0  # index (in the padded input) of buf[0]
        self.next_out = 0  # next output sample j

    def _drain(self) -> np.ndarray:
        taps = self.h_rev.size
        first = self.next_out * self.q - self.start
        n = 0 if self.buf.shape[0] < first + taps else (self.buf.shape[0] - first - taps) // self.q + 1
        if n == 0:
            return np.empty((0, self.buf.shape[1]), dtype=np.float32)
        # window j is input rows first + j·q … first + j·q + taps - 1: a (taps x channels) block
        # that is contiguous in ``buf`` (rows are whole frames), so all n windows are one strided
        # view (no copy) and the filter is one stacked (1 x taps) @ (taps x channels) product
        rows, cols = self.buf.strides
        windows = as_strided(self.buf[first:], (n, taps, self.buf.shape[1]), (self.q * rows, rows, cols),
                             writeable=False)
        out = np.matmul(self.h_rev[None, None, :], windows)[:, 0, :]
        self.next_out += n
        drop = self.next_out * self.q - self.start
        self.buf = self.buf[drop:]
        self.start += drop
        return out

    def push(self, chunk: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.asarray(chunk, dtype=np.float32)])
        return self._drain()

    def flush(self) -> np.ndarray:
        """The outputs centred on the last ``delay`` input samples (zero-padded past the end)."""
        return self.push(np.zeros((self.delay, self.buf.shape[1]), dtype=np.float32))


def _chain(blocks, decimator: _Decimator) -> Iterator[np.ndarray]:
    yield from blocks
    yield decimator.flush()


def insert_lfp(ctx: EphysContext, part: Partition) -> StepResult:
    """``LFP`` + one ``LFP.Electrode`` row per kept channel, streamed (memory set by the chunk)."""
    from brody_assets.db.prepared import Streamed
    from brody_assets.ephys.blobs import numeric_header
    from brody_assets.ephys.spikeglx import element_lfp_channels, iter_lf_chunks

    rec = part.recording
    with _step(ctx, "lfp") as result:
        if rec.lf_bin is None:
            result.skipped = f"{rec.ap_meta.name} has no LF file (NP 2.0): no LFP"
            return result
        if _already(ctx, part, "LFP", result):
            return result
        channels = element_lfp_channels(rec)
        electrodes = _electrode_map(ctx, rec)
        config_hash = _config_hash(ctx, part)
        q = max(1, int(round(rec.lf_sample_rate / LFP_TARGET_RATE)))
        rate = rec.lf_sample_rate / q
        n_out = -(-rec.lf_n_samples // q)
        chunk = max(q, int(LFP_CHUNK_SECONDS * rec.lf_sample_rate) // q * q)
        # the traces go into a temporary file (one row per electrode, then the mean), written and
        # read back with pwrite/pread, not a memory map: mapped pages would count in this process's
        # memory and grow with the recording (52 MB per 10 minutes); page-cache pages do not. The
        # rows go to MariaDB streamed from that file piece by piece (prepared.Streamed), so no
        # row is ever whole in this process either (a 3-hour electrode row is 22 MB)
        row_bytes = 4 * n_out
        with tempfile.TemporaryFile(prefix="brody_lfp_") as tmp:
            fd = tmp.fileno()
            decimator = _Decimator(q, LFP_FIR_TAPS, channels.size)
            written, pending = 0, []

            def flush() -> None:  # the pending samples: one write per trace and one for the mean
                nonlocal written
                out = np.concatenate(pending)
                pending.clear()
                rows = np.empty((channels.size + 1, len(out)), dtype=np.float32)
                rows[:-1] = out.T
                rows[-1] = out.mean(axis=1)
                for i, row in enumerate(rows):
                    os.pwrite(fd, row, i * row_bytes + 4 * written)
                written += len(out)

            taken = 0
            blocks = (decimator.push(block) for _start, block in iter_lf_chunks(rec, channels, chunk))
            for out in _chain(blocks, decimator):
                out = out[: n_out - taken]
                taken += len(out)
                if len(out):
                    pending.append(out)
                if taken - written >= LFP_WRITE_SAMPLES:
                    flush()
            if pending:
                flush()
            if written != n_out:
                raise RuntimeError(f"LFP decimation produced {written} samples, expected {n_out}")

            trace_header = numeric_header(np.float32, (n_out,))

            def trace(i: int) -> Streamed:
                def pieces() -> Iterator[bytes]:
                    yield trace_header
                    for offset in range(0, row_bytes, BLOB_PIECE_BYTES):
                        size = min(BLOB_PIECE_BYTES, row_bytes - offset)
                        data = os.pread(fd, size, i * row_bytes + offset)
                        if len(data) != size:
                            raise RuntimeError(f"LFP temporary file: short read of row {i}")
                        yield data
                return Streamed(pieces(), len(trace_header) + row_bytes)

            def time_stamps() -> Streamed:  # sample j at j·q / rate seconds, float64
                header, step = numeric_header(np.float64, (n_out,)), BLOB_PIECE_BYTES // 8
                pieces = (np.arange(a, min(n_out, a + step), dtype=np.float64) * (q / rec.lf_sample_rate)
                          for a in range(0, n_out, step))
                return Streamed(itertools.chain([header], pieces), len(header) + 8 * n_out)

            result.inserted["LFP"] = _insert_packed(ctx, "LFP", [{
                **part.rec_key, "lfp_sampling_rate": rate, "lfp_time_stamps": time_stamps(),
                "lfp_mean": trace(channels.size)}], _blob_len("lfp_time_stamps", "lfp_mean"))
            rows = ({**part.rec_key, "electrode_config_hash": config_hash, **electrodes[int(c)],
                     "lfp": trace(i)} for i, c in enumerate(channels))
            result.inserted["LFP.Electrode"] = _insert_packed(ctx, "LFP.Electrode", rows, _blob_len("lfp"))
        result.facts.update(lfp_electrodes=int(channels.size), lfp_sampling_rate=rate,
                            lfp_samples=n_out, lf_sampling_rate=rec.lf_sample_rate)
    return result


def _paramset(ctx: EphysContext, ks) -> tuple[int, dict]:
    """The ``ClusteringParamSet`` of this folder's ``params.py`` (P28): found by the element's hash,
    or registered under the next free index. ``dat_path`` (names one file) is left out."""
    method = ks.clustering_method
    params = {k: v for k, v in ks.params.items() if k != "dat_path"}
    param_hash = dict_to_uuid({**params, "clustering_method": method})
    found = ctx.query(f"SELECT paramset_idx FROM {ctx.t('ClusteringParamSet')} WHERE param_set_hash = %s",
                      (param_hash.bytes,))
    if found:
        return int(found[0][0]), {}
    (top,) = ctx.query(f"SELECT COALESCE(MAX(paramset_idx), -1) FROM {ctx.t('ClusteringParamSet')} FOR UPDATE")[0]
    idx = int(top) + 1
    desc = f"{method}, params.py of {ks.folder.name}"[:128]
    _insert(ctx, "ClusteringParamSet", [{"paramset_idx": idx, "clustering_method": method,
                                         "paramset_desc": desc, "param_set_hash": param_hash,
                                         "params": params}])
    return idx, {"ClusteringParamSet": 1}


def _not_sorted(part: Partition, result: StepResult) -> bool:
    if part.kilosort is None:
        result.skipped = "no Kilosort output for this recording on the cup drive yet"
        return True
    return False


def _folder_time(folder: Path, names: Iterable[str]) -> dt.datetime:
    """Newest modification time of these files (kept by copies that preserve times, unlike ctime — P36)."""
    times = [(folder / n).stat().st_mtime for n in names if (folder / n).exists()]
    return dt.datetime.fromtimestamp(max(times)).replace(microsecond=0)


def _clustering_key(ctx: EphysContext, part: Partition) -> dict | None:
    where, args = _where(part.rec_key)
    rows = ctx.query(f"SELECT paramset_idx FROM {ctx.t('Clustering')} WHERE {where}", args)
    if len(rows) > 1:
        raise RuntimeError(f"{part.key}: {len(rows)} clusterings; expected one per recording")
    return {**part.rec_key, "paramset_idx": int(rows[0][0])} if rows else None


def _curation_key(ctx: EphysContext, part: Partition, after: tuple[str, str]) -> dict:
    """The key of the partition's one curation (id 1 of its one clustering, P27), once the table
    ``after[0]`` holds the partition's row; else an error naming the asset ``after[1]`` to
    materialize first."""
    table, asset = after
    clustering = _clustering_key(ctx, part)
    if clustering is None or (table != "Clustering" and not _count(ctx, table, part.rec_key)):
        raise RuntimeError(f"{part.key}: no {table} row yet; materialize ephys/{asset} first")
    return {**clustering, "curation_id": 1}


def insert_clustering(ctx: EphysContext, part: Partition) -> StepResult:
    """``ClusteringParamSet`` (if new), ``ClusteringTask`` (``load``) and ``Clustering``."""
    with _step(ctx, "clustering") as result:
        if _not_sorted(part, result) or _already(ctx, part, "Clustering", result):
            return result
        ks = part.kilosort
        lock = f"brody_ephys_paramset:{ctx.settings.new_prefix}"[:64]
        ctx.query("SELECT GET_LOCK(%s, 60)", (lock,))
        try:
            idx, inserted = _paramset(ctx, ks)
        finally:
            ctx.query("SELECT RELEASE_LOCK(%s)", (lock,))
        result.inserted.update(inserted)
        key = {**part.rec_key, "paramset_idx": idx}
        result.inserted["ClusteringTask"] = _insert(ctx, "ClusteringTask", [{
            **key, "clustering_output_dir": part.kilosort_rel, "task_mode": "load"}])
        result.inserted["Clustering"] = _insert(ctx, "Clustering", [{
            **key, "clustering_time": _folder_time(ks.folder, ("spike_times.npy", "params.py")),
            "package_version": ks.clustering_method[:16]}])
        result.facts.update(clustering_method=ks.clustering_method, paramset_idx=idx,
                            kilosort_folder=part.kilosort_rel)
    return result


def _manual_curation(folder: Path) -> bool:
    log = folder / "phy.log"
    if not log.exists():
        return False
    text = log.read_text(errors="replace")
    return any(marker in text for marker in ("Merge clusters", "Split cluster", "Change metadata_group"))


def _curation_note(ks) -> str:
    """Where the labels came from, and which clusters had no curated label (phy's ``unsorted``)."""
    note = f"labels from {ks.label_file.name} (column {ks.label_column})"
    unsorted = sorted(set(getattr(ks, "remapped_unsorted", ())) | set(getattr(ks, "unlisted_clusters", ())))
    if unsorted:
        note += (f"; {len(unsorted)} cluster(s) not curated (phy 'unsorted' or unlisted), labelled by "
                 f"Kilosort's own label or mua: {', '.join(map(str, unsorted[:50]))}")
    return note[:2000]


@dataclass(frozen=True)
class UnitTable:
    """Per-unit facts computed once from a Kilosort folder (one sort of the spikes, no per-unit
    scans of the whole spike list): ``spikes_of(i)`` are the spike indices of unit ``ids[i]``."""

    ids: np.ndarray
    peak_channel: np.ndarray  # saved neural channel of each unit's peak (its main template)
    template_peak: np.ndarray  # saved neural channel of each template's peak
    order: np.ndarray  # spike indices sorted by cluster (stable: time order kept within a unit)
    starts: np.ndarray
    stops: np.ndarray

    def spikes_of(self, i: int) -> np.ndarray:
        return self.order[self.starts[i]:self.stops[i]]


def unit_table(ks) -> UnitTable:
    templates = np.asarray(ks.templates)
    chan_map = np.asarray(ks.channel_map).ravel().astype(np.int64)
    template_peak = chan_map[np.abs(templates).max(axis=1).argmax(axis=1)]
    ids = ks.cluster_ids
    clusters = np.asarray(ks.spike_clusters).ravel()
    spike_templates = np.asarray(ks.spike_templates).ravel().astype(np.int64)
    order = np.argsort(clusters, kind="stable")
    ordered = clusters[order]
    starts, stops = np.searchsorted(ordered, ids, side="left"), np.searchsorted(ordered, ids, side="right")
    peak = np.empty(ids.size, dtype=np.int64)
    for i in range(ids.size):  # the unit's most frequent template
        counts = np.bincount(spike_templates[order[starts[i]:stops[i]]])
        peak[i] = template_peak[int(counts.argmax())]
    return UnitTable(ids, peak, template_peak, order, starts, stops)


def insert_curated_clustering(ctx: EphysContext, part: Partition) -> StepResult:
    """One ``Curation`` (id 1) per clustering (P27), ``CuratedClustering`` and its ``Unit`` rows:
    spike times = Kilosort samples ÷ the measured AP rate (P29, P30)."""
    rec = part.recording
    with _step(ctx, "curated_clustering") as result:
        if _not_sorted(part, result) or _already(ctx, part, "Curation", result):
            return result
        key = _curation_key(ctx, part, after=("Clustering", "clustering"))
        ks = part.kilosort
        result.inserted["Curation"] = _insert(ctx, "Curation", [{
            **key, "curation_time": _folder_time(ks.folder, (ks.label_file.name, "phy.log")),
            "curation_output_dir": part.kilosort_rel, "quality_control": ks.metrics is not None,
            "manual_curation": _manual_curation(ks.folder),
            "curation_note": _curation_note(ks)}])
        result.inserted["CuratedClustering"] = _insert(ctx, "CuratedClustering", [key])
        electrodes = _electrode_map(ctx, rec)
        config_hash = _config_hash(ctx, part)
        table = unit_table(ks)
        times = ks.spike_times_s(rec.ap_sample_rate)
        sites = np.array([e["electrode"] for e in electrodes], dtype=np.int64)
        spike_templates = np.asarray(ks.spike_templates).ravel()
        y = _channel_y(ks, rec)

        def rows():
            for i, unit in enumerate(table.ids):
                idx = table.spikes_of(i)
                spike_chan = table.template_peak[spike_templates[idx]]
                yield {**key, "unit": int(unit), "electrode_config_hash": config_hash,
                       **electrodes[int(table.peak_channel[i])],
                       "cluster_quality_label": ks.labels[int(unit)], "spike_count": int(idx.size),
                       "spike_times": times[idx], "spike_sites": sites[spike_chan],
                       "spike_depths": y[spike_chan]}

        result.inserted["CuratedClustering.Unit"] = _insert(
            ctx, "CuratedClustering.Unit", rows(), _nbytes("spike_times", "spike_sites", "spike_depths"))
        labels = [ks.labels[int(u)] for u in table.ids]
        result.facts.update(units=int(table.ids.size), spikes=int((table.stops - table.starts).sum()),
                            labels={lab: labels.count(lab) for lab in sorted(set(labels))},
                            remapped_unsorted=len(ks.remapped_unsorted))
    return result


def _channel_y(ks, rec) -> np.ndarray:
    """Depth (µm along the probe) of each saved neural channel, from Kilosort's channel positions."""
    y = np.full(rec.n_neural_channels, np.nan)
    y[np.asarray(ks.channel_map).ravel().astype(np.int64)] = np.asarray(ks.channel_positions)[:, 1]
    return y


def _neighbours(ks, rec, peak: int) -> np.ndarray:
    """The peak channel and its ``WAVEFORM_NEIGHBOURS`` nearest channels (by probe position)."""
    chan_map = np.asarray(ks.channel_map).ravel().astype(np.int64)
    pos = np.asarray(ks.channel_positions, dtype=np.float64)
    where = np.flatnonzero(chan_map == peak)
    if not where.size:
        return np.array([peak])
    d = np.hypot(*(pos - pos[where[0]]).T)
    return chan_map[np.argsort(d, kind="stable")[: WAVEFORM_NEIGHBOURS + 1]]


def insert_waveform_set(ctx: EphysContext, part: Partition) -> StepResult:
    """Mean waveforms (µV, float32) of each unit on its peak channel and nearest neighbours, from at
    most ``WAVEFORM_SPIKES`` spikes read in bounded windows of the AP file (or from the folder's
    ``mean_waveforms.npy`` by cluster id when present, P32). ``waveforms`` stays NULL."""
    from brody_assets.ephys.spikeglx import read_ap_windows

    rec = part.recording
    with _step(ctx, "waveform_set") as result:
        if _not_sorted(part, result) or _already(ctx, part, "WaveformSet", result):
            return result
        key = _curation_key(ctx, part, after=("CuratedClustering", "curated_clustering"))
        ks = part.kilosort
        electrodes = _electrode_map(ctx, rec)
        config_hash = _config_hash(ctx, part)
        table = unit_table(ks)
        samples = np.asarray(ks.spike_samples).ravel()
        h = WAVEFORM_HALF_WIDTH
        means: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        source = "raw"
        for i, unit in enumerate(table.ids):
            chans = _neighbours(ks, rec, int(table.peak_channel[i]))
            stored = ks.mean_waveform_of(int(unit))
            if stored is not None:  # (channels, samples) over Kilosort channels
                chan_map = np.asarray(ks.channel_map).ravel().astype(np.int64)
                rows = [int(np.flatnonzero(chan_map == c)[0]) for c in chans]
                means[int(unit)] = (chans, np.asarray(stored, dtype=np.float32)[rows])
                source = "mean_waveforms.npy"
                continue
            s = samples[table.spikes_of(i)]
            s = s[(s >= h) & (s + h <= rec.n_samples)]
            if s.size > WAVEFORM_SPIKES:
                s = np.sort(np.random.default_rng(int(unit)).choice(s, WAVEFORM_SPIKES, replace=False))
            if not s.size:
                continue
            mean = np.zeros((2 * h, chans.size), dtype=np.float64)
            for start in range(0, s.size, 50):  # 50 windows at a time
                mean += read_ap_windows(rec, s[start:start + 50], chans, h).sum(axis=0)
            means[int(unit)] = (chans, (mean / s.size).T.astype(np.float32))
        result.inserted["WaveformSet"] = _insert(ctx, "WaveformSet", [key])
        result.inserted["WaveformSet.PeakWaveform"] = _insert(ctx, "WaveformSet.PeakWaveform", (
            {**key, "unit": u, "peak_electrode_waveform": w[0]} for u, (_c, w) in means.items()),
            _nbytes("peak_electrode_waveform"))
        result.inserted["WaveformSet.Waveform"] = _insert(ctx, "WaveformSet.Waveform", (
            {**key, "unit": u, "electrode_config_hash": config_hash, **electrodes[int(c)], "waveform_mean": w[j]}
            for u, (chans, w) in means.items() for j, c in enumerate(chans)), _nbytes("waveform_mean"))
        missing = sorted(set(table.ids.tolist()) - set(means))
        result.facts.update(units_with_waveform=len(means), units_without_spikes_inside=missing,
                            waveform_source=source, channels_per_unit=WAVEFORM_NEIGHBOURS + 1)
    return result


def _finite(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _waveform_shape(w: np.ndarray, rate: float) -> dict:
    """Amplitude (µV, peak to trough) and duration (ms, trough to following peak) of a mean waveform."""
    w = np.asarray(w, dtype=np.float64)
    trough = int(w.argmin())
    peak = trough + int(w[trough:].argmax())
    return {"amplitude": float(w.max() - w.min()), "duration": (peak - trough) / rate * 1e3}


def insert_quality_metrics(ctx: EphysContext, part: Partition) -> StepResult:
    """``QualityMetrics`` from the curation folder's ``metrics.csv`` keyed by cluster id (P32), else
    computed with spikeinterface's metric functions (firing rate, presence ratio, ISI violations,
    amplitude cut-off); waveform amplitude/duration from the stored peak waveforms."""
    rec = part.recording
    with _step(ctx, "quality_metrics") as result:
        if _not_sorted(part, result) or _already(ctx, part, "QualityMetrics", result):
            return result
        key = _curation_key(ctx, part, after=("WaveformSet", "waveform_set"))
        ks = part.kilosort
        ids = ks.cluster_ids
        if ks.metrics is not None:
            frame = ks.metrics.rename(columns=lambda c: _METRIC_RENAMES.get(str(c).lower(), str(c).lower()))
            absent = [int(u) for u in ids if int(u) not in frame.index]
            if absent:
                raise KilosortError(ks.folder / "metrics.csv", f"no row for unit(s) {absent[:10]}")
            cluster = {int(u): {m: _finite(frame.at[int(u), m]) for m in _CLUSTER_METRICS if m in frame.columns}
                       for u in ids}
            source = "metrics.csv"
        else:
            cluster = computed_metrics(ks, rec)
            source = "spikeinterface"
        wave_rows = ctx.query(f"SELECT unit, peak_electrode_waveform FROM {ctx.t('WaveformSet.PeakWaveform')} "
                              "WHERE " + _where(part.rec_key)[0], _where(part.rec_key)[1])
        from datajoint.blob import unpack

        peak_waves = {int(u): unpack(b) for u, b in wave_rows}
        result.inserted["QualityMetrics"] = _insert(ctx, "QualityMetrics", [key])
        result.inserted["QualityMetrics.Cluster"] = _insert(ctx, "QualityMetrics.Cluster", (
            {**key, "unit": int(u), **{k: v for k, v in cluster[int(u)].items() if v is not None}} for u in ids))
        wave = []
        for u in ids:
            row = {}
            if ks.metrics is not None and "amplitude" in frame.columns and "duration" in frame.columns:
                row = {m: _finite(frame.at[int(u), m]) for m in _WAVEFORM_METRICS if m in frame.columns}
            if (row.get("amplitude") is None or row.get("duration") is None) and int(u) in peak_waves:
                row.update(_waveform_shape(peak_waves[int(u)], rec.ap_sample_rate))
            if row.get("amplitude") is not None and row.get("duration") is not None:
                wave.append({**key, "unit": int(u), **{k: v for k, v in row.items() if v is not None}})
        result.inserted["QualityMetrics.Waveform"] = _insert(ctx, "QualityMetrics.Waveform", wave)
        result.facts.update(metrics_source=source, units=int(ids.size))
    return result


def computed_metrics(ks, rec) -> dict[int, dict]:
    """Firing rate, presence ratio, ISI violations and amplitude cut-off per unit, with
    spikeinterface's own metric functions on the sorting (spikes in samples at the measured rate)."""
    from spikeinterface.metrics.quality.misc_metrics import (
        amplitude_cutoff,
        isi_violations,
        presence_ratio,
    )

    duration = rec.duration_s
    bin_s = min(PRESENCE_BIN_S, duration / 10)
    edges = np.arange(0, rec.n_samples + 1, max(1, int(bin_s * rec.ap_sample_rate)))
    samples = np.asarray(ks.spike_samples).ravel()
    amps = np.asarray(ks.amplitudes).ravel()
    table = unit_table(ks)
    out = {}
    for i, unit in enumerate(table.ids):
        mask = table.spikes_of(i)
        train = np.sort(samples[mask])
        ratio, _rate, count = isi_violations([train / rec.ap_sample_rate], duration)
        out[int(unit)] = {
            "firing_rate": train.size / duration,
            "presence_ratio": _finite(presence_ratio(train, bin_edges=edges)),
            "isi_violation": _finite(ratio),
            "number_violation": int(count) if _finite(count) is not None else None,
            "amplitude_cutoff": _finite(amplitude_cutoff(amps[mask])),
        }
    return out


STEP_FUNCTIONS = {
    "probe_insertion": insert_probe_insertion,
    "ephys_recording": insert_ephys_recording,
    "lfp": insert_lfp,
    "clustering": insert_clustering,
    "curated_clustering": insert_curated_clustering,
    "waveform_set": insert_waveform_set,
    "quality_metrics": insert_quality_metrics,
}


def delete_partition(ctx: EphysContext, part_or_key: Partition | dict, steps: Iterable[str] = STEPS) -> int:
    """Delete this partition's rows of the owned tables (children first); shared rows (probes,
    insertions, sessions, electrode configs, parameter sets) stay. Returns the rows deleted."""
    key = part_or_key.rec_key if isinstance(part_or_key, Partition) else part_or_key
    where, args = _where(key)
    wanted = set(steps)
    deleted = 0
    with ctx.connection.transaction:
        for step in ("quality_metrics", "waveform_set", "curated_clustering", "clustering", "lfp",
                     "ephys_recording"):
            if step in wanted:
                for table in OWNED[step]:
                    deleted += ctx.connection.query(f"DELETE FROM {ctx.t(table)} WHERE {where}", args=args).rowcount
    return deleted


@dataclass
class IngestReport:
    key: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def inserted(self) -> int:
        return sum(s.rows for s in self.steps)


def ingest_partition(ctx: EphysContext, key: str, *, replace: bool = False) -> IngestReport:
    """Every step for one partition. Bad input fails in :func:`prepare`, before any row is written;
    a failure in a later step removes this partition's rows again, so nothing partial remains."""
    part = prepare(ctx, key)
    if replace:
        delete_partition(ctx, part)
    report = IngestReport(key)
    existed = _count(ctx, "EphysRecording", part.rec_key) > 0
    try:
        for step in STEPS:
            report.steps.append(STEP_FUNCTIONS[step](ctx, part))
    except BaseException:
        if not existed:
            delete_partition(ctx, part)
        raise
    return report


def stored_bytes(ctx: EphysContext, part: Partition) -> dict[str, int]:
    """Bytes of blob data this partition holds per table (what it costs in MariaDB)."""
    blobs = {"LFP": ("lfp_time_stamps", "lfp_mean"), "LFP.Electrode": ("lfp",),
             "CuratedClustering.Unit": ("spike_times", "spike_sites", "spike_depths"),
             "WaveformSet.PeakWaveform": ("peak_electrode_waveform",),
             "WaveformSet.Waveform": ("waveform_mean", "waveforms")}
    where, args = _where(part.rec_key)
    out = {}
    for table, columns in blobs.items():
        total = " + ".join(f"COALESCE(SUM(LENGTH(`{c}`)), 0)" for c in columns)
        out[table] = int(ctx.query(f"SELECT {total} FROM {ctx.t(table)} WHERE {where}", args)[0][0])
    return out


def _rows_count(ctx: EphysContext, table: str, rec_key: dict) -> int:
    """Rows of ``table`` that belong to this recording."""
    return _count(ctx, table, rec_key)


def partition_rows(ctx: EphysContext, part: Partition, step: str) -> int:
    """Rows this partition holds in the tables ``step`` owns (``dagster/row_count``)."""
    if step == "probe_insertion":
        return _count(ctx, "ProbeInsertion", {"ratname": part.match.ratname,
                                              "insertion_number": int(part.match.insertion_number)})
    return sum(_count(ctx, table, part.rec_key) for table in OWNED.get(step, ()))
