"""The ingestion engine on the real MariaDB and the demo drives: every table, numbers = ground truth."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from datajoint.blob import unpack

from brody_assets.ephys import ingest
from brody_assets.ephys.errors import EphysInputError
from brody_assets.ephys.partitions import recording_key
from brody_assets_tests.ephys.ephys_support import build_ephys_demo

OWNED = [t for step in ingest.OWNED.values() for t in step]


@pytest.fixture(scope="module")
def demo(mariadb_server, prefix_factory, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ephys_demo")
    settings, manifest = build_ephys_demo(mariadb_server, prefix_factory(), folder)
    ctx = ingest.open_context(settings)
    outcomes = {}
    for rec in manifest:
        for probe in rec["probes"]:
            key = recording_key(probe["ap_meta"])
            try:
                outcomes[key] = ingest.ingest_partition(ctx, key)
            except (EphysInputError, Exception) as error:  # noqa: BLE001 - recorded, asserted below
                outcomes[key] = error
    yield ctx, manifest, outcomes, folder / "demo"
    ctx.close()


def _probes(manifest, good: bool):
    for rec in manifest:
        if (rec["expected_error"] is None) == good:
            for probe in rec["probes"]:
                yield rec, probe, recording_key(probe["ap_meta"])


def _rows(ctx, table, key, columns="*"):
    where, args = ingest.key_where(key)
    return ctx.query(f"SELECT {columns} FROM {ctx.t(table)} WHERE {where}", args)


def _rec_key(ctx, key):
    (row,) = ctx.query(f"SELECT ratname, sessid, run, insertion_number FROM {ctx.t('EphysRecording.EphysFile')} "
                       "WHERE file_path = %s", (key + ".ap.meta",))
    return dict(zip(("ratname", "sessid", "run", "insertion_number"), row, strict=True))


def test_every_table_is_populated_for_every_good_recording(demo):
    ctx, manifest, outcomes, _ = demo
    good = list(_probes(manifest, good=True))
    variants = {rec["variant"] for rec, _, _ in good}
    assert {"geom_map", "kilosort4"} <= variants
    assert any(len(rec["probes"]) == 2 for rec, _, _ in good)  # the two-probe session
    for _rec, probe, key in good:
        assert isinstance(outcomes[key], ingest.IngestReport), (key, outcomes[key])
        rk = _rec_key(ctx, key)
        assert rk["insertion_number"] == probe["probe_index"]
        for table in OWNED:
            assert _rows(ctx, table, rk, "COUNT(*)")[0][0] > 0, (key, table)
        assert _rows(ctx, "Curation", rk, "COUNT(*)")[0][0] == 1  # one curation per clustering (P27)
        (serial,) = ctx.query(f"SELECT probe FROM {ctx.t('ProbeInsertion')} WHERE ratname = %s AND "
                              "insertion_number = %s", (rk["ratname"], rk["insertion_number"]))[0]
        assert serial == probe["serial"]


def test_two_probe_session_has_one_session_row_and_two_recordings(demo):
    ctx, manifest, _, _ = demo
    (rec,) = [r for r in manifest if len(r["probes"]) == 2]
    keys = [_rec_key(ctx, recording_key(p["ap_meta"])) for p in rec["probes"]]
    assert {k["sessid"] for k in keys} == {keys[0]["sessid"]} and {k["run"] for k in keys} == {keys[0]["run"]}
    assert sorted(k["insertion_number"] for k in keys) == [0, 1]
    session = {k: keys[0][k] for k in ("ratname", "sessid", "run")}
    assert _rows(ctx, "EphysSession", session, "COUNT(*)")[0][0] == 1


def test_units_spikes_and_times_equal_ground_truth(demo):
    ctx, manifest, _, demo_dir = demo
    for _rec, probe, key in _probes(manifest, good=True):
        rk = _rec_key(ctx, key)
        truth = np.load(demo_dir / probe["ground_truth"])
        expected = {u["cluster_id"]: u for u in probe["units"] if u["n_spikes"] > 0}
        rows = _rows(ctx, "CuratedClustering.Unit", rk, "unit, cluster_quality_label, spike_count, spike_times")
        assert {r[0] for r in rows} == set(expected), key
        rate = probe["ap_sampling_rate"]
        (stored_rate,) = _rows(ctx, "EphysRecording", rk, "sampling_rate")[0]
        assert stored_rate == pytest.approx(rate, abs=1e-3)  # the measured rate, not 30000 (P30)
        for unit, label, count, blob in rows:
            samples = truth[f"cluster_{unit}"]
            assert label == expected[unit]["expected_label"], (key, unit)
            assert count == expected[unit]["n_spikes"] == samples.size
            times = np.sort(unpack(blob))
            assert np.all(np.abs(times - np.sort(samples) / rate) <= 1 / rate), (key, unit)


def test_gains_lfp_and_waveforms(demo):
    ctx, manifest, _, _ = demo
    archive = ctx.archive_root
    for _rec, probe, key in _probes(manifest, good=True):
        rk = _rec_key(ctx, key)
        (rate,) = _rows(ctx, "LFP", rk, "lfp_sampling_rate")[0]
        n_lfp = _rows(ctx, "LFP.Electrode", rk, "COUNT(*)")[0][0]
        assert n_lfp == probe["lfp_electrodes"] == 43
        assert rate == pytest.approx(probe["lf_sampling_rate"] / 5)
        # LF gain: the stored trace's mean equals the raw LF channel's mean x lf µV/bit
        electrode, blob = _rows(ctx, "LFP.Electrode", rk, "electrode, lfp")[0]
        raw = np.fromfile(archive / probe["lf_bin"], dtype="<i2").reshape(-1, probe["n_channels"])
        assert electrode < 384  # bank 0: electrode e is readout channel e
        expected = raw[:, electrode].mean() * probe["lf_uv_per_bit"]
        assert float(np.mean(unpack(blob))) == pytest.approx(expected, rel=0.05, abs=2.0)
        # AP gain: each unit's stored peak waveform has the planted amplitude (µV)
        amps = {u["cluster_id"]: u["amplitude_uv"] for u in probe["units"] if u["n_spikes"] > 0}
        for unit, blob in _rows(ctx, "WaveformSet.PeakWaveform", rk, "unit, peak_electrode_waveform"):
            w = unpack(blob)
            assert w.dtype == np.float32 and w.ndim == 1 and w.size >= 2 * ingest.WAVEFORM_HALF_WIDTH
            assert -w.min() == pytest.approx(amps[unit], rel=0.35), (key, unit)
        per_unit = ctx.query(f"SELECT unit, COUNT(*), SUM(waveforms IS NULL) FROM {ctx.t('WaveformSet.Waveform')} "
                             "WHERE ratname=%s AND sessid=%s AND run=%s AND insertion_number=%s GROUP BY unit",
                             (rk["ratname"], rk["sessid"], rk["run"], rk["insertion_number"]))
        assert {u for u, _, _ in per_unit} == set(amps)  # every unit has a waveform
        assert all(n == ingest.WAVEFORM_NEIGHBOURS + 1 and nulls == n for _, n, nulls in per_unit)


def test_electrode_config_and_parameter_set_follow_the_element(demo):
    from element_interface.utils import dict_to_uuid

    ctx, _, _, _ = demo
    configs = dict(ctx.query(f"SELECT electrode_config_name, electrode_config_hash FROM {ctx.t('ElectrodeConfig')}"))
    assert uuid.UUID(bytes=configs["0-383"]) == uuid.UUID("6f6d8149-1603-9d2c-f884-0fdf995ec8b3")  # spec App. B
    rows = ctx.query(f"SELECT paramset_idx, clustering_method, param_set_hash, params FROM "
                     f"{ctx.t('ClusteringParamSet')}")
    assert {r[1] for r in rows} >= {"kilosort2", "kilosort4"}
    for _idx, method, digest, blob in rows:
        params = unpack(blob)
        assert "dat_path" not in params and "sample_rate" in params  # read from params.py (P28)
        assert uuid.UUID(bytes=digest) == dict_to_uuid({**params, "clustering_method": method})
    assert ingest.dict_to_uuid({"a": 1, "b": [1, 2]}) == dict_to_uuid({"a": 1, "b": [1, 2]})


def test_metrics_from_metrics_csv_or_computed(demo):
    ctx, manifest, outcomes, _ = demo
    sources = {}
    for rec, _probe, key in _probes(manifest, good=True):
        step = {s.step: s for s in outcomes[key].steps}["quality_metrics"]
        sources[rec["variant"]] = step.facts["metrics_source"]
        rk = _rec_key(ctx, key)
        for fr, pr, isi, cutoff in _rows(ctx, "QualityMetrics.Cluster", rk,
                                         "firing_rate, presence_ratio, isi_violation, amplitude_cutoff"):
            assert fr is not None and 0 < fr < 1000
            assert pr is None or 0 <= pr <= 1
            assert isi is None or isi >= 0
            assert cutoff is None or 0 <= cutoff <= 0.5
    assert sources["kilosort4"] == "spikeinterface" and sources[None] == "metrics.csv"


def test_rerun_is_a_no_op_and_replace_is_clean(demo):
    ctx, manifest, _, _ = demo
    _rec, _probe, key = next(_probes(manifest, good=True))
    rk = _rec_key(ctx, key)
    before = {t: _rows(ctx, t, rk, "COUNT(*)")[0][0] for t in OWNED}
    again = ingest.ingest_partition(ctx, key)
    assert again.inserted == 0 and all(s.skipped for s in again.steps)
    assert {t: _rows(ctx, t, rk, "COUNT(*)")[0][0] for t in OWNED} == before
    replaced = ingest.ingest_partition(ctx, key, replace=True)
    assert replaced.inserted > 0
    assert {t: _rows(ctx, t, rk, "COUNT(*)")[0][0] for t in OWNED} == before


def test_bad_inputs_fail_with_their_message_and_leave_no_rows(demo):
    ctx, manifest, outcomes, _ = demo
    bad = list(_probes(manifest, good=False))
    assert {rec["defect"] for rec, _, _ in bad} >= {
        "truncated_bin", "half_copied", "garbled_meta", "channel_mismatch", "unknown_probe",
        "missing_ks_file", "spikes_past_end", "symlink_outside"}
    for rec, _probe, key in bad:
        error = outcomes[key]
        assert type(error).__name__ == rec["expected_error"]["error"], (key, error)
        assert rec["expected_error"]["match"] in str(error)
        assert str(Path(key).parent) in str(error) or Path(key).parent.name in str(error)  # names the file
        for table in OWNED:
            n = ctx.query(f"SELECT COUNT(*) FROM {ctx.t(table)} t JOIN {ctx.t('EphysSession')} s USING "
                          "(ratname, sessid, run) WHERE s.session_dir = %s", (rec["session_dir"],))[0][0]
            assert n == 0, (key, table)


def test_changed_probe_serial_is_reported_not_hidden(demo):
    ctx, manifest, _, _ = demo
    _rec, probe, key = next(_probes(manifest, good=True))
    rk = _rec_key(ctx, key)
    ingest.delete_partition(ctx, rk)
    where = "ratname = %s AND insertion_number = %s"
    args = (rk["ratname"], rk["insertion_number"])
    ctx.query(f"INSERT INTO {ctx.t('Probe')} (probe, probe_type) VALUES ('17131306102', 'neuropixels 1.0 - 3B')")
    ctx.query(f"UPDATE {ctx.t('ProbeInsertion')} SET probe = '17131306102' WHERE {where}", args)
    try:
        with pytest.raises(ingest.ProbeChangedError) as caught:
            ingest.ingest_partition(ctx, key)
        assert "17131306102" in str(caught.value) and probe["serial"] in str(caught.value)
        assert all(_rows(ctx, t, rk, "COUNT(*)")[0][0] == 0 for t in OWNED)
    finally:
        ctx.query(f"UPDATE {ctx.t('ProbeInsertion')} SET probe = %s WHERE {where}", (probe["serial"], *args))
        ingest.ingest_partition(ctx, key)
    assert json.dumps(_rows(ctx, "EphysRecording.EphysFile", rk, "file_path")) == json.dumps([[key + ".ap.meta"]])


@pytest.mark.parametrize("chunk", [1, 7, 1000, 50000])
def test_lfp_decimation_is_exact_across_chunks(chunk):
    """Streaming polyphase decimation = the zero-padded centred FIR of the whole trace, every q-th
    sample: no phase shift, nothing lost or doubled at chunk boundaries."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12_347, 3)).astype(np.float32)
    decimator = ingest.Decimator(5, ingest.LFP_FIR_TAPS, 3)
    y = np.concatenate([decimator.push(x[i:i + chunk]) for i in range(0, len(x), chunk)] + [decimator.flush()])
    h, d = decimator.h_rev[::-1].astype(np.float64), decimator.delay
    reference = np.stack([np.convolve(np.pad(x[:, c].astype(np.float64), (d, d)), h, mode="valid")[::5]
                          for c in range(3)], axis=1)
    assert y.shape == reference.shape == (-(-len(x) // 5), 3)
    assert np.abs(y - reference).max() < 1e-5
    tone = np.sin(2 * np.pi * 20 * np.arange(25_000) / 2500.0)[:, None].astype(np.float32)  # 20 Hz passes
    kept = ingest.Decimator(5, ingest.LFP_FIR_TAPS, 1)
    out = np.concatenate([kept.push(tone), kept.flush()])[100:-100, 0]
    assert np.abs(out).max() == pytest.approx(1.0, abs=0.01)
    alias = np.sin(2 * np.pi * 400 * np.arange(25_000) / 2500.0)[:, None].astype(np.float32)  # 400 Hz is cut
    cut = ingest.Decimator(5, ingest.LFP_FIR_TAPS, 1)
    assert np.abs(np.concatenate([cut.push(alias), cut.flush()])[100:-100]).max() < 0.01


def test_statements_stay_under_the_packet_and_an_oversized_row_says_how_far_to_raise_it():
    rows = [{"lfp": np.zeros(1000, np.float32)} for _ in range(10)]  # 4000 bytes each
    batches = list(ingest.rows.batches(rows, ingest.rows.nbytes("lfp"), limit=10_000, max_packet=1 << 20, table="LFP.Electrode"))
    assert [len(b) for b in batches] == [2, 2, 2, 2, 2]
    with pytest.raises(ingest.PacketTooSmall, match="LFP.Electrode.*raise it to at least"):
        list(ingest.rows.batches(rows, ingest.rows.nbytes("lfp"), limit=10_000, max_packet=6000, table="LFP.Electrode"))


def test_a_sort_that_appears_later_fills_the_clustering_tables(demo):
    """The cup sensor's case: ingested before Kilosort ran (raw tables only), sorted later."""
    ctx, manifest, _, _ = demo
    _rec, probe, key = next(_probes(manifest, good=True))
    rk = _rec_key(ctx, key)
    folder = ctx.cup_root / probe["kilosort_dir"]
    hidden = ctx.cup_root.parent / "sort-not-copied-yet"  # off the cup drive
    ingest.delete_partition(ctx, rk)
    folder.rename(hidden)
    try:
        early = ingest.ingest_partition(ctx, key)
        skipped = {s.step: s.skipped for s in early.steps}
        assert all("no Kilosort output" in skipped[s] for s in
                   ("clustering", "curated_clustering", "waveform_set", "quality_metrics"))
        assert _rows(ctx, "LFP.Electrode", rk, "COUNT(*)")[0][0] == 43
        assert _rows(ctx, "Clustering", rk, "COUNT(*)")[0][0] == 0
    finally:
        hidden.rename(folder)
    later = ingest.ingest_partition(ctx, key)
    inserted = {s.step: s.rows for s in later.steps}
    assert inserted["lfp"] == 0 and inserted["ephys_recording"] == 0
    assert all(inserted[s] > 0 for s in ("clustering", "curated_clustering", "waveform_set", "quality_metrics"))
    assert _rows(ctx, "Curation", rk, "COUNT(*)")[0][0] == 1


def test_the_checks_fail_on_wrong_rows(demo):
    """Each check on the tables passes on the ingested rows and fails when the rows are wrong."""
    import dataclasses

    from brody_assets.ephys import checks

    ctx, manifest, _, _ = demo
    _rec, _probe, key = next(_probes(manifest, good=True))
    part = ingest.prepare(ctx, key)
    where, args = ingest.key_where(part.rec_key)
    assert checks.lfp_electrode_count(ctx, part).passed
    assert checks.every_unit_has_waveform(ctx, part).passed
    assert checks.qc_metrics_plausible(ctx, part).passed
    assert checks.meta_matches_file_size(part).passed
    assert checks.spike_times_within_recording(part).passed and checks.cluster_ids_consistent(part).passed
    try:
        ctx.query(f"DELETE FROM {ctx.t('LFP.Electrode')} WHERE {where} AND electrode > 100", args)
        wrong = checks.lfp_electrode_count(ctx, part)
        assert not wrong.passed and "43 expected" in wrong.description
        ctx.query(f"DELETE FROM {ctx.t('WaveformSet.Waveform')} WHERE {where} ORDER BY unit DESC LIMIT 13", args)
        ctx.query(f"DELETE FROM {ctx.t('WaveformSet.PeakWaveform')} WHERE {where} ORDER BY unit DESC LIMIT 1", args)
        assert not checks.every_unit_has_waveform(ctx, part).passed
        ctx.query(f"UPDATE {ctx.t('QualityMetrics.Cluster')} SET firing_rate = -1 WHERE {where} LIMIT 1", args)
        assert not checks.qc_metrics_plausible(ctx, part).passed
    finally:
        ingest.ingest_partition(ctx, key, replace=True)
    ks = part.kilosort
    late = dataclasses.replace(ks, spike_samples=np.append(ks.spike_samples, part.recording.n_samples))
    assert not checks.spike_times_within_recording(dataclasses.replace(part, kilosort=late)).passed
    owner = int(ks.cluster_ids[0])  # a cluster that owns spikes loses its label
    unlabelled = dataclasses.replace(ks, labels={k: v for k, v in ks.labels.items() if k != owner})
    assert not checks.cluster_ids_consistent(dataclasses.replace(part, kilosort=unlabelled)).passed
