"""Step ``waveform_set``: ``WaveformSet`` + ``PeakWaveform`` + ``Waveform``: means of at most
``WAVEFORM_SPIKES`` spikes on the peak channel and its ``WAVEFORM_NEIGHBOURS`` nearest channels,
read in bounded windows of the AP file (``waveforms`` stays NULL)."""

from __future__ import annotations

import numpy as np

from brody_assets.ephys.ingest.context import EphysContext, Partition
from brody_assets.ephys.ingest.rows import (
    StepResult,
    already,
    electrode_map,
    insert_rows,
    nbytes,
    recording_config_hash,
    table_step,
)
from brody_assets.ephys.ingest.sorting import curation_key, not_sorted, unit_table

WAVEFORM_SPIKES = 200  # spikes averaged per unit at most (deterministic sample)
WAVEFORM_HALF_WIDTH = 32  # samples each side (64 samples = 2.1 ms at 30 kHz, as the element)
WAVEFORM_NEIGHBOURS = 12  # channels nearest the peak channel, stored besides it


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
    with table_step(ctx, "waveform_set") as result:
        if not_sorted(part, result) or already(ctx, part, "WaveformSet", result):
            return result
        key = curation_key(ctx, part, after=("CuratedClustering", "curated_clustering"))
        ks = part.kilosort
        electrodes = electrode_map(ctx, rec)
        config_hash = recording_config_hash(ctx, part)
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
        result.inserted["WaveformSet"] = insert_rows(ctx, "WaveformSet", [key])
        result.inserted["WaveformSet.PeakWaveform"] = insert_rows(ctx, "WaveformSet.PeakWaveform", (
            {**key, "unit": u, "peak_electrode_waveform": w[0]} for u, (_c, w) in means.items()),
            nbytes("peak_electrode_waveform"))
        result.inserted["WaveformSet.Waveform"] = insert_rows(ctx, "WaveformSet.Waveform", (
            {**key, "unit": u, "electrode_config_hash": config_hash, **electrodes[int(c)], "waveform_mean": w[j]}
            for u, (chans, w) in means.items() for j, c in enumerate(chans)), nbytes("waveform_mean"))
        missing = sorted(set(table.ids.tolist()) - set(means))
        result.facts.update(units_with_waveform=len(means), units_without_spikes_inside=missing,
                            waveform_source=source, channels_per_unit=WAVEFORM_NEIGHBOURS + 1)
    return result
