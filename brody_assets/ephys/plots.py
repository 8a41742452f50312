"""The per-recording unit summary picture (firing rates, amplitudes by depth, a few mean waveforms).

Drawn from what the tables hold for one partition, with matplotlib's Agg backend (imported here,
lazily: the code location never loads matplotlib). :func:`unit_summary_markdown` embeds the PNG
as a base64 data URI in markdown, which the Dagster UI shows on the materialization.
"""

from __future__ import annotations

import base64
import io

import numpy as np

WAVEFORMS_SHOWN = 6


def _fetch(ctx, part):
    from datajoint.blob import unpack

    where = " AND ".join(f"u.`{k}` = %s" for k in sorted(part.rec_key))
    args = tuple(part.rec_key[k] for k in sorted(part.rec_key))
    units = ctx.query(
        f"SELECT u.unit, u.cluster_quality_label, u.spike_count, u.spike_depths, w.peak_electrode_waveform "
        f"FROM {ctx.t('CuratedClustering.Unit')} u LEFT JOIN {ctx.t('WaveformSet.PeakWaveform')} w "
        "USING (ratname, sessid, run, insertion_number, paramset_idx, curation_id, unit) "
        f"WHERE {where} ORDER BY u.unit", args)
    return [(int(u), label, int(n), unpack(d) if d else None, unpack(w) if w else None)
            for u, label, n, d, w in units]


def _on_probe(ctx, part, unit: int) -> list[tuple[float, float, np.ndarray]]:
    """(x, y, mean waveform) of each stored channel of one unit, at its site on the probe."""
    from datajoint.blob import unpack

    where = " AND ".join(f"w.`{k}` = %s" for k in sorted(part.rec_key))
    args = tuple(part.rec_key[k] for k in sorted(part.rec_key)) + (unit,)
    rows = ctx.query(
        f"SELECT e.x_coord, e.y_coord, w.waveform_mean FROM {ctx.t('WaveformSet.Waveform')} w "
        f"JOIN {ctx.t('ProbeType.Electrode')} e USING (probe_type, electrode) WHERE {where} AND w.unit = %s",
        args)
    return [(float(x), float(y), unpack(w)) for x, y, w in rows]


def unit_summary_png(ctx, part) -> bytes:
    """PNG bytes of the unit summary of one ingested partition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = _fetch(ctx, part)
    duration = part.recording.duration_s
    colors = {"good": "tab:green", "ok": "tab:olive", "mua": "tab:orange", "noise": "tab:gray"}
    fig, grid = plt.subplots(2, 2, figsize=(11, 7.5), dpi=80)  # 880 px: fits the UI's dialog
    axes = grid.ravel()
    ids = [u[0] for u in units]
    rates = [u[2] / duration for u in units]
    axes[0].bar(range(len(ids)), rates, color=[colors.get(u[1], "tab:blue") for u in units])
    axes[0].set_xticks(range(len(ids)), [str(i) for i in ids], fontsize=7, rotation=90)
    axes[0].set(title="firing rate by unit", xlabel="unit (colour = label)", ylabel="spikes / s")
    for unit, label, _n, depths, wave in units:
        if wave is not None:
            amp = float(np.max(wave) - np.min(wave))
            depth = float(np.nanmedian(depths)) if depths is not None and np.size(depths) else np.nan
            axes[1].scatter(amp, depth, color=colors.get(label, "tab:blue"))
            axes[1].annotate(str(unit), (amp, depth), fontsize=7)
    axes[1].set(title="amplitude vs depth", xlabel="peak-to-trough (µV)", ylabel="depth (µm)")
    shown = sorted((u for u in units if u[4] is not None), key=lambda u: -float(np.ptp(u[4])))[:WAVEFORMS_SHOWN]
    rate = part.recording.ap_sample_rate
    for unit, label, _n, _d, wave in shown:
        t = (np.arange(wave.size) - wave.size / 2) / rate * 1e3
        axes[2].plot(t, wave, label=f"unit {unit} ({label})")
    axes[2].set(title="mean waveforms (peak channel)", xlabel="ms", ylabel="µV")
    if shown:
        axes[2].legend(fontsize=7)
    title = "mean waveforms on the probe"
    if shown:  # the largest unit, each stored channel drawn at its site
        unit = shown[0][0]
        sites = _on_probe(ctx, part, unit)
        scale = 15.0 / max(1e-9, max((float(np.ptp(w)) for _x, _y, w in sites), default=1.0))
        for x, y, w in sites:
            axes[3].plot(x + np.linspace(-12, 12, w.size), y + w * scale, color="tab:blue", linewidth=0.9)
        title = f"unit {unit}: mean waveform at each stored site"
    axes[3].set(title=title, xlabel="x (µm)", ylabel="y (µm)")
    fig.suptitle(f"{part.key}  —  {len(units)} units, {duration:.1f} s", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def unit_summary_markdown(png: bytes) -> str:
    """Markdown that shows ``png`` inline (a base64 data URI)."""
    return f"![unit summary](data:image/png;base64,{base64.b64encode(png).decode()})"
