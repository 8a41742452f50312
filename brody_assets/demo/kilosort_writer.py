"""Write a Kilosort 2–style output folder (phy format) for planted units.

Every file element-array-ephys 0.2.11's ``Kilosort`` reader requires (``ephys.md`` §6.3), plus
``cluster_KSLabel.tsv``, the phy-curated ``cluster_group.tsv``, ``metrics.csv`` and
``mean_waveforms.npy`` (the QualityMetrics / QC waveform path). Clusters are the templates
(no merges), spike times are AP samples of the planted troughs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brody_assets.demo.spikeglx_writer import AP_UV_PER_BIT, N_NEURAL, N_SAVED, np1_positions
from brody_assets.demo.synthetic_signal import Unit

N_PC = 3
KS_SAMPLE_RATE = 30000.0  # the nominal rate Kilosort 2 writes, not the calibrated imSampRate
N_PC_CHANNELS = 32
METRIC_COLUMNS = (
    "cluster_id,firing_rate,presence_ratio,isi_viol,num_viol,amplitude_cutoff,"
    "isolation_distance,l_ratio,d_prime,nn_hit_rate,nn_miss_rate,silhouette_score,"
    "max_drift,cumulative_drift,contam_rate,snr,amplitude,duration,halfwidth,pt_ratio,"
    "repolarization_slope,recovery_slope,spread,velocity_above,velocity_below"
)


def params_text(dat_path: str, sample_rate: float, blank_line: bool = False) -> str:
    """``params.py`` as Kilosort 2 writes it; ``blank_line`` adds the blank line 0.2.11 chokes on."""
    lines = [
        f"dat_path = '{dat_path}'",
        f"n_channels_dat = {N_SAVED}",
        "dtype = 'int16'",
        "offset = 0",
        f"sample_rate = {sample_rate:.1f}",
        "hp_filtered = False",
    ]
    if blank_line:
        lines.insert(4, "")
    return "\n".join(lines) + "\n"


def _spike_table(units: list[Unit]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All spikes sorted by time: (samples, cluster per spike, per-spike scale)."""
    samples = np.concatenate([u.spike_samples for u in units])
    clusters = np.concatenate([np.full(u.spike_samples.size, u.cluster_id) for u in units])
    scales = np.concatenate([u.spike_scales for u in units])
    order = np.argsort(samples, kind="stable")
    return samples[order], clusters[order], scales[order]


def write_kilosort(
    folder: Path,
    units: list[Unit],
    *,
    n_samples: int,
    sample_rate: float,
    dat_path: str,
    omit: tuple[str, ...] = (),
    params_blank_line: bool = False,
    with_metrics: bool = True,
    ks4_cluster_group: bool = False,
) -> list[Path]:
    """Write the folder; return the paths written. ``omit`` names files to leave out.

    ``ks4_cluster_group`` writes ``cluster_group.tsv`` as a byte copy of ``cluster_KSLabel.tsv``
    (column ``KSLabel``), as Kilosort 4 does (``ephys.md`` §6.4 #2).
    """
    folder.mkdir(parents=True, exist_ok=True)
    pos = np1_positions()
    samples, clusters, scales = _spike_table(units)
    n_t = len(units)
    templates = np.stack([u.template for u in units]).astype(np.float32)  # (n_t, 82, 384)
    peak_amp = np.abs(templates).max(axis=1)  # (n_t, 384)

    # PC features: first PC = template amplitude on the 32 channels nearest the peak, so the
    # reader's centre-of-mass depth lands on the planted unit's depth.
    pc_ind = np.zeros((n_t, N_PC_CHANNELS), dtype=np.uint32)
    for i, u in enumerate(units):
        dist = np.linalg.norm(pos - pos[u.peak_channel], axis=1)
        pc_ind[i] = np.argsort(dist, kind="stable")[:N_PC_CHANNELS]
    pc_features = np.zeros((samples.size, N_PC, N_PC_CHANNELS), dtype=np.float32)
    pc_features[:, 0, :] = peak_amp[clusters[:, None], pc_ind[clusters]] * scales[:, None] * 10
    pc_features[:, 1, :] = 0.1 * pc_features[:, 0, :]

    flat = templates.reshape(n_t, -1)
    norm = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    similar = (norm @ norm.T).astype(np.float32)
    n_tf = min(n_t, 32)
    tf_ind = np.argsort(-similar, axis=1, kind="stable")[:, :n_tf].astype(np.uint32)
    template_features = similar[clusters[:, None], tf_ind[clusters]] * scales[:, None]

    amp_bits = np.array([u.amplitude_uv / AP_UV_PER_BIT for u in units])
    arrays: dict[str, np.ndarray] = {
        "amplitudes.npy": (amp_bits[clusters] * scales / 4.0).astype(np.float64),
        "channel_map.npy": np.arange(N_NEURAL, dtype=np.int32),
        "channel_positions.npy": pos.astype(np.float64),
        "pc_features.npy": pc_features,
        "pc_feature_ind.npy": pc_ind,
        "similar_templates.npy": similar,
        "spike_templates.npy": clusters.astype(np.uint32),
        "spike_times.npy": samples.astype(np.uint64),
        "template_features.npy": template_features.astype(np.float32),
        "template_feature_ind.npy": tf_ind,
        "templates.npy": templates,
        "templates_ind.npy": np.tile(np.arange(N_NEURAL, dtype=np.float64), (n_t, 1)),
        "whitening_mat.npy": np.eye(N_NEURAL, dtype=np.float64),
        "whitening_mat_inv.npy": np.eye(N_NEURAL, dtype=np.float64),
        "spike_clusters.npy": clusters.astype(np.int32),
    }
    written = []
    for name, arr in arrays.items():
        if name not in omit:
            np.save(folder / name, arr)
            written.append(folder / name)

    texts = {
        "params.py": params_text(dat_path, KS_SAMPLE_RATE, blank_line=params_blank_line),
        "cluster_KSLabel.tsv": "cluster_id\tKSLabel\n"
        + "".join(f"{u.cluster_id}\t{u.ks_label}\n" for u in units),
    }
    if ks4_cluster_group:
        texts["cluster_group.tsv"] = texts["cluster_KSLabel.tsv"]
    else:
        texts["cluster_group.tsv"] = "cluster_id\tgroup\n" + "".join(
            f"{u.cluster_id}\t{u.label}\n" for u in units
        )
    if with_metrics:
        texts["metrics.csv"] = _metrics_csv(units, n_samples, sample_rate)
    for name, text in texts.items():
        if name not in omit:
            (folder / name).write_text(text, encoding="ascii")
            written.append(folder / name)

    if with_metrics and "mean_waveforms.npy" not in omit:
        # units x channels x samples, in µV, in cluster_group.tsv order (as the element zips them)
        mean_wf = np.stack([u.template.T * np.float32(u.amplitude_uv) for u in units]).astype(
            np.float32
        )
        np.save(folder / "mean_waveforms.npy", mean_wf)
        written.append(folder / "mean_waveforms.npy")
    return sorted(written)


def _metrics_csv(units: list[Unit], n_samples: int, sample_rate: float) -> str:
    """ecephys_spike_sorting-style metrics the element's QualityMetrics reads (all columns it maps)."""
    duration = n_samples / sample_rate
    pos = np1_positions()
    rows = [METRIC_COLUMNS]
    for u in units:
        isi = np.diff(u.spike_samples) / sample_rate
        n_viol = int((isi < 0.0015).sum())
        spread = float(np.ptp(pos[np.abs(u.template).max(axis=0) > 0.12, 1]))
        values = [
            u.cluster_id, u.spike_samples.size / duration, 1.0, 0.0, n_viol, 0.01,
            50.0, 0.01, 5.0, 0.95, 0.01, 0.5, 0.0, 0.0, 0.0, u.amplitude_uv / 10.0,
            u.amplitude_uv * 1.35, 0.6, 0.3, 0.35, 0.5, -0.1, spread, 0.0, 0.0,
        ]  # fmt: skip
        rows.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values))
    return "\n".join(rows) + "\n"
