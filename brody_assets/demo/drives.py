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

Variants (``VARIANTS``) are newer or odder inputs that must ingest fine: a ``~snsGeomMap`` meta,
Kilosort 4 folders, a ``params.py`` with comments and ``=`` inside a value. Defects (``DEFECTS``;
one per recording, applied to every probe of it) are broken inputs the ingestion must refuse,
each with the error it must raise (``Defect.error`` and a fragment of its message).

Besides the files, every probe gets its ground truth in the manifest (the measured and the nominal
sample rate, AP/LF µV per bit, the LFP electrode count the element's convention gives, the
planted units with the label a reader must report) and, when a manifest path is given, its spike
trains (AP samples per cluster id) in ``<manifest stem>_ground_truth/<probe>.npz``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np

from brody_assets.demo import kilosort_writer, spikeglx_writer, synthetic_signal
from brody_assets.demo.spikeglx_writer import (
    AP_UV_PER_BIT,
    LF_DECIMATION,
    LF_UV_PER_BIT,
    N_NEURAL,
    N_SAVED,
)

AP_SAMPLE_RATE = 30000.5  # calibrated rate, as the lab's stored recordings show
LF_SAMPLE_RATE = AP_SAMPLE_RATE / LF_DECIMATION
NOMINAL_AP_RATE = 30000  # what params.py says (Kilosort is given the nominal rate)
PROBE_TYPE = "neuropixels 1.0 - 3B"
LFP_ELECTRODES = len(range(N_NEURAL - 1, -1, -9))  # every 9th channel back from the last: 43
LAYOUTS = ("standard", "underscore", "date_only")
OUTSIDE_DIR = "_outside_archive"  # on the cup drive: where the escaping symlink points


@dataclass(frozen=True)
class Defect:
    """A broken input: what is wrong, and the error the readers must raise for it."""

    description: str
    error: str  # "RecordingError" (brody_assets.ephys.spikeglx) or "KilosortError"
    match: str  # a fragment of the message (the file is named too)


VARIANTS = {
    "geom_map": "both .meta files carry ~snsGeomMap (SpikeGLX >= 20230202) instead of "
    "~snsShankMap; must ingest like any other",
    "kilosort4": "Kilosort 4 output: no template_features/template_feature_ind/templates_ind, "
    "cluster_group.tsv is a copy of cluster_KSLabel.tsv (column KSLabel), kilosort4.log and "
    "KS4's extra files, no metrics.csv/mean_waveforms.npy, params.py at the nominal 30000 Hz",
    "kilosort4_phy": "Kilosort 4 exported to phy by spikeinterface: template_ind.npy, no "
    "whitening or template features, every cluster 'unsorted' in cluster_group.tsv (the "
    "reader takes Kilosort's label from cluster_KSLabel.tsv instead)",
    "params_quirks": "params.py with comments, blank lines, '=' inside a string value and a "
    "list literal; spike_times_sec.npy (seconds at the nominal rate) next to spike_times.npy",
}
DEFECTS = {
    "truncated_bin": Defect(
        "each .ap.bin is cut to 3/4 of its frames; fileSizeBytes still states the full size",
        "RecordingError", "shorter than fileSizeBytes"),
    "half_copied": Defect(
        "the .ap.meta (and the LF pair) arrived, the .ap.bin did not",
        "RecordingError", "the .bin is missing"),
    "garbled_meta": Defect(
        "the .ap.meta breaks off after its first lines and continues with NUL bytes",
        "RecordingError", "garbled .meta"),
    "channel_mismatch": Defect(
        "the .ap.meta says nSavedChans=384 while the file and the channel map hold 385",
        "RecordingError", "channel count disagrees"),
    "unknown_probe": Defect(
        "the metas name an NHP probe (imDatPrb_type=1030, NP1030) the element has no type for",
        "RecordingError", "unknown probe type"),
    "missing_ks_file": Defect(
        "spike_times.npy is not written to the Kilosort folder",
        "KilosortError", "required file"),
    "spikes_past_end": Defect(
        "the Kilosort folder's first unit has two spikes after the recording's last sample",
        "KilosortError", "past the end of the recording"),
    "symlink_outside": Defect(
        f"the .ap.bin is a symlink to a file outside the archive drive (cup/{OUTSIDE_DIR}/)",
        "RecordingError", "outside the drive root"),
}  # fmt: skip
# What the demo build gives its behaviour sessions, in order: (probes, layout, variant, defect)
DEMO_PLAN: tuple[tuple[int, str, str | None, str | None], ...] = (
    (1, "standard", None, None),  # the lab's reference layout (A230 2019-08-09)
    (2, "underscore", None, None),  # one session, two probes (P15)
    (1, "date_only", "geom_map", None),
    (1, "standard", "kilosort4", None),
    (1, "underscore", "kilosort4_phy", None),
    (1, "standard", "params_quirks", None),
    *((1, "standard", None, name) for name in DEFECTS),
)
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
    variant: str | None = None

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
        if self.variant is not None and self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r} is not one of {sorted(VARIANTS)}")

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


def demo_plan(sessions: Sequence[tuple[str, str, dt.date]]) -> list[DemoRecording]:
    """One recording per (experimenter, rat, day) of ``sessions``, following ``DEMO_PLAN`` in
    order (fewer sessions, fewer recordings). Each day must hold exactly one behaviour session of
    that rat, so the folders (no day letter) match it unambiguously."""
    return [
        DemoRecording(exp, rat, day, probes=probes, layout=layout, variant=variant, defect=defect)
        for (exp, rat, day), (probes, layout, variant, defect) in zip(
            sessions, DEMO_PLAN, strict=False
        )
    ]


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
    measured and nominal sampling rates, gains, the LFP electrode count, the planted units
    (cluster id, curated, Kilosort and expected label, peak channel, spike count) and, for a
    defect, what it changed and the error expected. ``manifest_path`` gets the same list as JSON
    and the spike trains go to ``<manifest stem>_ground_truth/`` beside it (``ground_truth`` in
    each probe entry: the ``.npz`` path relative to the manifest's folder). Raises
    ``ValueError`` (naming the path) if a root cannot be used, and for duplicate recordings or a
    too-short duration.
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
    truth_dir = None
    if manifest_path is not None:
        manifest_path = Path(manifest_path)
        truth_dir = manifest_path.parent / f"{manifest_path.stem}_ground_truth"
        truth_dir.mkdir(parents=True, exist_ok=True)

    n_ap = LF_DECIMATION * round(duration_s * NOMINAL_AP_RATE / LF_DECIMATION)
    manifest = [_build_one(archive, cup, rec, seed, n_ap, truth_dir) for rec in recordings]
    if manifest_path is not None:
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def load_ground_truth(manifest_path: Path, probe_entry: dict) -> dict[int, np.ndarray]:
    """Spike trains (int64 AP samples, sorted) per cluster id of one probe of the manifest."""
    if not probe_entry.get("ground_truth"):
        raise ValueError("this manifest was built without a manifest path: no ground truth files")
    with np.load(Path(manifest_path).parent / probe_entry["ground_truth"]) as data:
        return {int(cid): data[f"cluster_{int(cid)}"] for cid in data["cluster_ids"]}


def _build_one(
    archive: Path, cup: Path, rec: DemoRecording, seed: int, n_ap: int, truth_dir: Path | None
) -> dict:
    lay = layout_of(rec)
    ident = zlib.crc32(rec.identity.encode())
    created = dt.datetime.combine(rec.date, dt.time(9 + ident % 10, ident // 10 % 60))
    probes, archive_files, cup_files = [], [], []
    for p in range(rec.probes):
        rng = np.random.default_rng([seed, ident, p])
        info = _write_probe(archive, cup, rec, lay, p, rng, n_ap, created, truth_dir)
        archive_files += info.pop("_archive_files")
        cup_files += info.pop("_cup_files")
        probes.append(info)
    defect = DEFECTS.get(rec.defect) if rec.defect else None
    return {
        "experimenter": rec.experimenter,
        "ratname": rec.ratname,
        "date": rec.date.isoformat(),
        "layout": rec.layout,
        "variant": rec.variant,
        "variant_description": VARIANTS.get(rec.variant) if rec.variant else None,
        "defect": rec.defect,
        "defect_description": defect.description if defect else None,
        "expected_error": {"error": defect.error, "match": defect.match} if defect else None,
        "seed": seed,
        "session_dir": lay.session_dir.as_posix(),
        "sorted_session_dir": lay.sorted_session_dir.as_posix(),
        "recording_datetime": created.isoformat(),
        "probes": probes,
        "archive_files": sorted(archive_files),
        "cup_files": sorted(cup_files),
    }


def _garble(path: Path) -> None:
    """Keep the first 8 lines of a meta, then NUL bytes: a copy that broke off."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:8]) + b"\x00" * 512)


def _write_probe(
    archive: Path,
    cup: Path,
    rec: DemoRecording,
    lay: _Layout,
    p: int,
    rng: np.random.Generator,
    n_ap: int,
    created: dt.datetime,
    truth_dir: Path | None,
) -> dict:
    defect, variant = rec.defect, rec.variant
    serial = probe_serial(rec.experimenter, rec.ratname, p)
    n_lf = n_ap // LF_DECIMATION
    probe_rel = lay.probe_dir(p)
    probe_abs = _inside(archive, probe_rel)
    probe_abs.mkdir(parents=True, exist_ok=True)
    stem = lay.stem(p)
    acq_dir = f"D:/SGL_DATA/{lay.run}_g0/{lay.run}_g0_imec{p}"
    archive_files = [
        (probe_rel / f"{stem}.{b}.{e}").as_posix() for b in ("ap", "lf") for e in ("bin", "meta")
    ]
    cup_files: list[str] = []

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
            geom_map=variant == "geom_map",
        )
        if defect == "unknown_probe":
            meta["imDatPrb_type"], meta["imDatPrb_pn"] = "1030", "NP1030"
        if defect == "channel_mismatch" and band == "ap":
            meta["nSavedChans"] = str(N_SAVED - 1)
        spikeglx_writer.write_meta(probe_abs / f"{stem}.{band}.meta", meta)
    ap_bin = probe_abs / f"{stem}.ap.bin"
    ap_bin_rel = (probe_rel / ap_bin.name).as_posix()
    if defect == "truncated_bin":
        kept = (n_ap * 3 // 4) * N_SAVED * 2
        os.truncate(ap_bin, kept)
        defect_detail = {
            "file": ap_bin_rel,
            "meta_file_size_bytes": n_ap * N_SAVED * 2,
            "actual_bytes": kept,
        }
    elif defect == "half_copied":
        ap_bin.unlink()
        archive_files.remove(ap_bin_rel)
        defect_detail = {"file_absent": ap_bin_rel}
    elif defect == "garbled_meta":
        _garble(probe_abs / f"{stem}.ap.meta")
        defect_detail = {"file": (probe_rel / f"{stem}.ap.meta").as_posix()}
    elif defect == "channel_mismatch":
        defect_detail = {"file": (probe_rel / f"{stem}.ap.meta").as_posix(), "nSavedChans": N_SAVED - 1,
                         "channels_in_file": N_SAVED}  # fmt: skip
    elif defect == "unknown_probe":
        defect_detail = {"imDatPrb_type": 1030, "imDatPrb_pn": "NP1030"}
    elif defect == "symlink_outside":
        target_rel = PurePosixPath(OUTSIDE_DIR, probe_rel, ap_bin.name)
        target = _inside(cup, target_rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(ap_bin, target)
        os.symlink(target, ap_bin)
        cup_files.append(target_rel.as_posix())
        defect_detail = {"file": ap_bin_rel, "points_to": f"cup:{target_rel.as_posix()}"}

    ks_rel = kilosort_dir_of(rec, p)
    omit: tuple[str, ...] = ("spike_times.npy",) if defect == "missing_ks_file" else ()
    if omit:
        defect_detail = {"files_absent": list(omit)}
    flavor = {"kilosort4": "ks4", "kilosort4_phy": "ks4_phy"}.get(variant or "", "ks2")
    ks_units = units
    if defect == "spikes_past_end":
        first = units[0]
        late = np.array([n_ap + 30, n_ap + 3000], dtype=np.int64)
        ks_units = [
            replace(first, spike_samples=np.concatenate([first.spike_samples, late]),
                    spike_scales=np.concatenate([first.spike_scales, [1.0, 1.0]])),
            *units[1:],
        ]  # fmt: skip
        defect_detail = {"file": (ks_rel / "spike_times.npy").as_posix(), "cluster_id": first.cluster_id,
                         "late_samples": late.tolist(), "recording_samples": n_ap}  # fmt: skip
    ks_written = kilosort_writer.write_kilosort(
        _inside(cup, ks_rel),
        ks_units,
        n_samples=n_ap,
        sample_rate=AP_SAMPLE_RATE,
        dat_path=f"{stem}.ap.bin",
        flavor=flavor,
        omit=omit,
        params_style="quirks" if variant == "params_quirks" else None,
        with_sec=variant == "params_quirks",
    )
    cup_files += [(ks_rel / f.name).as_posix() for f in ks_written]
    truth_rel = None
    if truth_dir is not None:
        name = f"{rec.experimenter}_{rec.ratname}_{rec.date.isoformat()}_{rec.layout}_imec{p}.npz"
        np.savez(
            truth_dir / name,
            cluster_ids=np.array([u.cluster_id for u in units], dtype=np.int64),
            **{f"cluster_{u.cluster_id}": u.spike_samples.astype(np.int64) for u in units},
        )
        truth_rel = f"{truth_dir.name}/{name}"
    positions = spikeglx_writer.np1_positions()
    return {
        "probe_index": p,
        "serial": serial,
        "probe_type": PROBE_TYPE,
        "raw_dir": probe_rel.as_posix(),
        "ap_bin": ap_bin_rel,
        "ap_meta": (probe_rel / f"{stem}.ap.meta").as_posix(),
        "lf_bin": (probe_rel / f"{stem}.lf.bin").as_posix(),
        "lf_meta": (probe_rel / f"{stem}.lf.meta").as_posix(),
        "kilosort_dir": ks_rel.as_posix(),
        "kilosort_version": "4" if flavor != "ks2" else "2",
        "n_channels": N_SAVED,
        "n_neural_channels": N_NEURAL,
        "lfp_electrodes": LFP_ELECTRODES,
        "ap_samples": n_ap,
        "lf_samples": n_lf,
        "ap_sampling_rate": AP_SAMPLE_RATE,
        "lf_sampling_rate": LF_SAMPLE_RATE,
        "nominal_sampling_rate": NOMINAL_AP_RATE,
        "ap_uv_per_bit": AP_UV_PER_BIT,
        "lf_uv_per_bit": LF_UV_PER_BIT,
        "duration_s": n_ap / AP_SAMPLE_RATE,
        "ground_truth": truth_rel,
        "empty_cluster_id": None
        if flavor == "ks4_phy"
        else kilosort_writer.empty_cluster_id(units),
        "units": [
            {
                "cluster_id": u.cluster_id,
                "label": u.label,
                "ks_label": u.ks_label,
                # what a reader must report: phy's curation, Kilosort's label where phy said
                # 'unsorted' or Kilosort 4 wrote KSLabel into cluster_group.tsv
                "expected_label": u.label if flavor == "ks2" else u.ks_label,
                "peak_channel": u.peak_channel,
                "depth_um": float(positions[u.peak_channel, 1]),
                "amplitude_uv": round(u.amplitude_uv, 3),
                "n_spikes": int(u.spike_samples.size),
            }
            for u in units
        ],
        "defect_detail": defect_detail or None,
        "_archive_files": archive_files,
        "_cup_files": cup_files,
    }
