"""Read and validate one SpikeGLX file set (``<stem>.ap.meta/.ap.bin`` and, when present, ``.lf``).

``read_recording`` parses the ``.meta`` files itself (strictly: a line that is not ``key=value``
is a garbled file, not a line to skip), checks every number the ingestion relies on against the
files on disk, and returns a ``SpikeGLXRecording``. The binary files are never loaded whole:
``iter_lf_chunks`` and ``read_ap_windows`` read bounded blocks with positioned reads, so memory
does not grow with the recording's length (nor does the page cache count against the process,
as it would through a memory map).

Deliberate fixes over element-array-ephys 0.2.11's reader (``shared/spec/ephys.md`` §6.1, §8.5):

- the measured ``imSampRate`` (e.g. 30000.5 Hz) is the recording's rate (P30);
- ``~snsGeomMap`` metas (SpikeGLX >= 20230202) give the electrodes when ``~snsShankMap`` is
  absent (P34);
- a probe without a 3A/3B marker is NP 1.0 3B when ``imDatPrb_type`` is 0 or the part number
  is an NP 1.0 one (``NP10xx``/``NP11xx``/``PRB_1_…``); an unknown type is an error (P34);
- file size = saved channels × samples × 2 = ``fileSizeBytes`` is checked before any read, and
  a symlink leading outside the drive root is refused (the archive drive is only ever read).

Everything wrong raises ``RecordingError(path, problem)`` naming the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brody_assets.ephys.errors import RecordingError

NP1_3A = "neuropixels 1.0 - 3A"
NP1_3B = "neuropixels 1.0 - 3B"
NP_UHD = "neuropixels UHD"
NP2_SS = "neuropixels 2.0 - SS"
NP2_MS = "neuropixels 2.0 - MS"
PROBE_TYPES = (NP1_3A, NP1_3B, NP_UHD, NP2_SS, NP2_MS)  # element-array-ephys 0.2.11's ProbeType
_TYPE_CODES = {0: NP1_3B, 1100: NP_UHD, 21: NP2_SS, 24: NP2_MS}
_NP1_PART = re.compile(r"^(NP1[01]\d\d|PRB_1_\d_\d+_\d(_C)?)$")  # NP1000…NP1199, PRB_1_4_0480_1
_NP2_SS_PART = re.compile(r"^(NP200[0-4]|PRB2_1_\d_\d+_\d)$")
_NP2_MS_PART = re.compile(r"^(NP201\d|PRB2_4_\d_\d+_\d)$")
_IMAX = {NP1_3A: 512, NP1_3B: 512, NP_UHD: 512, NP2_SS: 8192, NP2_MS: 8192}
NP2_GAIN = 80.0
# geometry needed to turn ~snsGeomMap x/z (µm) into the element's (column, row):
# (row pitch, column pitch, x of column 0 on even rows, x of column 0 on odd rows)
_GEOMETRY = {
    NP1_3A: (20.0, 32.0, 27.0, 11.0),
    NP1_3B: (20.0, 32.0, 27.0, 11.0),
    NP2_SS: (15.0, 32.0, 27.0, 27.0),
    NP2_MS: (15.0, 32.0, 27.0, 27.0),
    NP_UHD: (6.0, 6.0, None, None),  # x of column 0 taken from the file's smallest x
}
REQUIRED_KEYS = ("imSampRate", "nSavedChans", "fileSizeBytes", "imAiRangeMax", "~imroTbl")
_STEM = re.compile(r"^(?P<stem>.+?)\.imec(?P<index>\d*)\.(?P<band>ap|lf)\.meta$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, eq=False)
class SpikeGLXRecording:
    """One probe's SpikeGLX file set, validated. Arrays are per saved neural channel, in file order
    (column ``j`` of the ``.bin`` is saved neural channel ``j``; the sync channel comes last)."""

    ap_meta: Path
    ap_bin: Path
    lf_meta: Path | None
    lf_bin: Path | None
    serial: str
    probe_type: str  # element-array-ephys ProbeType name, e.g. "neuropixels 1.0 - 3B"
    probe_part: str | None  # imDatPrb_pn, e.g. "NP1000"; None on 3A-era files
    imec_index: int | None  # P of ``.imecP.``; None for 3A-era ``.imec.`` files
    ap_sample_rate: float  # measured imSampRate of the AP file (e.g. 30000.5)
    lf_sample_rate: float | None
    n_saved_channels: int  # columns of the .bin, sync included
    neural_channels: np.ndarray  # readout channel (0..383 on NP 1.0) of each saved neural channel
    electrodes: list[tuple[int, int, int, int]]  # (shank, col, row, used) per saved neural channel
    ap_uv_per_bit: np.ndarray  # float64 per saved neural channel
    lf_uv_per_bit: np.ndarray | None
    n_samples: int  # AP samples
    lf_n_samples: int | None
    duration_s: float  # n_samples / ap_sample_rate
    recording_datetime: dt.datetime
    file_size_bytes: int  # of the .ap.bin
    meta: dict[str, str]  # the AP meta as read

    @property
    def n_neural_channels(self) -> int:
        return int(self.neural_channels.size)


# ---------------------------------------------------------------- meta parsing


def read_meta(path: Path) -> dict[str, str]:
    """Parse a ``.meta`` file into ``key -> value`` text (``~`` kept in the key).

    Unlike the readers that skip what they cannot split, any non-blank line without ``=`` (or
    with an empty key), a repeated key, NUL bytes or an empty file is a garbled meta. A value may
    contain ``=`` (everything after the first one is the value).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecordingError(path, "the .meta file is missing") from None
    except OSError as exc:
        raise RecordingError(path, f"the .meta file cannot be read: {exc}") from None
    if not raw.strip():
        raise RecordingError(path, "the .meta file is empty (half-copied?)")
    if b"\x00" in raw:
        raise RecordingError(path, "garbled .meta: it contains NUL bytes (binary data, not text)")
    text = raw.decode("utf-8", errors="replace")
    meta: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or not re.fullmatch(r"~?[A-Za-z_][A-Za-z0-9_]*", key):
            raise RecordingError(
                path, f"garbled .meta: line {lineno} is not key=value: {line[:80]!r}"
            )
        if key in meta:
            raise RecordingError(path, f"garbled .meta: key {key!r} appears twice (line {lineno})")
        meta[key] = value.strip()
    return meta


def _number(meta: dict[str, str], key: str, path: Path, kind: type = float):
    if key not in meta:
        raise RecordingError(path, f"the .meta has no {key}")
    try:
        value = kind(meta[key])
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise RecordingError(path, f"{key}={meta[key]!r} is not {what}") from None
    return value


def _tuples(meta: dict[str, str], key: str, path: Path) -> tuple[str, list[str]]:
    """Split a ``(header)(entry)(entry)…`` table into its header and entries."""
    text = meta[key]
    if not (text.startswith("(") and text.endswith(")")):
        raise RecordingError(path, f"{key} is not a (…)(…) table: {text[:60]!r}")
    parts = text[1:-1].split(")(")
    return parts[0], parts[1:]


def probe_type_of(meta: dict[str, str], path: Path) -> str:
    """The element's probe type name for a meta, or ``RecordingError`` for an unknown probe.

    ``imDatPrb_type`` 0 (or absent with an NP 1.0 part number, or no marker at all besides
    ``typeImEnabled``) is NP 1.0 3B; ``typeEnabled``/``imProbeOpt`` without a type is 3A.
    """
    part = meta.get("imDatPrb_pn") or None
    if "imDatPrb_type" in meta:
        code = _number(meta, "imDatPrb_type", path, int)
        if code == 0 and ("typeEnabled" in meta and "typeImEnabled" not in meta):
            return NP1_3A
        if code in _TYPE_CODES:
            return _TYPE_CODES[code]
        raise RecordingError(
            path, f"unknown probe type imDatPrb_type={code} (part number {part or 'absent'})"
        )
    if "imProbeOpt" in meta or "typeEnabled" in meta:
        return NP1_3A
    if part is not None:
        if _NP1_PART.match(part):
            return NP1_3B
        if _NP2_SS_PART.match(part):
            return NP2_SS
        if _NP2_MS_PART.match(part):
            return NP2_MS
        raise RecordingError(path, f"unknown probe type: part number imDatPrb_pn={part!r}")
    if "typeImEnabled" in meta:
        return NP1_3B
    raise RecordingError(
        path, "unknown probe type: no imDatPrb_type, imDatPrb_pn, typeEnabled or typeImEnabled"
    )


@dataclass(frozen=True)
class _Band:
    """What one meta file says about its own ``.bin``."""

    path: Path
    meta: dict[str, str]
    band: str
    sample_rate: float
    n_saved: int
    neural: np.ndarray  # readout channels
    n_sync: int
    file_size_bytes: int
    uv_per_bit: np.ndarray


def _saved_channels(meta: dict[str, str], band: str, path: Path) -> tuple[np.ndarray, int]:
    """Readout channels of the saved neural channels and the number of saved sync channels."""
    if "acqApLfSy" in meta:
        try:
            n_ap, n_lf, n_sy = (int(v) for v in meta["acqApLfSy"].split(","))
        except ValueError:
            raise RecordingError(
                path, f"acqApLfSy={meta['acqApLfSy']!r} is not three counts"
            ) from None
    else:
        _, entries = _tuples(meta, "~imroTbl", path)
        n_ap, n_lf, n_sy = len(entries), len(entries), 1
    subset = meta.get("snsSaveChanSubset", "all").strip()
    if subset == "all":
        first = 0 if band == "ap" else n_ap
        saved = list(range(first, first + (n_ap if band == "ap" else n_lf)))
        saved += list(range(n_ap + n_lf, n_ap + n_lf + n_sy))
    else:
        saved = []
        try:
            for part in subset.split(","):
                lo, _, hi = part.partition(":")
                saved.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise RecordingError(
                path, f"snsSaveChanSubset={subset!r} is not a channel list"
            ) from None
    neural: list[int] = []
    seen: set[int] = set()
    n_sync = 0
    for acq in saved:
        if acq >= n_ap + n_lf:
            n_sync += 1
            continue
        readout = acq if acq < n_ap else acq - n_ap
        if readout not in seen:
            seen.add(readout)
            neural.append(readout)
    return np.asarray(neural, dtype=np.int64), n_sync


def _gains(
    meta: dict[str, str], band: str, probe_type: str, neural: np.ndarray, path: Path
) -> np.ndarray:
    """µV per bit of each saved neural channel: Vmax / Imax / gain × 1e6 (``ephys.md`` §6.1)."""
    vmax = _number(meta, "imAiRangeMax", path)
    imax = _number(meta, "imMaxInt", path, int) if "imMaxInt" in meta else _IMAX[probe_type]
    if probe_type in (NP2_SS, NP2_MS):
        gain = _number(meta, "imChan0apGain", path) if "imChan0apGain" in meta else NP2_GAIN
        gains = np.full(neural.size, gain, dtype=np.float64)
    else:
        _, entries = _tuples(meta, "~imroTbl", path)
        by_channel: dict[int, float] = {}
        column = 3 if band == "ap" else 4
        for entry in entries:
            fields = entry.split()
            try:
                by_channel[int(fields[0])] = float(fields[column])
            except (ValueError, IndexError):
                raise RecordingError(
                    path, f"~imroTbl entry ({entry}) has no {band.upper()} gain"
                ) from None
        missing = [int(c) for c in neural if int(c) not in by_channel]
        if missing:
            raise RecordingError(
                path,
                f"~imroTbl has no entry for saved channel(s) {missing[:5]} "
                f"({len(by_channel)} entries, {neural.size} saved neural channels)",
            )
        gains = np.array([by_channel[int(c)] for c in neural], dtype=np.float64)
    if not np.all(gains > 0) or not vmax > 0 or not imax > 0:
        raise RecordingError(path, f"non-positive gain, imAiRangeMax or Imax ({vmax=}, {imax=})")
    return vmax / imax / gains * 1e6


def _read_band(meta_path: Path, band: str, probe_type: str) -> _Band:
    meta = read_meta(meta_path)
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise RecordingError(meta_path, f"garbled or incomplete .meta: no {key}")
    rate = _number(meta, "imSampRate", meta_path)
    if not 100.0 <= rate <= 1e6:
        raise RecordingError(meta_path, f"imSampRate={rate} Hz is not a plausible sample rate")
    n_saved = _number(meta, "nSavedChans", meta_path, int)
    size = _number(meta, "fileSizeBytes", meta_path, int)
    neural, n_sync = _saved_channels(meta, band, meta_path)
    if neural.size + n_sync != n_saved:
        raise RecordingError(
            meta_path,
            f"channel count disagrees: nSavedChans={n_saved} but snsSaveChanSubset/acqApLfSy "
            f"give {neural.size} neural + {n_sync} sync channels",
        )
    if "snsApLfSy" in meta:
        try:
            ap, lf, sy = (int(v) for v in meta["snsApLfSy"].split(","))
        except ValueError:
            raise RecordingError(
                meta_path, f"snsApLfSy={meta['snsApLfSy']!r} is not three counts"
            ) from None
        if ap + lf + sy != n_saved:
            raise RecordingError(
                meta_path,
                f"channel count disagrees: nSavedChans={n_saved} but snsApLfSy={meta['snsApLfSy']} "
                f"sums to {ap + lf + sy}",
            )
    if "~snsChanMap" in meta:
        _, entries = _tuples(meta, "~snsChanMap", meta_path)
        if len(entries) != n_saved:
            raise RecordingError(
                meta_path,
                f"channel count disagrees: nSavedChans={n_saved} but ~snsChanMap lists "
                f"{len(entries)} channels",
            )
    if size < 0 or size % (2 * n_saved):
        raise RecordingError(
            meta_path,
            f"channel count disagrees with the file: fileSizeBytes={size} is not a whole number "
            f"of {n_saved}-channel int16 samples",
        )
    if "fileTimeSecs" in meta:
        secs = _number(meta, "fileTimeSecs", meta_path)
        n = size // (2 * n_saved)
        if abs(secs * rate - n) > 2.0 + 1e-6 * n:
            raise RecordingError(
                meta_path,
                f"channel count disagrees with the file: {size} bytes / ({n_saved} channels × 2) "
                f"= {n} samples, but fileTimeSecs × imSampRate = {secs * rate:.1f}",
            )
    return _Band(
        path=meta_path,
        meta=meta,
        band=band,
        sample_rate=rate,
        n_saved=n_saved,
        neural=neural,
        n_sync=n_sync,
        file_size_bytes=size,
        uv_per_bit=_gains(meta, band, probe_type, neural, meta_path),
    )


def _electrodes(
    meta: dict[str, str], probe_type: str, n_neural: int, path: Path
) -> list[tuple[int, int, int, int]]:
    """(shank, col, row, used) per saved neural channel from ``~snsShankMap`` or ``~snsGeomMap``."""
    out: list[tuple[int, int, int, int]] = []
    if "~snsShankMap" in meta:
        _, entries = _tuples(meta, "~snsShankMap", path)
        for entry in entries:
            try:
                shank, col, row, used = (int(v) for v in entry.split(":"))
            except ValueError:
                raise RecordingError(
                    path, f"~snsShankMap entry ({entry}) is not shank:col:row:used"
                ) from None
            out.append((shank, col, row, used))
        source = "~snsShankMap"
    elif "~snsGeomMap" in meta:
        _, entries = _tuples(meta, "~snsGeomMap", path)
        geo = []
        for entry in entries:
            try:
                shank, x, z, used = entry.split(":")
                geo.append((int(shank), float(x), float(z), int(used)))
            except ValueError:
                raise RecordingError(
                    path, f"~snsGeomMap entry ({entry}) is not shank:x:z:used"
                ) from None
        row_pitch, col_pitch, x_even, x_odd = _GEOMETRY[probe_type]
        if x_even is None:
            x_even = x_odd = min((g[1] for g in geo), default=0.0)
        for shank, x, z, used in geo:
            row = round(z / row_pitch)
            col = (x - (x_even if row % 2 == 0 else x_odd)) / col_pitch
            if abs(z / row_pitch - row) > 0.05 or abs(col - round(col)) > 0.05 or col < -0.05:
                raise RecordingError(
                    path, f"~snsGeomMap site (x={x:g}, z={z:g}) is not on the {probe_type} grid"
                )
            out.append((shank, int(round(col)), row, used))
        source = "~snsGeomMap"
    else:
        raise RecordingError(
            path, "the .meta has neither ~snsShankMap nor ~snsGeomMap (no geometry)"
        )
    if len(out) != n_neural:
        raise RecordingError(
            path,
            f"channel count disagrees: {source} lists {len(out)} sites for {n_neural} saved "
            "neural channels",
        )
    return out


def _inside_root(path: Path, root: Path) -> None:
    """Refuse a path that is, or passes through, a symlink leading outside the drive root."""
    try:
        target = path.resolve()
    except OSError as exc:  # a symlink loop
        raise RecordingError(path, f"cannot be resolved: {exc}") from None
    if not target.is_relative_to(root):
        raise RecordingError(
            path, f"is a symlink to {target}, outside the drive root {root}; refusing to read it"
        )


def _check_bin(bin_path: Path, band: _Band) -> None:
    try:
        actual = bin_path.stat().st_size
    except FileNotFoundError:
        raise RecordingError(
            bin_path, f"the .bin is missing next to {band.path.name} (half-copied folder?)"
        ) from None
    if actual != band.file_size_bytes:
        how = "shorter" if actual < band.file_size_bytes else "longer"
        raise RecordingError(
            bin_path,
            f"file size {actual} bytes is {how} than fileSizeBytes={band.file_size_bytes} in "
            f"{band.path.name} (truncated, or still being copied)",
        )


def read_recording(ap_meta: Path, archive_root: Path) -> SpikeGLXRecording:
    """Read and validate the file set of ``ap_meta`` (an ``….imecP.ap.meta`` on the archive drive).

    The LF pair is optional (NP 2.0 has none), but half of it is an error. Raises
    ``RecordingError`` naming the file for: a missing or garbled meta, a missing, truncated or
    oversized ``.bin``, channel counts that disagree (with each other or with the file size), an
    unknown probe type, AP and LF metas of different probes, and any of the files reached through
    a symlink that leaves ``archive_root``.
    """
    ap_meta = Path(ap_meta)
    root = Path(archive_root).resolve()
    match = _STEM.match(ap_meta.name)
    if match is None or match["band"] != "ap":
        raise RecordingError(ap_meta, "is not a SpikeGLX '<run>_g<N>_t<M>.imec[P].ap.meta' file")
    stem = ap_meta.name[: -len(".ap.meta")]
    folder = ap_meta.parent
    ap_bin = folder / f"{stem}.ap.bin"
    lf_meta, lf_bin = folder / f"{stem}.lf.meta", folder / f"{stem}.lf.bin"
    for path in (ap_meta, ap_bin, lf_meta, lf_bin):
        if path.exists() or path.is_symlink():
            _inside_root(path, root)
    if not (folder / ap_meta.name).resolve().is_relative_to(root):
        raise RecordingError(ap_meta, f"lies outside the drive root {root}")

    first = read_meta(ap_meta)
    probe_type = probe_type_of(first, ap_meta)
    ap = _read_band(ap_meta, "ap", probe_type)
    _check_bin(ap_bin, ap)
    electrodes = _electrodes(ap.meta, probe_type, ap.neural.size, ap_meta)

    serial = (ap.meta.get("imDatPrb_sn") or ap.meta.get("imProbeSN") or "").strip()
    if not serial:
        raise RecordingError(ap_meta, "the .meta names no probe serial (imDatPrb_sn / imProbeSN)")
    created = ap.meta.get("fileCreateTime_original") or ap.meta.get("fileCreateTime")
    if not created:
        raise RecordingError(ap_meta, "the .meta has no fileCreateTime")
    try:
        recorded = dt.datetime.strptime(created.strip(), _TIME_FORMAT)
    except ValueError:
        raise RecordingError(ap_meta, f"fileCreateTime={created!r} is not {_TIME_FORMAT}") from None

    lf = None
    if lf_meta.exists() or lf_bin.exists():
        if not lf_meta.exists():
            raise RecordingError(lf_meta, f"is missing next to {lf_bin.name} (half-copied folder?)")
        lf = _read_band(lf_meta, "lf", probe_type)
        _check_bin(lf_bin, lf)
        lf_serial = (lf.meta.get("imDatPrb_sn") or lf.meta.get("imProbeSN") or "").strip()
        if lf_serial != serial:
            raise RecordingError(
                lf_meta, f"probe serial {lf_serial!r} differs from the AP meta's {serial!r}"
            )
        if not np.array_equal(lf.neural, ap.neural):
            raise RecordingError(
                lf_meta,
                f"channel count disagrees: saves {lf.neural.size} neural channels, the AP file "
                f"{ap.neural.size} (or a different subset)",
            )

    n_samples = ap.file_size_bytes // (2 * ap.n_saved)
    index = match["index"]
    return SpikeGLXRecording(
        ap_meta=ap_meta,
        ap_bin=ap_bin,
        lf_meta=lf_meta if lf else None,
        lf_bin=lf_bin if lf else None,
        serial=serial,
        probe_type=probe_type,
        probe_part=ap.meta.get("imDatPrb_pn") or None,
        imec_index=int(index) if index else None,
        ap_sample_rate=ap.sample_rate,
        lf_sample_rate=lf.sample_rate if lf else None,
        n_saved_channels=ap.n_saved,
        neural_channels=ap.neural,
        electrodes=electrodes,
        ap_uv_per_bit=ap.uv_per_bit,
        lf_uv_per_bit=lf.uv_per_bit if lf else None,
        n_samples=n_samples,
        lf_n_samples=lf.file_size_bytes // (2 * lf.n_saved) if lf else None,
        duration_s=n_samples / ap.sample_rate,
        recording_datetime=recorded,
        file_size_bytes=ap.file_size_bytes,
        meta=ap.meta,
    )


def element_lfp_channels(rec: SpikeGLXRecording) -> np.ndarray:
    """Saved-channel columns the element keeps for LFP: every 9th, counting back from the last
    (383, 374, …, 5 → 43 channels for 384)."""
    return np.arange(rec.n_neural_channels)[::-1][::9]


def channel_positions(rec: SpikeGLXRecording) -> np.ndarray:
    """(x, y) in µm of each saved neural channel, from probeinterface's SpikeGLX reader (the
    manufacturer's geometry for the part number, sliced by ``~imroTbl`` and the saved subset).

    Imported here, not at module level: probeinterface is slow to import.
    """
    from probeinterface import read_spikeglx

    try:
        probe = read_spikeglx(rec.ap_meta)
    except (AssertionError, KeyError, ValueError) as exc:
        raise RecordingError(
            rec.ap_meta, f"probeinterface cannot build the probe geometry: {exc}"
        ) from None
    positions = np.asarray(probe.contact_positions, dtype=np.float64)
    if positions.shape[0] != rec.n_neural_channels:
        raise RecordingError(
            rec.ap_meta,
            f"channel count disagrees: probeinterface gives {positions.shape[0]} contacts for "
            f"{rec.n_neural_channels} saved neural channels",
        )
    return positions


# ---------------------------------------------------------------- bounded binary reads


def _read_into(fd: int, out: np.ndarray, offset: int, path: Path) -> None:
    """Fill ``out`` (a contiguous array) from ``offset``: into memory read once and reused, not
    into a fresh buffer per chunk (fresh pages cost ~3x the copy itself)."""
    view = memoryview(out).cast("B")
    done = 0
    while done < view.nbytes:
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise RecordingError(path, f"short read at byte {offset + done}: the file shrank while reading")
        done += got


def _advise(fd: int, offset: int, length: int, advice: str) -> None:
    """``posix_fadvise`` where the platform has it (a hint: never an error)."""
    if hasattr(os, advice):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, getattr(os, advice))


def _columns(channel_idx: np.ndarray, n_neural: int, path: Path) -> np.ndarray:
    idx = np.asarray(channel_idx, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n_neural):
        raise ValueError(f"{path}: channel indices must lie in 0..{n_neural - 1}")
    return idx


def iter_lf_chunks(
    rec: SpikeGLXRecording, channel_idx: np.ndarray, chunk_samples: int = 25_000, *, reuse: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first LF sample, float32 µV array chunk × channels)`` over the whole LF file.

    ``channel_idx`` are saved neural channel indices (file columns). Each step reads
    ``chunk_samples`` × saved channels × 2 bytes, so memory is fixed by the chunk, not the file.
    ``reuse=True``: the chunks are written into a few buffers used in turn (no fresh memory per
    chunk), so a chunk is valid only until the next one is asked for.
    """
    if rec.lf_bin is None or rec.lf_uv_per_bit is None or rec.lf_n_samples is None:
        raise RecordingError(rec.ap_meta, "this recording has no LF file")
    if chunk_samples < 1:
        raise ValueError("chunk_samples must be positive")
    cols = _columns(channel_idx, rec.n_neural_channels, rec.lf_bin)
    scale = rec.lf_uv_per_bit[cols].astype(np.float32)
    frame = 2 * rec.n_saved_channels
    pick = _as_slice(cols)  # evenly spaced columns (every 9th for LFP): a view, not a gather
    starts = range(0, rec.lf_n_samples, chunk_samples)
    ring = 3  # chunks read and converted ahead of the caller, each in its own reused buffer
    per = min(chunk_samples, rec.lf_n_samples) * rec.n_saved_channels
    raws = [np.empty(per, dtype="<i2") for _ in range(ring)]
    fd = os.open(rec.lf_bin, os.O_RDONLY)
    # Three stages overlap: a reader thread reads the chunks ahead (the read releases the GIL), a
    # converter thread turns them into float32 µV (numpy releases the GIL), and the caller
    # computes on chunk i. One worker each: reads run in order; raw buffer i % ring is read into
    # again only once chunk i was converted (chunk i + ring is asked for after that).
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lf-read")
    converter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lf-convert")

    def read(i: int) -> np.ndarray:
        n = min(chunk_samples, rec.lf_n_samples - starts[i])
        block = raws[i % ring][: n * rec.n_saved_channels]
        _read_into(fd, block, starts[i] * frame, rec.lf_bin)
        return block.reshape(n, rec.n_saved_channels)

    # with ``reuse``, chunk i + ring is converted (asked for before chunk i is handed out) into the
    # buffer of chunk i - 1, which the caller is done with: ring + 1 buffers
    rows = min(chunk_samples, rec.lf_n_samples)
    outs = [np.empty((rows, cols.size), dtype=np.float32) for _ in range(ring + 1)] if reuse else None

    def convert(i: int, raw) -> np.ndarray:
        block = raw.result()
        out = None if outs is None else outs[i % len(outs)][: len(block)]
        # int16 -> float32 and the gain in one pass (the same numbers as astype, then multiply)
        return np.multiply(block[:, pick], scale, out=out, dtype=np.float32)

    def ask(i: int):
        return converter.submit(convert, i, reader.submit(read, i))

    try:
        # no POSIX_FADV_WILLNEED ahead of the reads: measured, it slowed a cold read ~1.8x here
        _advise(fd, 0, 0, "POSIX_FADV_SEQUENTIAL")
        ahead = [ask(i) for i in range(min(ring, len(starts)))]
        for i, start in enumerate(starts):
            chunk = ahead.pop(0).result()
            if i + ring < len(starts):
                ahead.append(ask(i + ring))
            yield start, chunk
    finally:
        converter.shutdown(wait=True, cancel_futures=True)
        reader.shutdown(wait=True, cancel_futures=True)
        os.close(fd)


def _as_slice(cols: np.ndarray) -> slice | np.ndarray:
    """``cols`` as a slice where they are evenly spaced (any step, either direction), else as they are."""
    if cols.size < 2:
        return cols
    step = int(cols[1] - cols[0])
    if step == 0 or not np.array_equal(np.diff(cols), np.full(cols.size - 1, step)):
        return cols
    stop = int(cols[-1]) + step
    return slice(int(cols[0]), None if stop < 0 else stop, step)


def read_ap_windows(
    rec: SpikeGLXRecording, sample_idx: np.ndarray, channel_idx: np.ndarray, half_width: int = 32
) -> np.ndarray:
    """Float32 µV windows ``(spikes, 2·half_width, channels)`` of the AP band: samples
    ``s - half_width … s + half_width - 1`` around each ``s`` of ``sample_idx``.

    One positioned read per window (``2·half_width`` frames); windows must lie inside the file
    (``ValueError`` otherwise: drop spikes near the ends first).
    """
    samples = np.asarray(sample_idx, dtype=np.int64).ravel()
    cols = _columns(channel_idx, rec.n_neural_channels, rec.ap_bin)
    width = 2 * half_width
    if samples.size and (
        samples.min() - half_width < 0 or samples.max() + half_width > rec.n_samples
    ):
        raise ValueError(
            f"{rec.ap_bin}: windows of ±{half_width} samples around samples "
            f"{samples.min()}..{samples.max()} leave the file (0..{rec.n_samples})"
        )
    out = np.empty((samples.size, width, cols.size), dtype=np.float32)
    frame = 2 * rec.n_saved_channels
    scale = rec.ap_uv_per_bit[cols].astype(np.float32)
    raw = np.empty((width, rec.n_saved_channels), dtype="<i2")  # one window, reused
    fd = os.open(rec.ap_bin, os.O_RDONLY)
    try:
        for i, s in enumerate(samples):
            _read_into(fd, raw, int(s - half_width) * frame, rec.ap_bin)
            out[i] = raw[:, cols]
    finally:
        os.close(fd)
    out *= scale
    return out
