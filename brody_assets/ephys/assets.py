"""The ephys assets: one dynamic partition per SpikeGLX recording, nine assets in group ``ephys``.

``ephys/raw_recording`` (the file set, validated) and ``ephys/kilosort_output`` (its Kilosort
folder, validated) write nothing; the seven table assets call one step of the engine
(:mod:`brody_assets.ephys.ingest`) each and turn its result into metadata. Every table asset
depends on both validation assets, so a broken recording or sorting fails its partition before
any row is written. Lineage starts at ``migrated/subject/rats`` and ``migrated/acquisition/sessions``.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from brody_assets.ephys.checks import CHECKS
from brody_assets.ephys.partitions import RECORDINGS
from brody_assets.resources import DataJointResource, DrivesResource

GROUP = "ephys"
RATS = AssetKey(["migrated", "subject", "rats"])
SESSIONS = AssetKey(["migrated", "acquisition", "sessions"])
NOMINAL_AP_RATE = 30000.0
# Run tag: re-ingest the partition from scratch (its rows of every ephys table are deleted first,
# in the probe_insertion step; shared rows — probes, insertions, sessions — stay).
REPLACE_TAG = "ephys/replace"


def key(name: str) -> AssetKey:
    return AssetKey(["ephys", name])


# asset -> (upstream assets, description)
ASSETS: dict[str, tuple[tuple[AssetKey, ...], str]] = {
    "raw_recording": ((RATS, SESSIONS), "The SpikeGLX file set on the archive drive (read only): meta parsed and "
                      "validated (file size = saved channels x samples x 2, probe type, measured sample rate) "
                      "and matched to its behaviour session."),
    "kilosort_output": ((key("raw_recording"),), "The recording's Kilosort folder on the cup drive, validated "
                        "against the manifest of its version (Kilosort 2/2.5/3 or 4) and against the recording."),
    "probe_insertion": ((key("raw_recording"), key("kilosort_output"), RATS),
                        "Probe (serial, type) and ProbeInsertion (rat, imec index). A changed serial for the same "
                        "insertion fails with both serials named."),
    "ephys_recording": ((key("probe_insertion"), SESSIONS), "EphysSession (behaviour session x SpikeGLX run), "
                        "the electrode config and EphysRecording + EphysFile at the measured sample rate."),
    "lfp": ((key("ephys_recording"),), "LFP of every 9th channel, filtered and decimated to ~500 Hz, float32."),
    "clustering": ((key("ephys_recording"), key("kilosort_output")),
                   "ClusteringParamSet from the folder's params.py, ClusteringTask (load) and Clustering."),
    "curated_clustering": ((key("clustering"),), "One Curation per clustering, CuratedClustering and its Units "
                           "(spike times = samples / measured rate)."),
    "waveform_set": ((key("curated_clustering"),), "Mean waveforms of each unit on its peak channel and 12 "
                     "neighbours; the unit summary picture."),
    "quality_metrics": ((key("waveform_set"),), "QualityMetrics from metrics.csv of the curation folder, else "
                        "computed with spikeinterface (firing rate, presence ratio, ISI violations, amplitude "
                        "cut-off)."),
}


def _context(datajoint: DataJointResource, drives: DrivesResource):
    from brody_assets.ephys import ingest

    drives.archive_root  # noqa: B018 - a missing or unmounted drive fails here, with its path named
    drives.cup_root  # noqa: B018
    return ingest.open_context(datajoint.settings, datajoint.connection())


def _check_result(check, asset_name: str) -> AssetCheckResult:
    _step, blocking, _what = CHECKS[check.name]
    return AssetCheckResult(
        check_name=check.name, asset_key=key(asset_name), passed=check.passed,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        description=check.description,
        metadata={k: v if isinstance(v, int | float | str) else str(v) for k, v in check.numbers.items()},
    )


def _specs(asset_name: str) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(name, asset=key(asset_name), blocking=blocking, description=what)
            for name, (step, blocking, what) in CHECKS.items() if step == asset_name]


def _match_metadata(part) -> dict:
    m = part.match
    return {"ratname": MetadataValue.text(m.ratname), "sessid": MetadataValue.int(int(m.sessid)),
            "run": MetadataValue.text(m.run), "insertion_number": MetadataValue.int(int(m.insertion_number))}


def _raw_recording() -> AssetsDefinition:
    name = "raw_recording"

    @asset(key=key(name), deps=list(ASSETS[name][0]), group_name=GROUP, partitions_def=RECORDINGS,
           description=ASSETS[name][1], kinds={"spikeglx"}, check_specs=_specs(name))
    def _asset(context: AssetExecutionContext, datajoint: DataJointResource, drives: DrivesResource):
        from brody_assets.ephys import checks, ingest

        ctx = _context(datajoint, drives)
        try:
            part = ingest.prepare(ctx, context.partition_key, with_kilosort=False)
        finally:
            ctx.close()
        rec = part.recording
        lf_bytes = rec.lf_bin.stat().st_size if rec.lf_bin else 0
        metadata = {
            **_match_metadata(part),
            "duration_s": MetadataValue.float(float(rec.duration_s)),
            "channels": MetadataValue.int(int(rec.n_saved_channels)),
            "probe_serial": MetadataValue.text(rec.serial),
            "probe_type": MetadataValue.text(rec.probe_type),
            "ap_bytes": MetadataValue.int(int(rec.file_size_bytes)),
            "lf_bytes": MetadataValue.int(int(lf_bytes)),
            "sample_rate_measured_hz": MetadataValue.float(float(rec.ap_sample_rate)),
            "sample_rate_nominal_hz": MetadataValue.float(NOMINAL_AP_RATE),
            "clock_offset_ppm": MetadataValue.float((rec.ap_sample_rate / NOMINAL_AP_RATE - 1) * 1e6),
            "lf_sample_rate_hz": MetadataValue.float(float(rec.lf_sample_rate or 0.0)),
            "recording_datetime": MetadataValue.text(rec.recording_datetime.isoformat()),
        }
        return MaterializeResult(metadata=metadata,
                                 check_results=[_check_result(checks.meta_matches_file_size(part), name)])

    return _asset


def _kilosort_output() -> AssetsDefinition:
    name = "kilosort_output"

    @asset(key=key(name), deps=list(ASSETS[name][0]), group_name=GROUP, partitions_def=RECORDINGS,
           description=ASSETS[name][1], kinds={"kilosort"}, check_specs=_specs(name))
    def _asset(context: AssetExecutionContext, datajoint: DataJointResource, drives: DrivesResource):
        import numpy as np

        from brody_assets.ephys import checks, ingest

        ctx = _context(datajoint, drives)
        try:
            part = ingest.prepare(ctx, context.partition_key)
        finally:
            ctx.close()
        ks = part.kilosort
        if ks is None:
            return MaterializeResult(
                metadata={**_match_metadata(part), "sorted": MetadataValue.bool(False),
                          "note": MetadataValue.text("no Kilosort output on the cup drive yet")},
                check_results=[AssetCheckResult(check_name=n, asset_key=key(name), passed=True,
                                                description="not sorted yet: nothing to check")
                               for n, (step, _b, _w) in CHECKS.items() if step == name])
        units = ks.cluster_ids
        labels = [ks.labels[int(u)] for u in units]
        rate = part.recording.ap_sample_rate
        nominal = float(ks.nominal_sample_rate or NOMINAL_AP_RATE)
        metadata = {
            **_match_metadata(part),
            "sorted": MetadataValue.bool(True),
            "folder": MetadataValue.path(str(ks.folder)),
            "kilosort_version": MetadataValue.text(ks.clustering_method),
            "units": MetadataValue.int(int(units.size)),
            "spikes": MetadataValue.int(int(np.asarray(ks.spike_samples).size)),
            "labels": MetadataValue.json({lab: labels.count(lab) for lab in sorted(set(labels))}),
            "sample_rate_measured_hz": MetadataValue.float(float(rate)),
            "sample_rate_nominal_hz": MetadataValue.float(nominal),
            "stretch_if_nominal_ms_per_hour": MetadataValue.float((rate / nominal - 1) * 3600e3),
        }
        return MaterializeResult(metadata=metadata, check_results=[
            _check_result(checks.spike_times_within_recording(part), name),
            _check_result(checks.cluster_ids_consistent(part), name)])

    return _asset


def _table_asset(name: str) -> AssetsDefinition:
    deps, description = ASSETS[name]

    @asset(key=key(name), deps=list(deps), group_name=GROUP, partitions_def=RECORDINGS,
           description=description, kinds={"mariadb", "datajoint"}, check_specs=_specs(name))
    def _asset(context: AssetExecutionContext, datajoint: DataJointResource, drives: DrivesResource):
        from brody_assets.ephys import checks, ingest

        ctx = _context(datajoint, drives)
        try:
            part = ingest.prepare(ctx, context.partition_key)
            replaced = 0
            if name == "probe_insertion" and context.run.tags.get(REPLACE_TAG) == "true":
                replaced = ingest.delete_partition(ctx, part)
                context.log.info(f"{REPLACE_TAG}: deleted {replaced} rows of {context.partition_key} first")
            result = ingest.STEP_FUNCTIONS[name](ctx, part)
            metadata = {
                **_match_metadata(part),
                "rows_inserted": MetadataValue.int(result.rows),
                "inserted": MetadataValue.json(result.inserted),
                "dagster/row_count": MetadataValue.int(ingest.partition_rows(ctx, part, name)),
                "seconds": MetadataValue.float(round(result.seconds, 3)),
            }
            if result.skipped:
                metadata["skipped"] = MetadataValue.text(result.skipped)
            if replaced:
                metadata["rows_replaced"] = MetadataValue.int(replaced)
            for fact, value in result.facts.items():
                metadata[fact] = (MetadataValue.json(value) if isinstance(value, dict | list)
                                  else MetadataValue.text(str(value)) if not isinstance(value, int | float)
                                  else value)
            if name in ingest.OWNED:
                stored = ingest.stored_bytes(ctx, part)
                tables = {t for t in ingest.OWNED[name]}
                metadata["blob_bytes"] = MetadataValue.int(sum(v for t, v in stored.items() if t in tables))
            check_results = []
            if name == "lfp" and part.recording.lf_bin is not None:
                check_results.append(_check_result(checks.lfp_electrode_count(ctx, part), name))
            if name == "waveform_set":
                if part.kilosort is not None:
                    check_results.append(_check_result(checks.every_unit_has_waveform(ctx, part), name))
                    from brody_assets.ephys import plots

                    png = plots.unit_summary_png(ctx, part)
                    metadata["unit_summary"] = MetadataValue.md(plots.unit_summary_markdown(png))
                    metadata["units"] = MetadataValue.int(ingest.rows_count(ctx, "CuratedClustering.Unit",
                                                                             part.rec_key))
                else:
                    check_results.append(AssetCheckResult(check_name="every_unit_has_waveform",
                                                          asset_key=key(name), passed=True,
                                                          description="not sorted yet: no units"))
            if name == "quality_metrics":
                check_results.append(_check_result(
                    checks.qc_metrics_plausible(ctx, part) if part.kilosort is not None else
                    checks.Check("qc_metrics_plausible", True, "not sorted yet: no units"), name))
            if name == "lfp" and part.recording.lf_bin is None:
                check_results.append(AssetCheckResult(check_name="lfp_electrode_count", asset_key=key(name),
                                                      passed=True, description="no LF file: no LFP"))
        finally:
            ctx.close()
        context.log.info(f"{name} {context.partition_key}: {result.inserted or result.skipped}")
        return MaterializeResult(metadata=metadata, check_results=check_results)

    return _asset


TABLE_ASSETS = ("probe_insertion", "ephys_recording", "lfp", "clustering", "curated_clustering",
                "waveform_set", "quality_metrics")


def build_ephys_assets() -> list[AssetsDefinition]:
    return [_raw_recording(), _kilosort_output(), *(_table_asset(n) for n in TABLE_ASSETS)]
