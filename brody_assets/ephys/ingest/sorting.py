"""Steps ``clustering`` (``ClusteringParamSet`` from the folder's ``params.py`` — P28,
``ClusteringTask`` in ``load`` mode, ``Clustering``) and ``curated_clustering`` (one ``Curation``
per clustering — P27, ``CuratedClustering`` + ``Unit`` with spike times at the measured rate —
P29, P30)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brody_assets.ephys.ingest.context import EphysContext, Partition
from brody_assets.ephys.ingest.rows import (
    StepResult,
    already,
    count_rows,
    dict_to_uuid,
    electrode_map,
    insert_rows,
    nbytes,
    recording_config_hash,
    select_by_key,
    table_step,
)


def paramset(ctx: EphysContext, ks) -> tuple[int, dict]:
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
    insert_rows(ctx, "ClusteringParamSet", [{"paramset_idx": idx, "clustering_method": method,
                                         "paramset_desc": desc, "param_set_hash": param_hash,
                                         "params": params}])
    return idx, {"ClusteringParamSet": 1}


def not_sorted(part: Partition, result: StepResult) -> bool:
    if part.kilosort is None:
        result.skipped = "no Kilosort output for this recording on the cup drive yet"
        return True
    return False


def _folder_time(folder: Path, names: Iterable[str]) -> dt.datetime:
    """Newest modification time of these files (kept by copies that preserve times, unlike ctime — P36)."""
    times = [(folder / n).stat().st_mtime for n in names if (folder / n).exists()]
    return dt.datetime.fromtimestamp(max(times)).replace(microsecond=0)


def _clustering_key(ctx: EphysContext, part: Partition) -> dict | None:
    rows = select_by_key(ctx, "paramset_idx", "Clustering", part.rec_key)
    if len(rows) > 1:
        raise RuntimeError(f"{part.key}: {len(rows)} clusterings; expected one per recording")
    return {**part.rec_key, "paramset_idx": int(rows[0][0])} if rows else None


def curation_key(ctx: EphysContext, part: Partition, after: tuple[str, str]) -> dict:
    """The key of the partition's one curation (id 1 of its one clustering, P27), once the table
    ``after[0]`` holds the partition's row; else an error naming the asset ``after[1]`` to
    materialize first."""
    table, asset = after
    clustering = _clustering_key(ctx, part)
    if clustering is None or (table != "Clustering" and not count_rows(ctx, table, part.rec_key)):
        raise RuntimeError(f"{part.key}: no {table} row yet; materialize ephys/{asset} first")
    return {**clustering, "curation_id": 1}


def insert_clustering(ctx: EphysContext, part: Partition) -> StepResult:
    """``ClusteringParamSet`` (if new), ``ClusteringTask`` (``load``) and ``Clustering``."""
    with table_step(ctx, "clustering") as result:
        if not_sorted(part, result) or already(ctx, part, "Clustering", result):
            return result
        ks = part.kilosort
        lock = f"brody_ephys_paramset:{ctx.settings.new_prefix}"[:64]
        ctx.query("SELECT GET_LOCK(%s, 60)", (lock,))
        try:
            idx, inserted = paramset(ctx, ks)
        finally:
            ctx.query("SELECT RELEASE_LOCK(%s)", (lock,))
        result.inserted.update(inserted)
        key = {**part.rec_key, "paramset_idx": idx}
        result.inserted["ClusteringTask"] = insert_rows(ctx, "ClusteringTask", [{
            **key, "clustering_output_dir": part.kilosort_rel, "task_mode": "load"}])
        result.inserted["Clustering"] = insert_rows(ctx, "Clustering", [{
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
    with table_step(ctx, "curated_clustering") as result:
        if not_sorted(part, result) or already(ctx, part, "Curation", result):
            return result
        key = curation_key(ctx, part, after=("Clustering", "clustering"))
        ks = part.kilosort
        result.inserted["Curation"] = insert_rows(ctx, "Curation", [{
            **key, "curation_time": _folder_time(ks.folder, (ks.label_file.name, "phy.log")),
            "curation_output_dir": part.kilosort_rel, "quality_control": ks.metrics is not None,
            "manual_curation": _manual_curation(ks.folder),
            "curation_note": _curation_note(ks)}])
        result.inserted["CuratedClustering"] = insert_rows(ctx, "CuratedClustering", [key])
        electrodes = electrode_map(ctx, rec)
        config_hash = recording_config_hash(ctx, part)
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

        result.inserted["CuratedClustering.Unit"] = insert_rows(
            ctx, "CuratedClustering.Unit", rows(), nbytes("spike_times", "spike_sites", "spike_depths"))
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
