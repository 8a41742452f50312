"""Synthetic archive and cup drives: SpikeGLX recordings and their Kilosort outputs.

``build_demo_drives`` writes, for each ``DemoRecording``, the raw SpikeGLX file sets on the
archive drive and one Kilosort folder per probe on the cup drive, in folder layouts the lab
actually used (``shared/spec/ephys.md`` §2.2–2.3), and returns (and optionally writes as JSON)
a manifest of what it wrote. Everything is deterministic from ``seed`` and each recording's
identity (experimenter, rat, date, layout), so appending a recording never changes the others.

Layouts (``<run>`` is the SpikeGLX run name, ``P`` the probe index):

- ``standard``   archive ``<exp>/<rat>/<rat>_<YYYY-MM-DD>_g0/<run>_g0_imecP/<run>_g0_t0.imecP.{ap,lf}.{bin,meta}``,
                 cup ``<exp>/<rat>/<YYYY-MM-DD>/<run>_g0_imecP/`` (e.g. A230 2019-08-09)
- ``underscore`` archive ``<exp>/<rat>/<rat>_<YYYY_MM_DD>/<rat>_<YYYY_MM_DD>_g0/<run>_g0_imecP/…``,
                 cup ``<exp>/<rat>/<rat>_<YYYY_MM_DD>/<run>_g0_imecP/spikesort_<ts>_ks2jrc/``
                 (A241 2020-01-14 / A256 2020-09-28 style; the probe folder is added so that
                 several probes do not share one sort folder)
- ``date_only``  archive ``<exp>/<rat>/<YYYY-MM-DD>_g0/<YYYY-MM-DD>_g0_imecP/…``,
                 cup ``<exp>/<rat>/<YYYY-MM-DD>/<YYYY-MM-DD>_g0_imecP/`` (A230 2019-07-04)

Defects (one per recording, applied to every probe of it; see ``DEFECTS``) produce files the
real readers reject, for tests of the ingestion's validation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from brody_assets.demo import kilosort_writer, spikeglx_writer, synthetic_signal
from brody_assets.demo.spikeglx_writer import LF_DECIMATION, N_SAVED

AP_SAMPLE_RATE = 30000.5  # calibrated rate, as the lab's stored recordings show
LF_SAMPLE_RATE = AP_SAMPLE_RATE / LF_DECIMATION
NOMINAL_AP_RATE = 30000
PROBE_TYPE = "neuropixels 1.0 - 3B"
LAYOUTS = ("standard", "underscore", "date_only")
DEFECTS = {
    "truncated_bin": "each .ap.bin is cut to 3/4 of its frames; fileSizeBytes still states the full size",
    "missing_shank_map": "both .meta files carry ~snsGeomMap (SpikeGLX >= 20230202) instead of ~snsShankMap",
    "missing_ks_file": "spike_times.npy is not written to the Kilosort folder",
    "ks4_like": "Kilosort 4 output: no template_features/template_feature_ind, cluster_group.tsv "
    "is a copy of cluster_KSLabel.tsv (column KSLabel), no metrics.csv/mean_waveforms.npy",
    "params_blank_line": "params.py holds a blank line",
}
MAX_PROBES = 4
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class DemoRecording:
    """One acquisition session to synthesise: who, which rat, which day, how many probes."""

    experimenter: str
    ratname: str
    date: dt.date
    probes: int = 1
    layout: str = "standard"
    defect: str | None = None

    def __post_init__(self) -> None:
        for field, value in (("experimenter", self.experimenter), ("ratname", self.ratname)):
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(f"{field} {value!r} is not a plain folder name")
        if isinstance(self.date, dt.datetime):  # a DATETIME column: keep the day
            object.__setattr__(self, "date", self.date.date())
        if not isinstance(self.date, dt.date):
            raise ValueError(f"date must be a datetime.date, not {self.date!r}")
        if not 1 <= self.probes <= MAX_PROBES:
            raise ValueError(f"probes must be 1..{MAX_PROBES}, not {self.probes}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {LAYOUTS}")
        if self.defect is not None and self.defect not in DEFECTS:
            raise ValueError(f"defect {self.defect!r} is not one of {sorted(DEFECTS)}")

    @property
    def identity(self) -> str:
        return f"{self.experimenter}/{self.ratname}/{self.date.isoformat()}/{self.layout}"


@dataclass(frozen=True)
class _Layout:
    session_dir: PurePosixPath  # archive-relative folder that holds the probe folders
    sorted_session_dir: PurePosixPath  # cup-relative folder that holds the sort folders
    run: str  # SpikeGLX run name

    def probe_dir(self, p: int) -> PurePosixPath:
        return self.session_dir / f"{self.run}_g0_imec{p}"

    def stem(self, p: int) -> str:
        return f"{self.run}_g0_t0.imec{p}"


def layout_of(rec: DemoRecording) -> _Layout:
    """The archive/cup relative folders of ``rec`` in its layout."""
    base = PurePosixPath(rec.experimenter, rec.ratname)
    iso, us = rec.date.isoformat(), rec.date.strftime("%Y_%m_%d")
    if rec.layout == "standard":
        run = f"{rec.ratname}_{iso}"
        return _Layout(base / f"{run}_g0", base / iso, run)
    if rec.layout == "underscore":
        run = f"{rec.ratname}_{us}"
        return _Layout(base / run / f"{run}_g0", base / run, run)
    return _Layout(base / f"{iso}_g0", base / iso, iso)


def kilosort_dir_of(rec: DemoRecording, p: int) -> PurePosixPath:
    """Cup-relative Kilosort folder of probe ``p`` of ``rec``."""
    lay = layout_of(rec)
    probe_folder = lay.sorted_session_dir / f"{lay.run}_g0_imec{p}"
    if rec.layout == "underscore":
        sorted_on = rec.date + dt.timedelta(days=14)
        return probe_folder / f"spikesort_{sorted_on:%Y_%m_%d}_09_00_00_ks2jrc"
    return probe_folder


def probe_serial(experimenter: str, ratname: str, p: int) -> str:
    """An 11-digit NP 1.0 serial, fixed per (rat, probe index): chronic implants keep their probe."""
    return str(18005000000 + zlib.crc32(f"{experimenter}/{ratname}/imec{p}".encode()) % 1000000)


def _check_root(root: Path | str, what: str) -> Path:
    """Refuse a root that is not a directory we could create or write, before writing anything."""
    path = Path(root).absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} root {path} exists and is not a directory")
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(
            f"{what} root {path} cannot be created or written ({ancestor} is in the way)"
        )
    return path


def _create_root(path: Path, what: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{what} root {path} cannot be created: {exc}") from exc
    return path.resolve()


def _inside(root: Path, rel: PurePosixPath) -> Path:
    full = (root / rel).resolve()
    if not full.is_relative_to(root):
        raise ValueError(f"{full} would lie outside the drive root {root}")
    return full


def build_demo_drives(
    archive_root: Path,
    cup_root: Path,
    recordings: Sequence[DemoRecording],
    seed: int = 0,
    duration_s: float = 1.0,
    manifest_path: Path | None = None,
) -> list[dict]:
    """Write ``recordings`` to the two drives; return one manifest entry per recording.

    Each entry holds the drive-relative paths written, per probe the serial, sample counts,
    sampling rates and planted units (cluster id, curated and Kilosort labels, peak channel,
    spike count), and the defect with what it changed. ``manifest_path`` gets the same list as
    JSON. Raises ``ValueError`` (naming the path) if a root cannot be used, and for duplicate
    recordings or a too-short duration.
    """
    if not 0.05 <= duration_s <= 600:
        raise ValueError(f"duration_s must be between 0.05 and 600 s, not {duration_s}")
    archive, cup = _check_root(archive_root, "archive"), _check_root(cup_root, "cup")
    seen: dict[PurePosixPath, DemoRecording] = {}
    for rec in recordings:
        key = layout_of(rec).session_dir
        if key in seen:
            raise ValueError(f"recordings {seen[key]} and {rec} both write {key}")
        seen[key] = rec
    archive, cup = _create_root(archive, "archive"), _create_root(cup, "cup")

    n_ap = LF_DECIMATION * round(duration_s * NOMINAL_AP_RATE / LF_DECIMATION)
    manifest = [_build_one(archive, cup, rec, seed, n_ap) for rec in recordings]
    if manifest_path is not None:
        Path(manifest_path).parent.mkdir(parents=True, exist_ok=True)
        Path(manifest_path).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _build_one(archive: Path, cup: Path, rec: DemoRecording, seed: int, n_ap: int) -> dict:
    lay = layout_of(rec)
    ident = zlib.crc32(rec.identity.encode())
    created = dt.datetime.combine(rec.date, dt.time(9 + ident % 10, ident // 10 % 60))
    probes, archive_files, cup_files = [], [], []
    for p in range(rec.probes):
        rng = np.random.default_rng([seed, ident, p])
        info = _write_probe(archive, cup, rec, lay, p, rng, n_ap, created)
        archive_files += info.pop("_archive_files")
        cup_files += info.pop("_cup_files")
        probes.append(info)
    return {
        "experimenter": rec.experimenter,
        "ratname": rec.ratname,
        "date": rec.date.isoformat(),
        "layout": rec.layout,
        "defect": rec.defect,
        "defect_description": DEFECTS.get(rec.defect) if rec.defect else None,
        "seed": seed,
        "session_dir": lay.session_dir.as_posix(),
        "sorted_session_dir": lay.sorted_session_dir.as_posix(),
        "recording_datetime": created.isoformat(),
        "probes": probes,
        "archive_files": sorted(archive_files),
        "cup_files": sorted(cup_files),
    }


def _write_probe(
    archive: Path,
    cup: Path,
    rec: DemoRecording,
    lay: _Layout,
    p: int,
    rng: np.random.Generator,
    n_ap: int,
    created: dt.datetime,
) -> dict:
    defect = rec.defect
    serial = probe_serial(rec.experimenter, rec.ratname, p)
    n_lf = n_ap // LF_DECIMATION
    probe_rel = lay.probe_dir(p)
    probe_abs = _inside(archive, probe_rel)
    probe_abs.mkdir(parents=True, exist_ok=True)
    stem = lay.stem(p)
    acq_dir = f"D:/SGL_DATA/{lay.run}_g0/{lay.run}_g0_imec{p}"

    units = synthetic_signal.make_units(rng, n_ap, AP_SAMPLE_RATE)
    ap = synthetic_signal.ap_traces(rng, n_ap, units)
    lf = synthetic_signal.lf_traces(rng, n_ap, LF_SAMPLE_RATE)
    defect_detail: dict = {}
    for band, data, rate, n in (("ap", ap, AP_SAMPLE_RATE, n_ap), ("lf", lf, LF_SAMPLE_RATE, n_lf)):
        bin_path = probe_abs / f"{stem}.{band}.bin"
        spikeglx_writer.write_bin(bin_path, data, spikeglx_writer.sync_trace(n, rate))
        meta = spikeglx_writer.build_meta(
            band=band,
            file_name=f"{acq_dir}/{stem}.{band}.bin",
            n_samples=n,
            sample_rate=rate,
            serial=serial,
            probe_index=p,
            created=created,
            geom_map=defect == "missing_shank_map",
        )
        spikeglx_writer.write_meta(probe_abs / f"{stem}.{band}.meta", meta)
    if defect == "truncated_bin":
        ap_bin = probe_abs / f"{stem}.ap.bin"
        kept = (n_ap * 3 // 4) * N_SAVED * 2
        os.truncate(ap_bin, kept)
        defect_detail = {
            "file": (probe_rel / ap_bin.name).as_posix(),
            "meta_file_size_bytes": n_ap * N_SAVED * 2,
            "actual_bytes": kept,
        }
    elif defect == "missing_shank_map":
        defect_detail = {"meta_key_absent": "~snsShankMap", "meta_key_present": "~snsGeomMap"}

    ks_rel = kilosort_dir_of(rec, p)
    omit: tuple[str, ...] = ()
    if defect == "missing_ks_file":
        omit = ("spike_times.npy",)
    elif defect == "ks4_like":
        omit = ("template_features.npy", "template_feature_ind.npy")
    if omit:
        defect_detail = {"files_absent": list(omit)}
    if defect == "params_blank_line":
        defect_detail = {"file": (ks_rel / "params.py").as_posix()}
    ks_written = kilosort_writer.write_kilosort(
        _inside(cup, ks_rel),
        units,
        n_samples=n_ap,
        sample_rate=AP_SAMPLE_RATE,
        dat_path=f"{stem}.ap.bin",
        omit=omit,
        params_blank_line=defect == "params_blank_line",
        with_metrics=defect != "ks4_like",
        ks4_cluster_group=defect == "ks4_like",
    )
    positions = spikeglx_writer.np1_positions()
    return {
        "probe_index": p,
        "serial": serial,
        "probe_type": PROBE_TYPE,
        "raw_dir": probe_rel.as_posix(),
        "ap_bin": (probe_rel / f"{stem}.ap.bin").as_posix(),
        "ap_meta": (probe_rel / f"{stem}.ap.meta").as_posix(),
        "lf_bin": (probe_rel / f"{stem}.lf.bin").as_posix(),
        "lf_meta": (probe_rel / f"{stem}.lf.meta").as_posix(),
        "kilosort_dir": ks_rel.as_posix(),
        "n_channels": N_SAVED,
        "ap_samples": n_ap,
        "lf_samples": n_lf,
        "ap_sampling_rate": AP_SAMPLE_RATE,
        "lf_sampling_rate": LF_SAMPLE_RATE,
        "duration_s": n_ap / AP_SAMPLE_RATE,
        "units": [
            {
                "cluster_id": u.cluster_id,
                "label": u.label,
                "ks_label": u.ks_label,
                "peak_channel": u.peak_channel,
                "depth_um": float(positions[u.peak_channel, 1]),
                "amplitude_uv": round(u.amplitude_uv, 3),
                "n_spikes": int(u.spike_samples.size),
            }
            for u in units
        ],
        "defect_detail": defect_detail or None,
        "_archive_files": [
            (probe_rel / f"{stem}.{b}.{e}").as_posix()
            for b in ("ap", "lf")
            for e in ("bin", "meta")
        ],
        "_cup_files": [(ks_rel / f.name).as_posix() for f in ks_written],
    }
