"""Read and validate one Kilosort / phy output folder on the cup drive.

``read_kilosort`` checks the folder against a manifest of required files that depends on the
Kilosort version (``detect_version``: 2/2.5/3 share one file set, Kilosort 4 another), parses
``params.py`` as Python, reads the cluster labels and opens every array as a read-only memory
map. Deliberate fixes over element-array-ephys 0.2.11's reader (``shared/spec/ephys.md`` §6.3,
§6.4, §8.5), each in one place below:

- P29/P30 ``KilosortOutput.spike_times_s(rate)``: spike *samples* divided once, by the rate the
  caller gives (the recording's measured ``imSampRate``), never by ``params.py``'s nominal rate;
  ``spike_times_sec*.npy`` (already seconds) are exposed as they are, never divided again;
- P31 ``parse_params``: ``params.py`` parsed with ``ast`` (blank lines, comments, ``=`` inside
  strings, Python literals);
- P32 ``metrics.csv`` and ``mean_waveforms.npy`` read from this folder, the metrics keyed by
  ``cluster_id`` and the mean waveforms paired with cluster ids by id (the rows follow the
  sorted unique ids of ``spike_clusters.npy``, as ecephys_spike_sorting writes them);
- P34 labels: ``unsorted`` (phy's "not yet curated") becomes Kilosort's own label for that
  cluster from ``cluster_KSLabel.tsv``, or ``mua`` when there is none — never silently ``good``;
  any other label outside good/ok/mua/noise is an error naming the file and cluster;
- P35 Kilosort 4: no ``template_features``/``template_feature_ind``, a ``KSLabel`` column in
  ``cluster_group.tsv``, ``template_ind.npy`` spelled without the "s", no whitening matrices.

Everything wrong raises ``KilosortError(path, problem)`` naming the file.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from brody_assets.ephys.errors import KilosortError

if TYPE_CHECKING:
    from brody_assets.ephys.spikeglx import SpikeGLXRecording

KS2 = "2"  # Kilosort 2, 2.5 and 3 (same output files)
KS4 = "4"
KNOWN_LABELS = ("good", "ok", "mua", "noise")
UNSORTED_FALLBACK = "mua"  # label of an `unsorted` cluster when Kilosort gave none
COMMON_REQUIRED = (
    "params.py",
    "spike_times.npy",
    "spike_clusters.npy",
    "spike_templates.npy",
    "templates.npy",
    "amplitudes.npy",
    "channel_map.npy",
    "channel_positions.npy",
)
# what Kilosort 2/2.5/3 (rezToPhy) always writes, as element-array-ephys 0.2.11 requires it
KS2_REQUIRED = COMMON_REQUIRED + (
    "pc_features.npy",
    "pc_feature_ind.npy",
    "similar_templates.npy",
    "template_features.npy",
    "template_feature_ind.npy",
    "templates_ind.npy",
    "whitening_mat.npy",
    "whitening_mat_inv.npy",
)
KS4_REQUIRED = COMMON_REQUIRED
REQUIRED_FILES = {KS2: KS2_REQUIRED, KS4: KS4_REQUIRED}
LABEL_FILES = ("cluster_group.tsv", "cluster_KSLabel.tsv")
# files only Kilosort 4 writes (any one marks the folder as KS4)
KS4_MARKERS = (
    "kilosort4.log",
    "ops.npy",
    "kept_spikes.npy",
    "spike_detection_templates.npy",
    "spike_positions.npy",
    "whitening_mat_dat.npy",
)
CLUSTERING_METHOD = {KS2: "kilosort2", KS4: "kilosort4"}
_COLUMNS = {  # one value per spike or channel; MATLAB writes them as (n, 1)
    "spike_times.npy",
    "spike_clusters.npy",
    "spike_templates.npy",
    "amplitudes.npy",
    "channel_map.npy",
    "spike_times_sec.npy",
    "spike_times_sec_adj.npy",
}


def detect_version(folder: Path) -> str:
    """``"4"`` for a Kilosort 4 folder (one of its own files, or a spikeinterface phy export of
    it: ``template_ind.npy`` and no ``template_features.npy``), else ``"2"`` (2/2.5/3)."""
    folder = Path(folder)
    if any((folder / name).exists() for name in KS4_MARKERS):
        return KS4
    if (folder / "template_ind.npy").exists() and not (folder / "template_features.npy").exists():
        return KS4
    return KS2


def parse_params(path: Path) -> dict[str, object]:
    """``params.py`` as a dict, parsed as Python (``ast``): blank lines, comments, ``=`` inside
    string values and any literal (numbers, strings, ``True``/``False``/``None``, lists, tuples)
    are fine; anything that is not ``name = literal`` is an error naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KilosortError(path, "params.py is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KilosortError(path, f"params.py cannot be read: {exc}") from None
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise KilosortError(
            path, f"params.py is not valid Python (line {exc.lineno}): {exc.msg}"
        ) from None
    params: dict[str, object] = {}
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise KilosortError(path, f"params.py line {node.lineno} is not 'name = value'")
        try:
            params[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise KilosortError(
                path, f"params.py line {node.lineno}: {node.targets[0].id} is not a literal value"
            ) from None
    return params


@dataclass(frozen=True)
class Labels:
    """Quality label per cluster id, where each came from, and what was remapped."""

    labels: dict[int, str]
    source: Path  # the label file used
    column: str  # "group" (phy curation) or "KSLabel" (Kilosort's own)
    remapped_unsorted: tuple[int, ...]  # clusters labelled `unsorted` (or blank) in the file
    unlisted: tuple[int, ...] = ()  # clusters with spikes the file does not list (phy: unsorted)


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise KilosortError(path, f"cannot be read as a tab-separated table: {exc}") from None
    frame.columns = [c.strip() for c in frame.columns]
    if "cluster_id" not in frame.columns:
        raise KilosortError(path, f"has no cluster_id column (columns: {list(frame.columns)})")
    return frame


def _label_column(frame: pd.DataFrame, path: Path) -> str:
    for column in ("group", "KSLabel"):
        if column in frame.columns:
            return column
    raise KilosortError(
        path, f"has no 'group' or 'KSLabel' column (columns: {list(frame.columns)})"
    )


def _ids(frame: pd.DataFrame, path: Path) -> list[int]:
    out = []
    for i, raw in enumerate(frame["cluster_id"], start=2):
        try:
            out.append(int(str(raw).strip()))
        except ValueError:
            raise KilosortError(path, f"line {i}: cluster_id {raw!r} is not an integer") from None
    dupes = sorted(c for c, n in Counter(out).items() if n > 1)
    if dupes:
        raise KilosortError(path, f"cluster id(s) {dupes[:5]} listed more than once")
    return out


def read_labels(folder: Path, with_spikes: Iterable[int] = ()) -> Labels:
    """Cluster labels: ``cluster_group.tsv`` (phy's ``group``, or Kilosort 4's copy with
    ``KSLabel``) first, else ``cluster_KSLabel.tsv``.

    ``unsorted`` (or a blank label) — and, for the ids in ``with_spikes``, a cluster the file does
    not list, which is how phy stores a cluster nobody labelled — takes Kilosort's own label from
    ``cluster_KSLabel.tsv`` when that file lists the cluster, else ``UNSORTED_FALLBACK`` (``mua``:
    never claimed a single unit). Any other label outside good/ok/mua/noise raises, naming the
    file and the cluster.
    """
    folder = Path(folder)
    present = [folder / name for name in LABEL_FILES if (folder / name).is_file()]
    if not present:
        raise KilosortError(folder, "no label file (cluster_group.tsv or cluster_KSLabel.tsv)")
    source = present[0]
    frame = _read_tsv(source)
    column = _label_column(frame, source)
    ids = _ids(frame, source)
    ks_labels: dict[int, str] = {}
    ks_path = folder / "cluster_KSLabel.tsv"
    if source.name != ks_path.name and ks_path.is_file():
        ks_frame = _read_tsv(ks_path)
        if "KSLabel" in ks_frame.columns:
            for cid, raw in zip(_ids(ks_frame, ks_path), ks_frame["KSLabel"], strict=True):
                label = str(raw).strip().lower()
                if label not in KNOWN_LABELS:
                    raise KilosortError(
                        ks_path,
                        f"cluster {cid} has label {str(raw).strip()!r}, not one of "
                        f"{', '.join(KNOWN_LABELS)}",
                    )
                ks_labels[cid] = label
    labels: dict[int, str] = {}
    remapped = []
    for cid, raw in zip(ids, frame[column], strict=True):
        label = str(raw).strip().lower()
        if label in ("unsorted", ""):
            remapped.append(cid)
            label = ks_labels.get(cid, UNSORTED_FALLBACK)
        elif label not in KNOWN_LABELS:
            raise KilosortError(
                source,
                f"cluster {cid} has label {str(raw).strip()!r}, not one of "
                f"{', '.join(KNOWN_LABELS)} (or 'unsorted')",
            )
        labels[cid] = label
    unlisted = sorted(set(int(c) for c in with_spikes) - set(labels))
    for cid in unlisted:
        labels[cid] = ks_labels.get(cid, UNSORTED_FALLBACK)
    return Labels(labels, source, column, tuple(remapped), tuple(unlisted))


def _load(folder: Path, name: str, *, optional: bool = False) -> np.ndarray | None:
    path = folder / name
    if not path.is_file():
        if optional:
            return None
        raise KilosortError(path, "required file is missing")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise KilosortError(path, f"is not a readable .npy array: {exc}") from None
    if arr.ndim == 2 and arr.shape[1] == 1 and name in _COLUMNS:
        arr = arr.reshape(-1)  # (n, 1) columns as Kilosort's MATLAB side writes them
    return arr


@dataclass(frozen=True, eq=False)
class KilosortOutput:
    """One validated Kilosort/phy folder. Arrays are read-only memory maps unless noted."""

    folder: Path
    version: str  # "2" (Kilosort 2/2.5/3) or "4"
    params: dict[str, object]
    nominal_sample_rate: float | None  # params.py's sample_rate: NOT the recording's rate
    spike_samples: np.ndarray  # int64 AP sample of each spike (in memory)
    spike_clusters: np.ndarray
    spike_templates: np.ndarray
    amplitudes: np.ndarray
    templates: np.ndarray  # (templates, samples, channels)
    channel_map: np.ndarray  # saved-channel index of each Kilosort channel
    channel_positions: np.ndarray  # (channels, 2) µm
    pc_features: np.ndarray | None
    pc_feature_ind: np.ndarray | None
    spike_times_sec: np.ndarray | None  # spike_times_sec_adj.npy or spike_times_sec.npy: seconds
    labels: dict[int, str]  # cluster id -> good/ok/mua/noise: label-file rows + unlisted clusters
    label_file: Path
    label_column: str
    remapped_unsorted: tuple[int, ...]  # labelled `unsorted`: given Kilosort's label (or mua)
    unlisted_clusters: tuple[int, ...]  # own spikes, absent from the label file: likewise
    metrics: pd.DataFrame | None  # metrics.csv of THIS folder, index cluster_id
    mean_waveforms: np.ndarray | None  # (units, channels, samples), rows ↔ mean_waveform_ids
    mean_waveform_ids: np.ndarray | None

    @property
    def clustering_method(self) -> str:
        return CLUSTERING_METHOD[self.version]

    @cached_property
    def cluster_ids(self) -> np.ndarray:
        """Ids of the clusters that own at least one spike, ascending (the units; each has a
        label)."""
        return np.unique(np.asarray(self.spike_clusters)).astype(np.int64)

    def spike_times_s(self, sample_rate: float) -> np.ndarray:
        """Seconds from the recording's start: spike samples ÷ ``sample_rate`` — once.

        Pass the recording's measured ``imSampRate`` (P30), never ``params.py``'s nominal rate.
        The samples are Kilosort's own ``spike_times.npy``; the ``_sec`` files (already seconds)
        are never divided (P29) — they are in ``spike_times_sec`` for whoever wants them.
        """
        if not sample_rate or sample_rate <= 0:
            raise ValueError(f"{self.folder}: sample_rate must be positive, not {sample_rate}")
        return self.spike_samples.astype(np.float64) / float(sample_rate)

    def mean_waveform_of(self, cluster_id: int) -> np.ndarray | None:
        """Mean waveform (channels × samples) of one cluster, looked up by id (P32)."""
        if self.mean_waveforms is None or self.mean_waveform_ids is None:
            return None
        rows = np.flatnonzero(self.mean_waveform_ids == cluster_id)
        row = int(rows[0]) if rows.size else None
        return None if row is None else np.asarray(self.mean_waveforms[row])

    def validate_against(self, recording: SpikeGLXRecording) -> None:
        """Check the sorting fits ``recording``: every spike inside it, channels it saved."""
        samples = self.spike_samples
        if samples.size and int(samples.max()) >= recording.n_samples:
            late = int((samples >= recording.n_samples).sum())
            raise KilosortError(
                self.folder / "spike_times.npy",
                f"{late} spike(s) at or past the end of the recording (last spike at sample "
                f"{int(samples.max())}, {recording.ap_bin.name} has {recording.n_samples} samples)",
            )
        if self.channel_map.size and int(np.max(self.channel_map)) >= recording.n_neural_channels:
            raise KilosortError(
                self.folder / "channel_map.npy",
                f"channel {int(np.max(self.channel_map))} is not a saved neural channel of "
                f"{recording.ap_meta.name} ({recording.n_neural_channels} channels)",
            )
        n_dat = self.params.get("n_channels_dat")
        if isinstance(n_dat, int) and n_dat != recording.n_saved_channels:
            raise KilosortError(
                self.folder / "params.py",
                f"n_channels_dat = {n_dat} but {recording.ap_meta.name} saves "
                f"{recording.n_saved_channels} channels",
            )


def _check_lengths(folder: Path, arrays: dict[str, np.ndarray | None]) -> None:
    n = arrays["spike_times.npy"].shape[0]
    for name in ("spike_clusters.npy", "spike_templates.npy", "amplitudes.npy", "pc_features.npy"):
        arr = arrays.get(name)
        if arr is not None and arr.shape[0] != n:
            raise KilosortError(
                folder / name, f"has {arr.shape[0]} rows but spike_times.npy has {n} spikes"
            )
    templates, cmap, cpos = (
        arrays["templates.npy"],
        arrays["channel_map.npy"],
        arrays["channel_positions.npy"],
    )
    if templates.ndim != 3:
        raise KilosortError(
            folder / "templates.npy", f"is {templates.ndim}-D, not templates × samples × channels"
        )
    if cpos.ndim != 2 or cpos.shape[0] != cmap.size:
        raise KilosortError(
            folder / "channel_positions.npy",
            f"shape {cpos.shape} does not give one (x, y) per channel_map.npy entry ({cmap.size})",
        )
    if templates.shape[2] != cmap.size:
        raise KilosortError(
            folder / "templates.npy",
            f"has {templates.shape[2]} channels but channel_map.npy has {cmap.size}",
        )
    st = arrays["spike_templates.npy"]
    if st.size and (int(st.max()) >= templates.shape[0] or int(st.min()) < 0):
        raise KilosortError(
            folder / "spike_templates.npy",
            f"refers to template {int(st.max())} but templates.npy has {templates.shape[0]}",
        )
    times = arrays["spike_times.npy"]
    if times.size and np.issubdtype(times.dtype, np.floating):
        raise KilosortError(
            folder / "spike_times.npy", f"holds {times.dtype} values, not sample indices"
        )
    if times.size and int(np.min(times)) < 0:
        raise KilosortError(folder / "spike_times.npy", "holds negative sample indices")


def read_kilosort(folder: Path, cup_root: Path) -> KilosortOutput:
    """Read and validate the Kilosort folder ``folder`` on the cup drive rooted at ``cup_root``.

    Raises ``KilosortError`` naming the file for: a folder outside ``cup_root`` (symlinks
    included), a required file of its version's manifest missing, an unreadable ``params.py`` or
    label file, an unknown label, arrays whose lengths or shapes disagree, and QC files
    (``metrics.csv``, ``mean_waveforms.npy``) that do not fit the clusters.
    """
    folder = Path(folder)
    root = Path(cup_root).resolve()
    if not folder.is_dir():
        raise KilosortError(folder, "the Kilosort folder does not exist")
    if not folder.resolve().is_relative_to(root):
        raise KilosortError(folder, f"resolves to {folder.resolve()}, outside the cup root {root}")
    version = detect_version(folder)
    missing = [name for name in REQUIRED_FILES[version] if not (folder / name).is_file()]
    if missing:
        label = "Kilosort 4" if version == KS4 else "Kilosort 2/2.5/3"
        raise KilosortError(
            folder / missing[0],
            f"required file(s) missing from this {label} folder: {', '.join(missing)}",
        )
    for name in REQUIRED_FILES[version]:
        if not (folder / name).resolve().is_relative_to(root):
            raise KilosortError(folder / name, f"is a symlink leaving the cup root {root}")
    params = parse_params(folder / "params.py")
    rate = params.get("sample_rate")
    nominal = float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else None

    arrays = {name: _load(folder, name) for name in COMMON_REQUIRED if name.endswith(".npy")}
    for name in ("pc_features.npy", "pc_feature_ind.npy"):
        arrays[name] = _load(folder, name, optional=True)
    _check_lengths(folder, arrays)
    sec = _load(folder, "spike_times_sec_adj.npy", optional=True)
    if sec is None:
        sec = _load(folder, "spike_times_sec.npy", optional=True)
    if sec is not None and sec.shape[0] != arrays["spike_times.npy"].shape[0]:
        raise KilosortError(folder, "spike_times_sec*.npy and spike_times.npy differ in length")

    clusters = np.asarray(arrays["spike_clusters.npy"])
    labels = read_labels(folder, with_spikes=np.unique(clusters).tolist())

    metrics = _read_metrics(folder)
    mean_wf, mean_ids = _read_mean_waveforms(folder, clusters, arrays["channel_map.npy"].size)
    return KilosortOutput(
        folder=folder,
        version=version,
        params=params,
        nominal_sample_rate=nominal,
        spike_samples=np.asarray(arrays["spike_times.npy"]).astype(np.int64),
        spike_clusters=arrays["spike_clusters.npy"],
        spike_templates=arrays["spike_templates.npy"],
        amplitudes=arrays["amplitudes.npy"],
        templates=arrays["templates.npy"],
        channel_map=arrays["channel_map.npy"],
        channel_positions=arrays["channel_positions.npy"],
        pc_features=arrays["pc_features.npy"],
        pc_feature_ind=arrays["pc_feature_ind.npy"],
        spike_times_sec=sec,
        labels=labels.labels,
        label_file=labels.source,
        label_column=labels.column,
        remapped_unsorted=labels.remapped_unsorted,
        unlisted_clusters=labels.unlisted,
        metrics=metrics,
        mean_waveforms=mean_wf,
        mean_waveform_ids=mean_ids,
    )


def _read_metrics(folder: Path) -> pd.DataFrame | None:
    """``metrics.csv`` of this folder (P32), indexed by ``cluster_id``, or None."""
    path = folder / "metrics.csv"
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise KilosortError(path, f"cannot be read as CSV: {exc}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "cluster_id" not in frame.columns:
        raise KilosortError(path, f"has no cluster_id column (columns: {list(frame.columns)[:8]})")
    if frame["cluster_id"].duplicated().any():
        raise KilosortError(path, "lists a cluster_id more than once")
    return frame.set_index("cluster_id")


def _read_mean_waveforms(
    folder: Path, clusters: np.ndarray, n_channels: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``mean_waveforms.npy`` rows belong to the sorted unique cluster ids of ``spike_clusters``
    (ecephys_spike_sorting's order) — paired by id, not by the label file's row order (P32)."""
    path = folder / "mean_waveforms.npy"
    if not path.is_file():
        return None, None
    arr = _load(folder, "mean_waveforms.npy")
    ids = np.unique(np.asarray(clusters)).astype(np.int64)
    if arr.ndim != 3 or arr.shape[0] != ids.size:
        raise KilosortError(
            path,
            f"shape {arr.shape} does not hold one (channels × samples) mean per cluster with "
            f"spikes ({ids.size} clusters)",
        )
    if arr.shape[1] != n_channels and arr.shape[2] == n_channels:
        arr = np.swapaxes(arr, 1, 2)  # (units, samples, channels) variant
    if arr.shape[1] != n_channels:
        raise KilosortError(path, f"has {arr.shape[1]} channels, channel_map.npy {n_channels}")
    return arr, ids
