"""Ground truth for one synthetic probe: a handful of units, their spike trains and the traces.

Plain numpy, deterministic for a given ``numpy.random.Generator``. Units are biphasic spikes
with an exponential spatial footprint around a peak channel, on top of Gaussian noise; the LF
band carries a depth-dependent 8 Hz oscillation. Amplitudes are in ADC bits of the NP 1.0
gains written to the meta files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brody_assets.demo.spikeglx_writer import (
    AP_UV_PER_BIT,
    LF_DECIMATION,
    LF_UV_PER_BIT,
    N_NEURAL,
    np1_positions,
)

TEMPLATE_SAMPLES = 82  # Kilosort 2's nt0
TROUGH_SAMPLE = 41  # spike time = this sample of the template
LABELS = ("good", "good", "mua", "noise", "good", "mua")  # always at least one of each
AP_NOISE_UV = 10.0
FOOTPRINT_UM = 35.0
REFRACTORY_SAMPLES = 60  # 2 ms at 30 kHz
MIN_SPIKES = 3
# cluster ids 0, 2, 4, …: phy leaves gaps after merges, and the odd ids in between let a label
# file list a cluster without spikes, so pairing QC rows with clusters by position shows up (P32)
CLUSTER_ID_STEP = 2


@dataclass(frozen=True)
class Unit:
    cluster_id: int
    label: str  # curated (phy) label: good / mua / noise
    ks_label: str  # Kilosort's own label: good / mua
    peak_channel: int
    amplitude_uv: float
    spike_samples: np.ndarray  # int64, sorted, AP sample of the trough
    spike_scales: np.ndarray  # float64, per-spike amplitude factor around 1
    template: np.ndarray  # float32 (TEMPLATE_SAMPLES, 384), unit-peak-normalised


def _waveform() -> np.ndarray:
    """Biphasic extracellular spike shape, trough -1 at TROUGH_SAMPLE (30 kHz samples)."""
    t = np.arange(TEMPLATE_SAMPLES) - TROUGH_SAMPLE
    trough = -np.exp(-0.5 * (t / 4.0) ** 2)
    peak = 0.35 * np.exp(-0.5 * ((t - 12) / 7.0) ** 2)
    return trough + peak


def make_units(rng: np.random.Generator, n_samples: int, sample_rate: float) -> list[Unit]:
    """Draw 4–6 units with distinct peak channels and Poisson spike trains (≥ MIN_SPIKES each)."""
    n_units = int(rng.integers(4, len(LABELS) + 1))
    peaks = np.sort(rng.choice(np.arange(24, N_NEURAL - 24, 12), size=n_units, replace=False))
    pos = np1_positions()
    shape = _waveform()
    margin = TEMPLATE_SAMPLES
    units = []
    for i, peak in enumerate(peaks):
        dist = np.linalg.norm(pos - pos[peak], axis=1)
        footprint = np.exp(-dist / FOOTPRINT_UM)
        footprint[footprint < 0.01] = 0.0
        template = (shape[:, None] * footprint[None, :]).astype(np.float32)
        rate = float(rng.uniform(5.0, 25.0))
        n = max(MIN_SPIKES, int(rng.poisson(rate * n_samples / sample_rate)))
        samples = np.sort(rng.integers(margin, n_samples - margin, size=n))
        keep = np.concatenate([[True], np.diff(samples) > REFRACTORY_SAMPLES])
        samples = samples[keep].astype(np.int64)
        label = LABELS[i]
        units.append(
            Unit(
                cluster_id=CLUSTER_ID_STEP * i,
                label=label,
                ks_label="good" if label == "good" else "mua",
                peak_channel=int(peak),
                amplitude_uv=float(rng.uniform(80.0, 160.0)),
                spike_samples=samples,
                spike_scales=rng.uniform(0.9, 1.1, size=samples.size),
                template=template,
            )
        )
    return units


def ap_traces(rng: np.random.Generator, n_samples: int, units: list[Unit]) -> np.ndarray:
    """(n_samples, 384) int16 AP band: noise plus every unit's spikes."""
    data = rng.standard_normal((n_samples, N_NEURAL), dtype=np.float32)
    data *= np.float32(AP_NOISE_UV / AP_UV_PER_BIT)
    for u in units:
        chans = np.flatnonzero(u.template.any(axis=0))
        wf = u.template[:, chans] * np.float32(u.amplitude_uv / AP_UV_PER_BIT)
        for s, k in zip(u.spike_samples, u.spike_scales, strict=True):
            start = s - TROUGH_SAMPLE
            data[start : start + TEMPLATE_SAMPLES, chans] += wf * np.float32(k)
    return np.clip(np.rint(data), -32768, 32767).astype(np.int16)


def lf_traces(rng: np.random.Generator, n_ap_samples: int, lf_rate: float) -> np.ndarray:
    """(n_ap_samples // 12, 384) int16 LF band: 8 Hz oscillation whose phase drifts with depth."""
    n = n_ap_samples // LF_DECIMATION
    t = np.arange(n, dtype=np.float64)[:, None] / lf_rate
    depth = np1_positions()[:, 1][None, :]
    theta = 120.0 * np.sin(2 * np.pi * 8.0 * t + depth / 1000.0 * np.pi)
    noise = rng.standard_normal((n, N_NEURAL)) * 15.0
    return np.rint((theta + noise) / LF_UV_PER_BIT).astype(np.int16)
