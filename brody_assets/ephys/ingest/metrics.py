"""Step ``quality_metrics``: ``QualityMetrics`` + ``Cluster`` + ``Waveform``, from the curation
folder's ``metrics.csv`` keyed by cluster id (P32), else computed with spikeinterface."""

from __future__ import annotations

import numpy as np

from brody_assets.ephys.errors import KilosortError
from brody_assets.ephys.ingest.context import EphysContext, Partition
from brody_assets.ephys.ingest.rows import (
    StepResult,
    already,
    insert_rows,
    select_by_key,
    table_step,
)
from brody_assets.ephys.ingest.sorting import curation_key, not_sorted, unit_table

PRESENCE_BIN_S = 60.0  # presence-ratio bin (spikeinterface's default), shortened for short recordings
_METRIC_RENAMES = {"isi_viol": "isi_violation", "num_viol": "number_violation",
                   "contam_rate": "contamination_rate"}
_CLUSTER_METRICS = ("firing_rate", "snr", "presence_ratio", "isi_violation", "number_violation",
                    "amplitude_cutoff", "isolation_distance", "l_ratio", "d_prime", "nn_hit_rate",
                    "nn_miss_rate", "silhouette_score", "max_drift", "cumulative_drift",
                    "contamination_rate")
_WAVEFORM_METRICS = ("amplitude", "duration", "halfwidth", "pt_ratio", "repolarization_slope",
                     "recovery_slope", "spread", "velocity_above", "velocity_below")


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
    with table_step(ctx, "quality_metrics") as result:
        if not_sorted(part, result) or already(ctx, part, "QualityMetrics", result):
            return result
        key = curation_key(ctx, part, after=("WaveformSet", "waveform_set"))
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
        wave_rows = select_by_key(ctx, "unit, peak_electrode_waveform", "WaveformSet.PeakWaveform", part.rec_key)
        from datajoint.blob import unpack

        peak_waves = {int(u): unpack(b) for u, b in wave_rows}
        result.inserted["QualityMetrics"] = insert_rows(ctx, "QualityMetrics", [key])
        result.inserted["QualityMetrics.Cluster"] = insert_rows(ctx, "QualityMetrics.Cluster", (
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
        result.inserted["QualityMetrics.Waveform"] = insert_rows(ctx, "QualityMetrics.Waveform", wave)
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
