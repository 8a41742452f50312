"""Step ``lfp``: ``LFP`` + ``LFP.Electrode``. The element's every-9th channel (43 of 384), a
linear-phase FIR and decimation to ``LFP_TARGET_RATE`` (≈ 500 Hz), float32 µV, streamed: the LF file
is read in chunks, the traces gathered in a temporary file and sent to MariaDB from it in pieces, so
memory is set by the chunk, not the recording (README "Ephys storage")."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from brody_assets.ephys.ingest.context import EphysContext, Partition
from brody_assets.ephys.ingest.rows import (
    StepResult,
    already,
    blob_len,
    electrode_map,
    insert_packed,
    recording_config_hash,
    table_step,
)

LFP_TARGET_RATE = 500.0  # Hz stored (the LF band is 2.5 kHz; LFP analyses stay below ~200 Hz)
LFP_FIR_TAPS = 101  # anti-alias FIR at 0.4 x the stored rate, linear phase (no phase shift)
LFP_CHUNK_SECONDS = 2.0  # LF read per step: 2 s x 385 ch x 2 B = 3.9 MB (memory is set by this)
LFP_WRITE_SAMPLES = 8192  # decimated samples gathered before one write per trace (1.4 MB, ~16 s)
BLOB_PIECE_BYTES = 2**20  # a streamed blob is read and sent in pieces of this size


class Decimator:
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
        # input rows not yet used up, in one buffer reused for every chunk (it grows to the largest
        # chunk once): fresh arrays per chunk cost more in page faults than the filter itself
        self.work = np.zeros((self.delay + 1024, channels), dtype=np.float32)
        self.fill = self.delay  # rows of ``work`` holding input (the left zero padding first)
        self.first = 0  # row of ``work`` where the next output's window starts

    def _drain(self) -> np.ndarray:
        taps, channels = self.h_rev.size, self.work.shape[1]
        n = 0 if self.fill < self.first + taps else (self.fill - self.first - taps) // self.q + 1
        if n == 0:
            return np.empty((0, channels), dtype=np.float32)
        # window j is rows first + j·q … first + j·q + taps - 1: a (taps x channels) block that is
        # contiguous in ``work`` (rows are whole frames), so all n windows are one strided view (no
        # copy) and the filter is one stacked (1 x taps) @ (taps x channels) product
        rows, cols = self.work.strides
        windows = as_strided(self.work[self.first:], (n, taps, channels), (self.q * rows, rows, cols),
                             writeable=False)
        out = np.matmul(self.h_rev[None, None, :], windows)[:, 0, :]
        start = self.first + n * self.q  # the next window's first row: what comes before is done
        shift = min(start, self.fill)
        self.work[: self.fill - shift] = self.work[shift: self.fill]
        self.fill -= shift
        self.first = start - shift
        return out

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Filter ``chunk`` (samples x channels, any real dtype: converted to float32); returns the
        outputs it completes (a new array). ``chunk`` is copied: the caller may reuse it."""
        need = self.fill + len(chunk)
        if need > len(self.work):
            grown = np.empty((max(need, 2 * len(self.work)), self.work.shape[1]), dtype=np.float32)
            grown[: self.fill] = self.work[: self.fill]
            self.work = grown
        self.work[self.fill: need] = chunk
        self.fill = need
        return self._drain()

    def flush(self) -> np.ndarray:
        """The outputs centred on the last ``delay`` input samples (zero-padded past the end)."""
        return self.push(np.zeros((self.delay, self.work.shape[1]), dtype=np.float32))


def _chain(blocks, decimator: Decimator) -> Iterator[np.ndarray]:
    yield from blocks
    yield decimator.flush()


def insert_lfp(ctx: EphysContext, part: Partition) -> StepResult:
    """``LFP`` + one ``LFP.Electrode`` row per kept channel, streamed (memory set by the chunk)."""
    from brody_assets.db.prepared import Streamed
    from brody_assets.ephys.blobs import numeric_header
    from brody_assets.ephys.spikeglx import element_lfp_channels, iter_lf_chunks

    rec = part.recording
    with table_step(ctx, "lfp") as result:
        if rec.lf_bin is None:
            result.skipped = f"{rec.ap_meta.name} has no LF file (NP 2.0): no LFP"
            return result
        if already(ctx, part, "LFP", result):
            return result
        channels = element_lfp_channels(rec)
        electrodes = electrode_map(ctx, rec)
        config_hash = recording_config_hash(ctx, part)
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
            decimator = Decimator(q, LFP_FIR_TAPS, channels.size)
            # decimated samples gather in ``block`` (reused) and go out as one write per trace and
            # one for the mean, from ``rows`` (reused): no fresh memory per chunk
            block = np.empty((LFP_WRITE_SAMPLES + chunk // q + 1, channels.size), dtype=np.float32)
            rows = np.empty((channels.size + 1, len(block)), dtype=np.float32)
            written = held = 0

            def flush() -> None:
                nonlocal written, held
                rows[:-1, :held] = block[:held].T
                np.mean(block[:held], axis=1, out=rows[-1, :held])
                for i in range(len(rows)):
                    os.pwrite(fd, rows[i, :held], i * row_bytes + 4 * written)
                written, held = written + held, 0

            lf = iter_lf_chunks(rec, channels, chunk, reuse=True)  # each chunk is copied by push()
            for out in _chain((decimator.push(lf_chunk) for _start, lf_chunk in lf), decimator):
                out = out[: n_out - written - held]
                if held + len(out) > len(block):
                    flush()
                block[held: held + len(out)] = out
                held += len(out)
                if held >= LFP_WRITE_SAMPLES:
                    flush()
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

            result.inserted["LFP"] = insert_packed(ctx, "LFP", [{
                **part.rec_key, "lfp_sampling_rate": rate, "lfp_time_stamps": time_stamps(),
                "lfp_mean": trace(channels.size)}], blob_len("lfp_time_stamps", "lfp_mean"))
            rows = ({**part.rec_key, "electrode_config_hash": config_hash, **electrodes[int(c)],
                     "lfp": trace(i)} for i, c in enumerate(channels))
            result.inserted["LFP.Electrode"] = insert_packed(ctx, "LFP.Electrode", rows, blob_len("lfp"))
        result.facts.update(lfp_electrodes=int(channels.size), lfp_sampling_rate=rate,
                            lfp_samples=n_out, lf_sampling_rate=rec.lf_sample_rate)
    return result
