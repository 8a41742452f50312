"""The ephys ingestion engine (no Dagster): one SpikeGLX file set (one partition) -> the element's tables.

Per partition: **fetch** (match the folder to its behaviour session, read and validate the SpikeGLX
file set and its Kilosort folder — nothing is written before all of it passed), **compute**, and
**insert** each table's rows for exactly this partition's keys in one transaction per table step:

=====================  ===================================================================================
step                   tables (element 0.2.11 ``ephys_chronic`` / ``probe`` under ``<prefix>ephys*``)
=====================  ===================================================================================
``probe_insertion``    ``Probe`` (if new), ``ProbeInsertion`` (rat, ``imec<P>`` index — P21)
``ephys_recording``    ``EphysSession``, ``ElectrodeConfig`` (if new), ``EphysRecording`` + ``EphysFile``
``lfp``                ``LFP`` + ``LFP.Electrode``
``clustering``         ``ClusteringParamSet`` (if new), ``ClusteringTask`` (``load``), ``Clustering``
``curated_clustering`` ``Curation`` (exactly one per clustering, P27), ``CuratedClustering`` + ``Unit``
``waveform_set``       ``WaveformSet`` + ``PeakWaveform`` + ``Waveform``
``quality_metrics``    ``QualityMetrics`` + ``Cluster`` + ``Waveform``
=====================  ===================================================================================

The element's own ``make()`` methods are not called where 0.2.11 is wrong (spec §8.5): rows are
computed here with the right numbers — spike times from samples ÷ the **measured** AP rate (P29,
P30), parameters read from the output folder's ``params.py`` (P28), metrics from the curation
folder keyed by cluster id (P32), ``~snsGeomMap`` metas and Kilosort 4 folders (P34, P35).

Sizes (P37, README "Ephys storage"): LFP keeps the element's every-9th channel (43 of 384), filtered
(linear-phase FIR) and decimated to ``LFP_TARGET_RATE`` (≈ 500 Hz), float32, streamed through a
temporary file so memory is set by the chunk, not the recording; waveforms are means on the peak
channel and its ``WAVEFORM_NEIGHBOURS`` nearest channels, from at most ``WAVEFORM_SPIKES`` spikes
per unit (``waveforms`` NULL). Blob rows go to MariaDB in statements of at most
``STATEMENT_BYTES``.

Modules: :mod:`.context` (the run's context, fetch and validate), :mod:`.rows` (statements, the
one-transaction step, shared lookups), then one module per group of steps — :mod:`.recording`,
:mod:`.lfp`, :mod:`.sorting` (clustering, curation), :mod:`.waveforms`, :mod:`.metrics`. This
module runs them in order for a partition.

Re-running a partition is a no-op for every table that already holds its rows
(``replace=True`` deletes the partition's rows first: a clean replace). A probe insertion whose
serial changed is an error naming both serials (P23), never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from brody_assets.ephys.ingest.context import EphysContext, Partition, open_context, prepare
from brody_assets.ephys.ingest.lfp import LFP_FIR_TAPS, LFP_TARGET_RATE, Decimator, insert_lfp
from brody_assets.ephys.ingest.metrics import computed_metrics, insert_quality_metrics
from brody_assets.ephys.ingest.recording import (
    ProbeChangedError,
    insert_ephys_recording,
    insert_probe_insertion,
)
from brody_assets.ephys.ingest.rows import (
    STATEMENT_BYTES,
    PacketTooSmall,
    StepResult,
    count_rows,
    dict_to_uuid,
    electrode_config,
    key_where,
    select_by_key,
)
from brody_assets.ephys.ingest.sorting import (
    insert_clustering,
    insert_curated_clustering,
    unit_table,
)
from brody_assets.ephys.ingest.waveforms import (
    WAVEFORM_HALF_WIDTH,
    WAVEFORM_NEIGHBOURS,
    WAVEFORM_SPIKES,
    insert_waveform_set,
)

__all__ = [
    "LFP_FIR_TAPS", "LFP_TARGET_RATE", "OWNED", "STATEMENT_BYTES", "STEPS", "STEP_FUNCTIONS",
    "WAVEFORM_HALF_WIDTH", "WAVEFORM_NEIGHBOURS", "WAVEFORM_SPIKES", "Decimator", "EphysContext",
    "IngestReport", "PacketTooSmall", "Partition", "ProbeChangedError", "StepResult", "computed_metrics",
    "delete_partition", "dict_to_uuid", "electrode_config", "ingest_partition", "open_context",
    "partition_rows", "prepare", "rows_count", "stored_bytes", "unit_table",
]

STEPS = ("probe_insertion", "ephys_recording", "lfp", "clustering", "curated_clustering",
         "waveform_set", "quality_metrics")
# tables each step owns for one partition, children first (deletion order)
OWNED: dict[str, tuple[str, ...]] = {
    "quality_metrics": ("QualityMetrics.Waveform", "QualityMetrics.Cluster", "QualityMetrics"),
    "waveform_set": ("WaveformSet.Waveform", "WaveformSet.PeakWaveform", "WaveformSet"),
    "curated_clustering": ("CuratedClustering.Unit", "CuratedClustering", "Curation"),
    "clustering": ("Clustering", "ClusteringTask"),
    "lfp": ("LFP.Electrode", "LFP"),
    "ephys_recording": ("EphysRecording.EphysFile", "EphysRecording"),
}

STEP_FUNCTIONS = {
    "probe_insertion": insert_probe_insertion,
    "ephys_recording": insert_ephys_recording,
    "lfp": insert_lfp,
    "clustering": insert_clustering,
    "curated_clustering": insert_curated_clustering,
    "waveform_set": insert_waveform_set,
    "quality_metrics": insert_quality_metrics,
}


def delete_partition(ctx: EphysContext, part_or_key: Partition | dict, steps: Iterable[str] = STEPS) -> int:
    """Delete this partition's rows of the owned tables (children first); shared rows (probes,
    insertions, sessions, electrode configs, parameter sets) stay. Returns the rows deleted."""
    key = part_or_key.rec_key if isinstance(part_or_key, Partition) else part_or_key
    where, args = key_where(key)
    wanted = set(steps)
    deleted = 0
    with ctx.connection.transaction:
        for step in ("quality_metrics", "waveform_set", "curated_clustering", "clustering", "lfp",
                     "ephys_recording"):
            if step in wanted:
                for table in OWNED[step]:
                    deleted += ctx.connection.query(f"DELETE FROM {ctx.t(table)} WHERE {where}", args=args).rowcount
    return deleted


@dataclass
class IngestReport:
    key: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def inserted(self) -> int:
        return sum(s.rows for s in self.steps)


def ingest_partition(ctx: EphysContext, key: str, *, replace: bool = False) -> IngestReport:
    """Every step for one partition. Bad input fails in :func:`prepare`, before any row is written;
    a failure in a later step removes this partition's rows again, so nothing partial remains."""
    part = prepare(ctx, key)
    if replace:
        delete_partition(ctx, part)
    report = IngestReport(key)
    existed = count_rows(ctx, "EphysRecording", part.rec_key) > 0
    try:
        for step in STEPS:
            report.steps.append(STEP_FUNCTIONS[step](ctx, part))
    except BaseException:
        if not existed:
            delete_partition(ctx, part)
        raise
    return report


def stored_bytes(ctx: EphysContext, part: Partition) -> dict[str, int]:
    """Bytes of blob data this partition holds per table (what it costs in MariaDB)."""
    blobs = {"LFP": ("lfp_time_stamps", "lfp_mean"), "LFP.Electrode": ("lfp",),
             "CuratedClustering.Unit": ("spike_times", "spike_sites", "spike_depths"),
             "WaveformSet.PeakWaveform": ("peak_electrode_waveform",),
             "WaveformSet.Waveform": ("waveform_mean", "waveforms")}
    out = {}
    for table, columns in blobs.items():
        total = " + ".join(f"COALESCE(SUM(LENGTH(`{c}`)), 0)" for c in columns)
        out[table] = int(select_by_key(ctx, total, table, part.rec_key)[0][0])
    return out


def rows_count(ctx: EphysContext, table: str, rec_key: dict) -> int:
    """Rows of ``table`` that belong to this recording."""
    return count_rows(ctx, table, rec_key)


def partition_rows(ctx: EphysContext, part: Partition, step: str) -> int:
    """Rows this partition holds in the tables ``step`` owns (``dagster/row_count``)."""
    if step == "probe_insertion":
        return count_rows(ctx, "ProbeInsertion", {"ratname": part.match.ratname,
                                              "insertion_number": int(part.match.insertion_number)})
    return sum(count_rows(ctx, table, part.rec_key) for table in OWNED.get(step, ()))
