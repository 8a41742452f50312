"""Write a Kilosort output folder (phy format) for planted units: Kilosort 2/2.5/3, 4, or 4
exported through spikeinterface.

The Kilosort 2 flavour holds every file element-array-ephys 0.2.11's ``Kilosort`` reader requires
(``ephys.md`` §6.3), plus ``cluster_KSLabel.tsv``, the phy-curated ``cluster_group.tsv``,
``metrics.csv`` and ``mean_waveforms.npy`` (the QualityMetrics / QC waveform path). One template
per unit; spike times are AP samples of the planted troughs.
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


FLAVORS = ("ks2", "ks4", "ks4_phy")
EMPTY_CLUSTER_LABEL = "noise"  # the label-file row of a cluster that owns no spike (merged away)


def params_text(dat_path: str, sample_rate: float, style: str = "ks2") -> str:
    """``params.py`` as the sorter writes it, at the *nominal* rate.

    ``style``: ``ks2`` (Kilosort 2's ``rezToPhy``), ``ks4``, ``ks4_phy`` (spikeinterface's phy
    export), ``blank_line`` (a blank line 0.2.11 chokes on) or ``quirks`` (comments, a blank
    line, ``=`` inside a string value, a list literal: all valid Python, P31).
    """
    rate = f"{sample_rate:.1f}" if style in ("ks2", "blank_line", "quirks") else f"{sample_rate:g}"
    lines = [
        f"dat_path = '{dat_path}'" if style != "ks4_phy" else f"dat_path = r'{dat_path}'",
        f"n_channels_dat = {N_SAVED}",
        "dtype = 'int16'",
        "offset = 0",
        f"sample_rate = {rate}",
        f"hp_filtered = {style in ('ks4', 'ks4_phy')}",
    ]
    if style == "blank_line":
        lines.insert(4, "")
    elif style == "quirks":
        lines[0] = f"dat_path = 'D:/SGL_DATA/gain=500/{dat_path}'  # '=' inside the value"
        lines = ["# written by the lab's sorting wrapper", "", *lines, "", "tags = ['ks2', 'jrc']"]
    return "\n".join(lines) + "\n"


def _spike_table(units: list[Unit]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All spikes sorted by time: (samples, unit position, cluster id, per-spike scale)."""
    samples = np.concatenate([u.spike_samples for u in units])
    position = np.concatenate([np.full(u.spike_samples.size, i) for i, u in enumerate(units)])
    clusters = np.concatenate([np.full(u.spike_samples.size, u.cluster_id) for u in units])
    scales = np.concatenate([u.spike_scales for u in units])
    order = np.argsort(samples, kind="stable")
    return samples[order], position[order], clusters[order], scales[order]


def empty_cluster_id(units: list[Unit]) -> int:
    """An unused id between the first two units' ids: listed in the label files, owns no spike."""
    used = {u.cluster_id for u in units}
    return next(c for c in range(units[0].cluster_id + 1, max(used) + 2) if c not in used)


def write_kilosort(
    folder: Path,
    units: list[Unit],
    *,
    n_samples: int,
    sample_rate: float,
    dat_path: str,
    flavor: str = "ks2",
    omit: tuple[str, ...] = (),
    params_style: str | None = None,
    with_sec: bool = False,
) -> list[Path]:
    """Write the folder; return the paths written. ``omit`` names files to leave out.

    ``flavor``: ``ks2`` (Kilosort 2/2.5/3 + phy curation + ecephys QC files), ``ks4`` (Kilosort
    4: no template features, ``cluster_group.tsv`` a byte copy of ``cluster_KSLabel.tsv``, its
    own extra files, no QC files; ``ephys.md`` §6.4) or ``ks4_phy`` (spikeinterface's phy export
    of a Kilosort 4 sorting: ``template_ind.npy``, no whitening, every cluster ``unsorted``).
    ``with_sec`` adds ``spike_times_sec.npy`` (seconds at the nominal rate, as ecephys writes).
    Cluster ids are the units' ids; templates are indexed by unit position (phy's split of the
    two); ``ks2``/``ks4`` label files also list one cluster without spikes.
    """
    if flavor not in FLAVORS:
        raise ValueError(f"flavor {flavor!r} is not one of {FLAVORS}")
    folder.mkdir(parents=True, exist_ok=True)
    pos = np1_positions()
    samples, position, clusters, scales = _spike_table(units)
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
    pc_features[:, 0, :] = peak_amp[position[:, None], pc_ind[position]] * scales[:, None] * 10
    pc_features[:, 1, :] = 0.1 * pc_features[:, 0, :]

    flat = templates.reshape(n_t, -1)
    norm = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    similar = (norm @ norm.T).astype(np.float32)
    n_tf = min(n_t, 32)
    tf_ind = np.argsort(-similar, axis=1, kind="stable")[:, :n_tf].astype(np.uint32)
    template_features = similar[position[:, None], tf_ind[position]] * scales[:, None]

    amp_bits = np.array([u.amplitude_uv / AP_UV_PER_BIT for u in units])
    full_ind = np.tile(np.arange(N_NEURAL, dtype=np.float64), (n_t, 1))
    arrays: dict[str, np.ndarray] = {
        "amplitudes.npy": (amp_bits[position] * scales / 4.0).astype(np.float64),
        "channel_map.npy": np.arange(N_NEURAL, dtype=np.int32),
        "channel_positions.npy": pos.astype(np.float64),
        "pc_features.npy": pc_features,
        "pc_feature_ind.npy": pc_ind,
        "similar_templates.npy": similar,
        "spike_templates.npy": position.astype(np.uint32),
        "spike_times.npy": samples.astype(np.uint64),
        "template_features.npy": template_features.astype(np.float32),
        "template_feature_ind.npy": tf_ind,
        "templates.npy": templates,
        "templates_ind.npy": full_ind,
        "whitening_mat.npy": np.eye(N_NEURAL, dtype=np.float64),
        "whitening_mat_inv.npy": np.eye(N_NEURAL, dtype=np.float64),
        "spike_clusters.npy": clusters.astype(np.int32),
    }
    if flavor == "ks4":
        for name in ("template_features.npy", "template_feature_ind.npy", "templates_ind.npy"):
            del arrays[name]
        arrays["spike_times.npy"] = samples.astype(np.int64)
        arrays["spike_positions.npy"] = pos[[units[i].peak_channel for i in position]].astype(
            np.float32
        )
        arrays["kept_spikes.npy"] = np.ones(samples.size, dtype=bool)
        arrays["whitening_mat_dat.npy"] = np.eye(N_NEURAL, dtype=np.float32)
    elif flavor == "ks4_phy":
        for name in ("template_features.npy", "template_feature_ind.npy", "templates_ind.npy",
                     "whitening_mat.npy", "whitening_mat_inv.npy"):  # fmt: skip
            del arrays[name]
        arrays["template_ind.npy"] = full_ind.astype(np.int64)
        arrays["spike_times.npy"] = samples.astype(np.int64)
    if with_sec:
        arrays["spike_times_sec.npy"] = samples / np.float64(KS_SAMPLE_RATE)
    written = []
    for name, arr in arrays.items():
        if name not in omit:
            np.save(folder / name, arr)
            written.append(folder / name)

    empty = [] if flavor == "ks4_phy" else [empty_cluster_id(units)]
    ks_rows = sorted([(u.cluster_id, u.ks_label) for u in units] + [(c, "mua") for c in empty])
    texts = {
        "params.py": params_text(
            dat_path, KS_SAMPLE_RATE, params_style or ("ks2" if flavor == "ks2" else flavor)
        ),
        "cluster_KSLabel.tsv": "cluster_id\tKSLabel\n"
        + "".join(f"{c}\t{lab}\n" for c, lab in ks_rows),
    }
    if flavor == "ks4":
        texts["cluster_group.tsv"] = texts["cluster_KSLabel.tsv"]
        texts["kilosort4.log"] = "kilosort.run_kilosort: Kilosort version 4.0.30\n"
        texts["cluster_ContamPct.tsv"] = "cluster_id\tContamPct\n" + "".join(
            f"{c}\t0.0\n" for c, _ in ks_rows
        )
        texts["cluster_Amplitude.tsv"] = "cluster_id\tAmplitude\n" + "".join(
            f"{u.cluster_id}\t{u.amplitude_uv / AP_UV_PER_BIT:.1f}\n" for u in units
        )
    elif flavor == "ks4_phy":
        texts["cluster_group.tsv"] = "cluster_id\tgroup\n" + "".join(
            f"{u.cluster_id}\tunsorted\n" for u in units
        )
        texts["cluster_si_unit_ids.tsv"] = "cluster_id\tsi_unit_id\n" + "".join(
            f"{u.cluster_id}\t{u.cluster_id}\n" for u in units
        )
    else:
        rows = sorted(
            [(u.cluster_id, u.label) for u in units] + [(c, EMPTY_CLUSTER_LABEL) for c in empty]
        )
        texts["cluster_group.tsv"] = "cluster_id\tgroup\n" + "".join(
            f"{c}\t{lab}\n" for c, lab in rows
        )
        texts["metrics.csv"] = _metrics_csv(units, n_samples, sample_rate)
    for name, text in texts.items():
        if name not in omit:
            (folder / name).write_text(text, encoding="ascii")
            written.append(folder / name)

    if flavor == "ks2" and "mean_waveforms.npy" not in omit:
        # units x channels x samples, in µV, rows in ascending cluster id of the clusters that
        # own spikes (ecephys_spike_sorting's order) -- NOT the label file's rows, which also
        # list the empty cluster: pairing by position is wrong from the second unit on (P32)
        mean_wf = np.stack(
            [
                u.template.T * np.float32(u.amplitude_uv)
                for u in sorted(units, key=lambda u: u.cluster_id)
            ]
        ).astype(np.float32)
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
