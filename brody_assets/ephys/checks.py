"""Asset checks of the ephys assets, as plain functions of one validated partition (no Dagster).

Each returns a :class:`Check` (passed, a one-line description, numbers to show). The assets turn
them into ``AssetCheckResult``s; a check is **blocking** where a wrong number would spread into
the tables downstream (file sizes, spike times, cluster ids, waveforms), a warning otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# name -> (asset step it belongs to, blocking, what it checks)
CHECKS: dict[str, tuple[str, bool, str]] = {
    "meta_matches_file_size": ("raw_recording", True,
                               "fileSizeBytes in the .meta = the .bin's size = saved channels x samples x 2"),
    "spike_times_within_recording": ("kilosort_output", True,
                                     "every spike sample lies inside the recording (0 <= s < samples)"),
    "cluster_ids_consistent": ("kilosort_output", True,
                               "every cluster owning spikes has a label; every spike's template exists"),
    "lfp_electrode_count": ("lfp", False,
                            "LFP holds every 9th saved channel (43 for 384), not a wrong subset"),
    "every_unit_has_waveform": ("waveform_set", True, "each unit of the curation has a mean waveform"),
    "qc_metrics_plausible": ("quality_metrics", False,
                             "firing rate in (0, 500] Hz, presence ratio and amplitude cut-off in [0, 1], "
                             "ISI violations >= 0"),
}


@dataclass
class Check:
    name: str
    passed: bool
    description: str
    numbers: dict[str, object] = field(default_factory=dict)


def meta_matches_file_size(part) -> Check:
    rec = part.recording
    actual = rec.ap_bin.stat().st_size
    expected = rec.n_saved_channels * rec.n_samples * 2
    ok = actual == rec.file_size_bytes == expected
    return Check("meta_matches_file_size", ok,
                 f"{rec.ap_bin.name}: {actual} bytes on disk, fileSizeBytes {rec.file_size_bytes}, "
                 f"{rec.n_saved_channels} channels x {rec.n_samples} samples x 2 = {expected}",
                 {"bytes_on_disk": actual, "file_size_bytes": rec.file_size_bytes, "expected": expected})


def spike_times_within_recording(part) -> Check:
    ks, rec = part.kilosort, part.recording
    samples = np.asarray(ks.spike_samples)
    outside = int(((samples < 0) | (samples >= rec.n_samples)).sum())
    return Check("spike_times_within_recording", outside == 0,
                 f"{outside} of {samples.size} spikes outside 0..{rec.n_samples - 1}",
                 {"spikes": int(samples.size), "outside": outside, "recording_samples": rec.n_samples})


def cluster_ids_consistent(part) -> Check:
    ks = part.kilosort
    owned = set(np.unique(np.asarray(ks.spike_clusters)).tolist())
    unlabelled = sorted(owned - set(ks.labels))
    templates = np.asarray(ks.spike_templates)
    bad_templates = int((templates >= ks.templates.shape[0]).sum()) if templates.size else 0
    ok = not unlabelled and not bad_templates
    return Check("cluster_ids_consistent", ok,
                 f"{len(owned)} clusters own spikes, {len(ks.labels)} labelled in {ks.label_file.name}; "
                 f"unlabelled {unlabelled[:10]}; spikes with an unknown template: {bad_templates}",
                 {"clusters_with_spikes": len(owned), "labelled": len(ks.labels),
                  "unlabelled": len(unlabelled), "unknown_templates": bad_templates})


def lfp_electrode_count(ctx, part) -> Check:
    from brody_assets.ephys.ingest import rows_count
    from brody_assets.ephys.spikeglx import element_lfp_channels

    expected = int(element_lfp_channels(part.recording).size)
    stored = rows_count(ctx, "LFP.Electrode", part.rec_key)
    return Check("lfp_electrode_count", stored == expected,
                 f"{stored} LFP electrodes stored, {expected} expected (every 9th of "
                 f"{part.recording.n_neural_channels} channels)", {"stored": stored, "expected": expected})


def every_unit_has_waveform(ctx, part) -> Check:
    from brody_assets.ephys.ingest import rows_count

    units = rows_count(ctx, "CuratedClustering.Unit", part.rec_key)
    with_wave = rows_count(ctx, "WaveformSet.PeakWaveform", part.rec_key)
    return Check("every_unit_has_waveform", units == with_wave,
                 f"{with_wave} of {units} units have a mean waveform", {"units": units, "with_waveform": with_wave})


def qc_metrics_plausible(ctx, part) -> Check:
    where = " AND ".join(f"`{k}` = %s" for k in sorted(part.rec_key))
    args = tuple(part.rec_key[k] for k in sorted(part.rec_key))
    rows = ctx.query(f"SELECT unit, firing_rate, presence_ratio, isi_violation, amplitude_cutoff FROM "
                     f"{ctx.t('QualityMetrics.Cluster')} WHERE {where}", args)
    bad = []
    for unit, fr, pr, isi, cut in rows:
        if fr is None or not 0 < fr <= 500 or (pr is not None and not 0 <= pr <= 1) or \
                (isi is not None and isi < 0) or (cut is not None and not 0 <= cut <= 1):
            bad.append(int(unit))
    return Check("qc_metrics_plausible", not bad,
                 f"{len(rows) - len(bad)} of {len(rows)} units with plausible metrics"
                 + (f"; implausible: units {bad[:20]}" if bad else ""),
                 {"units": len(rows), "implausible": len(bad)})
