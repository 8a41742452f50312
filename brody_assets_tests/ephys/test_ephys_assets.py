"""The ephys assets as Dagster runs one partition at a time: metadata, checks, picture, no-op rerun,
bad partitions failing alone, a missing drive failing with its path."""

from __future__ import annotations

import dataclasses

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, in_process_executor

from brody_assets.ephys.assets import ASSETS
from brody_assets.ephys.definitions import INGEST_JOB, ephys_definitions
from brody_assets.ephys.partitions import RECORDINGS, recording_key
from brody_assets.resources import DataJointResource, DrivesResource
from brody_assets_tests.conftest import write_config
from brody_assets_tests.ephys.ephys_support import build_ephys_demo


def _defs(conf) -> Definitions:
    parts = ephys_definitions()
    return Definitions(
        assets=[a for a in parts.assets if any(k.path[0] == "ephys" and k.path[1] in ASSETS for k in a.keys)],
        jobs=[j for j in parts.jobs if j.name == INGEST_JOB],
        resources={"datajoint": DataJointResource(config_file=str(conf)),
                   "drives": DrivesResource(config_file=str(conf))},
        executor=in_process_executor,
    )


@pytest.fixture(scope="module")
def ran(mariadb_server, prefix_factory, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ephys_assets")
    settings, manifest = build_ephys_demo(mariadb_server, prefix_factory(), folder)
    conf = write_config(settings, folder / "dj_local_conf.json")
    defs = _defs(conf)
    instance = DagsterInstance.ephemeral()
    keys = [recording_key(p["ap_meta"]) for rec in manifest for p in rec["probes"]]
    instance.add_dynamic_partitions(RECORDINGS.name, keys)
    job = defs.resolve_job_def(INGEST_JOB)
    results = {k: job.execute_in_process(instance=instance, partition_key=k, raise_on_error=False) for k in keys}
    return settings, manifest, defs, instance, results, folder


def _mats(result):
    return {e.asset_key.path[-1]: e.event_specific_data.materialization.metadata
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def _checks(result):
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _errors(result) -> str:
    """Every failed step's error with its causes (Dagster wraps the engine's exception)."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error is not None:
                out.append(error.message)
                error = error.cause
    return "\n".join(out)


def test_good_partitions_materialize_every_asset_with_metadata(ran):
    _, manifest, _, _, results, _ = ran
    for rec in manifest:
        if rec["expected_error"] is not None:
            continue
        for probe in rec["probes"]:
            result = results[recording_key(probe["ap_meta"])]
            assert result.success, _errors(result)
            mats = _mats(result)
            assert set(mats) == set(ASSETS)
            raw = mats["raw_recording"]
            assert raw["probe_serial"].value == probe["serial"]
            assert raw["channels"].value == probe["n_channels"]
            assert raw["duration_s"].value == pytest.approx(probe["duration_s"])
            assert raw["sample_rate_measured_hz"].value == pytest.approx(probe["ap_sampling_rate"])
            assert raw["ap_bytes"].value == probe["n_channels"] * probe["ap_samples"] * 2
            units = [u for u in probe["units"] if u["n_spikes"] > 0]
            assert mats["kilosort_output"]["units"].value == len(units)
            assert mats["kilosort_output"]["spikes"].value == sum(u["n_spikes"] for u in units)
            assert mats["curated_clustering"]["units"].value == str(len(units)) or \
                mats["curated_clustering"]["units"].value == len(units)
            assert mats["lfp"]["dagster/row_count"].value == 1 + 43
            assert mats["waveform_set"]["unit_summary"].value.startswith("![unit summary](data:image/png;base64,")
            checks = _checks(result)
            assert set(checks) == {"meta_matches_file_size", "spike_times_within_recording",
                                   "cluster_ids_consistent", "lfp_electrode_count", "every_unit_has_waveform",
                                   "qc_metrics_plausible"}
            assert all(c.passed for c in checks.values()), {n: c.description for n, c in checks.items()}


def test_bad_partitions_fail_alone_with_the_file_and_problem(ran):
    _, manifest, _, _, results, _ = ran
    for rec in manifest:
        if rec["expected_error"] is None:
            continue
        key = recording_key(rec["probes"][0]["ap_meta"])
        result = results[key]
        assert not result.success
        message = _errors(result)
        assert rec["expected_error"]["match"] in message, (key, message)
        assert not any(k in _mats(result) for k in ("probe_insertion", "ephys_recording", "clustering"))


def test_rematerializing_a_partition_inserts_nothing(ran):
    _, manifest, defs, instance, _, _ = ran
    key = recording_key(manifest[0]["probes"][0]["ap_meta"])
    again = defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=instance, partition_key=key)
    assert again.success
    for name, meta in _mats(again).items():
        if "rows_inserted" in meta:
            assert meta["rows_inserted"].value == 0, name
    stored = instance.fetch_materializations(AssetKey(["ephys", "lfp"]), limit=10).records
    assert any(r.asset_materialization.partition == key for r in stored)


def test_the_replace_tag_reingests_cleanly(ran):
    from brody_assets.ephys.assets import REPLACE_TAG

    _, manifest, defs, instance, results, _ = ran
    key = recording_key(manifest[0]["probes"][0]["ap_meta"])
    first = {n: m["dagster/row_count"].value for n, m in _mats(results[key]).items() if "dagster/row_count" in m}
    again = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, partition_key=key, tags={REPLACE_TAG: "true"})
    assert again.success
    mats = _mats(again)
    assert mats["probe_insertion"]["rows_replaced"].value > 0
    assert all(mats[n]["rows_inserted"].value > 0 for n in ("ephys_recording", "lfp", "curated_clustering"))
    assert {n: m["dagster/row_count"].value for n, m in mats.items() if "dagster/row_count" in m} == first


def test_a_missing_drive_fails_the_ephys_assets_with_its_path(ran, tmp_path):
    settings, manifest, _, _, _, _ = ran
    gone = tmp_path / "not-mounted"
    conf = write_config(dataclasses.replace(settings, archive_root=gone), tmp_path / "dj_local_conf.json")
    defs = _defs(conf)
    instance = DagsterInstance.ephemeral()
    key = recording_key(manifest[0]["probes"][0]["ap_meta"])
    instance.add_dynamic_partitions(RECORDINGS.name, [key])
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(instance=instance, partition_key=key,
                                                                 raise_on_error=False)
    assert not result.success
    assert str(gone) in _errors(result) and "archive" in _errors(result)


def test_lineage_hangs_off_the_migrated_rats_and_sessions():
    from brody_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    rats, sessions = AssetKey(["migrated", "subject", "rats"]), AssetKey(["migrated", "acquisition", "sessions"])
    assert {rats, sessions} <= graph.get(AssetKey(["ephys", "raw_recording"])).parent_keys
    assert rats in graph.get(AssetKey(["ephys", "probe_insertion"])).parent_keys
    assert sessions in graph.get(AssetKey(["ephys", "ephys_recording"])).parent_keys
    for name in ("probe_insertion", "clustering"):  # no table row before both validations passed
        assert AssetKey(["ephys", "kilosort_output"]) in graph.get(AssetKey(["ephys", name])).parent_keys
    job = defs.resolve_job_def(INGEST_JOB)
    assert job.partitions_def == RECORDINGS
    assert {k.path[-1] for k in job.asset_layer.executable_asset_keys} >= set(ASSETS)
    for name in ASSETS:
        assert graph.get(AssetKey(["ephys", name])).group_name == "ephys"


def test_setup_summary_lists_recordings_units_and_refused_ones(ran, monkeypatch):
    from brody_assets.run import RunReport, ingest_recordings

    _, manifest, defs, _, _, folder = ran
    monkeypatch.setenv("BRODY_CONFIG", str(folder / "dj_local_conf.json"))
    instance = DagsterInstance.ephemeral()
    report = RunReport()
    ingest_recordings(defs, instance, report)
    probes = [(rec, p) for rec in manifest for p in rec["probes"]]
    assert len(report.recordings) == len(probes)
    text = "\n".join(report.lines())
    good = [(r, p) for r, p in probes if r["expected_error"] is None]
    assert f"{len(probes)} on the archive drive, {len(good)} ingested" in text
    for rec, probe in probes:
        ok, units, reason = report.recordings[recording_key(probe["ap_meta"])]
        assert ok == (rec["expected_error"] is None)
        if ok:
            assert units == sum(1 for u in probe["units"] if u["n_spikes"] > 0)
        else:
            assert rec["expected_error"]["match"] in reason and reason.startswith(rec["expected_error"]["error"])
            assert reason in text
    assert set(instance.get_dynamic_partitions(RECORDINGS.name)) == set(report.recordings)


def test_every_ephys_asset_carries_the_owners_and_the_mariadb_kind():
    """Owners come from custom.owners like the other domains'; the tables are MariaDB, not MySQL."""
    from brody_assets.ephys.definitions import ephys_definitions

    defs = ephys_definitions(["team:ephys", "someone@princeton.edu"])
    specs = {spec.key.to_user_string(): spec for a in defs.assets for spec in a.specs}
    assert {"ephys/raw_recording", "ephys/lfp", "ephys/unmatched_recordings"} <= set(specs)
    for name, spec in specs.items():
        assert spec.owners == ["team:ephys", "someone@princeton.edu"], name
        assert "mysql" not in spec.kinds, (name, spec.kinds)
    assert {"mariadb", "datajoint"} <= specs["ephys/lfp"].kinds
