"""The synthetic archive/cup drives: layouts, sizes, and what the real readers make of them.

Third-party readers (element-array-ephys 0.2.11's ``SpikeGLX`` and ``Kilosort``,
spikeinterface's ``read_spikeglx``) must accept the clean recordings, so the files are what real
ones look like; each defect must make our readers (``brody_assets.ephys``) raise the error the
manifest documents; the ground truth files must hold what was planted in the raw data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from element_array_ephys.readers.kilosort import Kilosort
from element_array_ephys.readers.spikeglx import SpikeGLX, SpikeGLXMeta
from spikeinterface.extractors import read_spikeglx

from brody_assets.demo.drives import (
    AP_SAMPLE_RATE,
    DEFECTS,
    DEMO_PLAN,
    LF_SAMPLE_RATE,
    NOMINAL_AP_RATE,
    OUTSIDE_DIR,
    VARIANTS,
    DemoRecording,
    build_demo_drives,
    demo_plan,
    load_ground_truth,
)
from brody_assets.demo.spikeglx_writer import np1_positions
from brody_assets.ephys import errors
from brody_assets.ephys.kilosort import read_kilosort
from brody_assets.ephys.spikeglx import read_meta, read_recording

DURATION = 0.2
A230 = DemoRecording("Adrian", "A230", dt.date(2019, 8, 9))
A241 = DemoRecording("Adrian", "A241", dt.date(2020, 1, 14), probes=2, layout="underscore")
A230_3P = DemoRecording("Adrian", "A230", dt.date(2019, 7, 4), probes=2, layout="date_only")
CLEAN = [A230, A241, A230_3P]
VARIANT = [
    DemoRecording("Kevin", "K100", dt.date(2021, 5, day), variant=variant, layout="underscore")
    for day, variant in enumerate(sorted(VARIANTS), start=1)
]
BROKEN = [
    DemoRecording("Thomas", "T274", dt.date(2020, 12, day), defect=defect)
    for day, defect in enumerate(sorted(DEFECTS), start=1)
]


@pytest.fixture(scope="module")
def drives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict], Path]:
    base = tmp_path_factory.mktemp("drives")
    manifest_path = base / "manifest.json"
    manifest = build_demo_drives(
        base / "archive",
        base / "cup",
        CLEAN + VARIANT + BROKEN,
        seed=7,
        duration_s=DURATION,
        manifest_path=manifest_path,
    )
    return base / "archive", base / "cup", manifest, manifest_path


def _entry(manifest: list[dict], rec: DemoRecording) -> dict:
    (found,) = [
        m
        for m in manifest
        if (m["ratname"], m["date"], m["layout"]) == (rec.ratname, rec.date.isoformat(), rec.layout)
    ]
    return found


def _defect(manifest: list[dict], defect: str) -> dict:
    (found,) = [m for m in manifest if m["defect"] == defect]
    return found


def _variant(manifest: list[dict], variant: str) -> dict:
    (found,) = [m for m in manifest if m["variant"] == variant]
    return found


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_files_land_at_the_lab_layouts(drives):
    archive, cup, manifest, _ = drives
    a230 = _entry(manifest, A230)["probes"][0]
    # ephys.md Appendix B: the lab's stored EphysFile row and clustering_output_dir
    assert a230["ap_meta"] == (
        "Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec0/A230_2019-08-09_g0_t0.imec0.ap.meta"
    )
    assert a230["kilosort_dir"] == "Adrian/A230/2019-08-09/A230_2019-08-09_g0_imec0"
    under = _entry(manifest, A241)
    assert under["session_dir"] == "Adrian/A241/A241_2020_01_14/A241_2020_01_14_g0"
    assert [p["raw_dir"].rsplit("/", 1)[1] for p in under["probes"]] == [
        "A241_2020_01_14_g0_imec0",
        "A241_2020_01_14_g0_imec1",
    ]
    assert under["probes"][1]["kilosort_dir"].startswith(
        "Adrian/A241/A241_2020_01_14/A241_2020_01_14_g0_imec1/spikesort_"
    )
    assert under["probes"][1]["kilosort_dir"].endswith("_ks2jrc")
    dated = _entry(manifest, A230_3P)
    assert dated["probes"][1]["ap_bin"] == (
        "Adrian/A230/2019-07-04_g0/2019-07-04_g0_imec1/2019-07-04_g0_t0.imec1.ap.bin"
    )
    assert dated["probes"][1]["kilosort_dir"] == "Adrian/A230/2019-07-04/2019-07-04_g0_imec1"
    for m in manifest:
        for rel in m["archive_files"]:
            assert (archive / rel).is_file(), rel
        for rel in m["cup_files"]:
            assert (cup / rel).is_file(), rel
    # nothing but what the manifest lists
    listed = {rel for m in manifest for rel in m["archive_files"]}
    assert set(_tree(archive)) == listed
    assert set(_tree(cup)) == {rel for m in manifest for rel in m["cup_files"]}


def test_manifest_file_equals_return_value(drives):
    _, _, manifest, manifest_path = drives
    assert json.loads(manifest_path.read_text()) == manifest
    assert {m["defect"] for m in manifest} == {None, *DEFECTS}
    assert {m["variant"] for m in manifest} == {None, *VARIANTS}
    for m in manifest:
        spec = DEFECTS.get(m["defect"])
        assert m["expected_error"] == ({"error": spec.error, "match": spec.match} if spec else None)
        for p in m["probes"]:
            assert (p["ap_sampling_rate"], p["nominal_sampling_rate"]) == (30000.5, 30000)
            assert (p["ap_uv_per_bit"], p["lf_uv_per_bit"]) == (2.34375, 4.6875)
            assert p["lfp_electrodes"] == 43 and p["n_neural_channels"] == 384


def test_ground_truth_files_hold_the_planted_spike_trains(drives):
    archive, cup, manifest, manifest_path = drives
    for m in manifest:
        for p in m["probes"]:
            truth = load_ground_truth(manifest_path, p)
            assert sorted(truth) == [u["cluster_id"] for u in p["units"]]
            for u in p["units"]:
                assert truth[u["cluster_id"]].size == u["n_spikes"]
                assert np.all(np.diff(truth[u["cluster_id"]]) > 0)
            if m["defect"] in ("missing_ks_file", "spikes_past_end"):
                continue
            spikes = np.load(cup / p["kilosort_dir"] / "spike_times.npy")
            clusters = np.load(cup / p["kilosort_dir"] / "spike_clusters.npy")
            for cid, samples in truth.items():
                assert np.array_equal(spikes[clusters == cid], samples)
    # without a manifest path there is no ground-truth file to point at
    bare = build_demo_drives(
        archive.parent / "bare_a", archive.parent / "bare_c", [A230], seed=7, duration_s=0.1
    )
    assert bare[0]["probes"][0]["ground_truth"] is None
    with pytest.raises(ValueError, match="without a manifest path"):
        load_ground_truth(manifest_path, bare[0]["probes"][0])


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_raises_its_documented_error(drives, defect):
    archive, cup, manifest, _ = drives
    m = _defect(manifest, defect)
    spec = DEFECTS[defect]
    p = m["probes"][0]
    error = getattr(errors, spec.error)
    with pytest.raises(error, match=spec.match) as info:
        rec = read_recording(archive / p["ap_meta"], archive)
        read_kilosort(cup / p["kilosort_dir"], cup).validate_against(rec)
    assert str(info.value).startswith(str(archive if spec.error == "RecordingError" else cup))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_ingests_with_our_readers(drives, variant):
    archive, cup, manifest, _ = drives
    for p in _variant(manifest, variant)["probes"]:
        rec = read_recording(archive / p["ap_meta"], archive)
        ks = read_kilosort(cup / p["kilosort_dir"], cup)
        ks.validate_against(rec)
        assert ks.version == p["kilosort_version"]
        assert {c: ks.labels[c] for c in ks.cluster_ids} == {
            u["cluster_id"]: u["expected_label"] for u in p["units"]
        }
        assert ks.nominal_sample_rate == NOMINAL_AP_RATE != rec.ap_sample_rate


def test_demo_plan_gives_each_session_its_recording():
    rows = [("Adrian", f"A{500 + i}", dt.date(2020, 1, 1 + i)) for i in range(len(DEMO_PLAN) + 2)]
    plan = demo_plan(rows)
    assert len(plan) == len(DEMO_PLAN)  # the extra sessions get nothing
    assert [r.defect for r in plan if r.defect] == list(DEFECTS)
    assert {r.variant for r in plan if r.variant} == set(VARIANTS)
    assert [r.probes for r in plan].count(2) == 1
    assert demo_plan(rows[:2]) == plan[:2]


def test_bin_sizes_match_samples_and_meta(drives):
    archive, _, manifest, _ = drives
    for m in manifest:
        for p in m["probes"]:
            for band in ("ap", "lf"):
                expected = p[f"{band}_samples"] * 385 * 2
                if not (m["defect"] == "garbled_meta" and band == "ap"):
                    assert int(read_meta(archive / p[f"{band}_meta"])["fileSizeBytes"]) == expected
                if m["defect"] == "half_copied" and band == "ap":
                    assert not (archive / p["ap_bin"]).exists()
                    continue
                size = (archive / p[f"{band}_bin"]).stat().st_size
                if m["defect"] == "truncated_bin" and band == "ap":
                    assert size == p["defect_detail"]["actual_bytes"] < expected
                else:
                    assert size == expected
    assert manifest[0]["probes"][0]["ap_samples"] == 6000
    assert manifest[0]["probes"][0]["lf_samples"] == 500


@pytest.mark.parametrize("rec", CLEAN + VARIANT, ids=lambda r: r.variant or r.layout)
def test_spikeinterface_opens_clean_streams(drives, rec):
    archive, _, manifest, _ = drives
    for p in _entry(manifest, rec)["probes"]:
        for band, rate in (("ap", AP_SAMPLE_RATE), ("lf", LF_SAMPLE_RATE)):
            recording = read_spikeglx(
                archive / p["raw_dir"], stream_id=f"imec{p['probe_index']}.{band}"
            )
            assert recording.get_num_channels() == 384
            assert recording.get_sampling_frequency() == pytest.approx(rate, abs=1e-5)
            assert recording.get_num_samples() == p[f"{band}_samples"]
            assert recording.get_total_duration() == pytest.approx(p["duration_s"], rel=1e-6)
            assert recording.get_probe().annotations["serial_number"] == p["serial"]
            assert np.array_equal(recording.get_channel_locations(), np1_positions())


def test_spikeinterface_sees_both_probes_of_a_session(drives):
    archive, _, manifest, _ = drives
    from spikeinterface.extractors import get_neo_streams

    streams, _ = get_neo_streams("spikeglx", archive / _entry(manifest, A241)["session_dir"])
    assert {"imec0.ap", "imec0.lf", "imec1.ap", "imec1.lf"} <= set(streams)


@pytest.mark.parametrize("rec", CLEAN, ids=lambda r: r.layout)
def test_element_spikeglx_reader_accepts_clean_files(drives, rec):
    archive, _, manifest, _ = drives
    serials = set()
    for p in _entry(manifest, rec)["probes"]:
        glx = SpikeGLX(archive / p["raw_dir"])
        assert str(glx.apmeta.probe_SN) == p["serial"]
        serials.add(p["serial"])
        assert glx.apmeta.probe_model == "neuropixels 1.0 - 3B"
        assert glx.apmeta.meta["imSampRate"] == pytest.approx(AP_SAMPLE_RATE)
        assert glx.ap_timeseries.shape == (p["ap_samples"], 385)
        assert glx.lf_timeseries.shape == (p["lf_samples"], 385)
        assert len(glx.apmeta.shankmap["data"]) == 384
        # the element's LFP keeps every 9th recorded LF channel: ~43 electrodes on NP 1.0
        assert glx.lfmeta.recording_channels[-1::-9].size == 43
        assert glx.get_channel_bit_volts("ap")[0] == pytest.approx(2.34375)
        assert glx.get_channel_bit_volts("lf")[0] == pytest.approx(4.6875)
    assert len(serials) == rec.probes  # probes of one session are told apart by serial


@pytest.mark.parametrize("rec", CLEAN, ids=lambda r: r.layout)
def test_element_kilosort_reader_reports_planted_units(drives, rec):
    archive, cup, manifest, _ = drives
    for p in _entry(manifest, rec)["probes"]:
        ks = Kilosort(cup / p["kilosort_dir"])
        units = p["units"]
        listed = sorted(
            [(u["cluster_id"], u["label"]) for u in units] + [(p["empty_cluster_id"], "noise")]
        )
        assert [
            tuple(x) for x in zip(ks.data["cluster_ids"], ks.data["cluster_groups"], strict=True)
        ] == listed
        assert {"good", "mua", "noise"} <= set(ks.data["cluster_groups"])
        assert ks.data["params"]["sample_rate"] == 30000.0
        ks.extract_spike_depths()
        ap = SpikeGLX(archive / p["raw_dir"]).ap_timeseries
        for u in units:
            mask = ks.data["spike_clusters"] == u["cluster_id"]
            assert mask.sum() == u["n_spikes"] >= 1
            assert ks.get_best_channel(u["cluster_id"])[0] == u["peak_channel"]
            assert ks.data["spike_depths"][mask] == pytest.approx(u["depth_um"], abs=20)
            # the spikes are really in the raw data at the stated samples and channel
            troughs = ap[ks.data["spike_times"][mask].astype(int), u["peak_channel"]]
            assert troughs.mean() < -0.6 * u["amplitude_uv"] / 2.34375


def test_defect_truncated_bin(drives):
    archive, _, manifest, _ = drives
    p = _defect(manifest, "truncated_bin")["probes"][0]
    glx = SpikeGLX(archive / p["raw_dir"])
    with pytest.raises(OSError, match="File size error"):
        _ = glx.ap_timeseries
    recording = read_spikeglx(archive / p["raw_dir"], stream_id="imec0.ap")
    assert recording.get_num_samples() == p["ap_samples"] * 3 // 4  # silently shorter
    assert glx.apmeta.recording_duration == pytest.approx(p["duration_s"], abs=1e-5)


def test_defect_symlink_outside_points_to_the_cup_drive(drives):
    archive, cup, manifest, _ = drives
    p = _defect(manifest, "symlink_outside")["probes"][0]
    link = archive / p["ap_bin"]
    assert link.is_symlink()
    assert link.resolve() == (cup / OUTSIDE_DIR / p["ap_bin"]).resolve()
    assert link.stat().st_size == p["ap_samples"] * 385 * 2  # the data are fine; the place is not


def test_variant_geom_map_is_read_by_spikeinterface_not_by_the_element(drives):
    archive, _, manifest, _ = drives
    p = _variant(manifest, "geom_map")["probes"][0]
    meta = SpikeGLXMeta(archive / p["ap_meta"])
    assert "~snsShankMap" not in meta.meta and "~snsGeomMap" in meta.meta
    assert meta.shankmap is None
    with pytest.raises(TypeError, match="not subscriptable"):
        # what EphysRecording.make does with it in 0.2.11
        [(s, c, r) for s, c, r, _ in meta.shankmap["data"]]
    recording = read_spikeglx(archive / p["raw_dir"], stream_id="imec0.ap")
    assert recording.get_num_channels() == 384  # newer readers understand the geometry map
    assert recording.get_channel_locations()[1].tolist() == [48.0, 0.0]


def test_variant_kilosort4_is_rejected_by_the_element(drives):
    _, cup, manifest, _ = drives
    for variant in ("kilosort4", "kilosort4_phy"):
        folder = cup / _variant(manifest, variant)["probes"][0]["kilosort_dir"]
        with pytest.raises(FileNotFoundError, match="template_feature"):
            Kilosort(folder)
        assert not (folder / "metrics.csv").exists()
    folder = cup / _variant(manifest, "kilosort4")["probes"][0]["kilosort_dir"]
    assert (folder / "cluster_group.tsv").read_text().startswith("cluster_id\tKSLabel\n")
    assert (folder / "kilosort4.log").exists()
    folder = cup / _variant(manifest, "kilosort4_phy")["probes"][0]["kilosort_dir"]
    assert set((folder / "cluster_group.tsv").read_text().split()[3::2]) == {"unsorted"}


def test_variant_params_quirks_breaks_the_element_parser(drives):
    _, cup, manifest, _ = drives
    p = _variant(manifest, "params_quirks")["probes"][0]
    ks = Kilosort(cup / p["kilosort_dir"])  # validation only checks presence
    with pytest.raises(ValueError):
        _ = ks.data


def test_same_seed_same_bytes_and_appending_keeps_others(tmp_path):
    recs = [A230, BROKEN[0]]
    first = build_demo_drives(tmp_path / "a1", tmp_path / "c1", recs, seed=3, duration_s=0.1)
    second = build_demo_drives(tmp_path / "a2", tmp_path / "c2", recs, seed=3, duration_s=0.1)
    assert first == second
    assert _tree(tmp_path / "a1") == _tree(tmp_path / "a2")
    assert _tree(tmp_path / "c1") == _tree(tmp_path / "c2")
    # a recording's files do not depend on which others are built with it
    build_demo_drives(tmp_path / "a3", tmp_path / "c3", [A230], seed=3, duration_s=0.1)
    a3 = _tree(tmp_path / "a3")
    assert a3 == {k: v for k, v in _tree(tmp_path / "a1").items() if k in a3}
    # another seed changes the signal but not the layout or the probe serial
    other = build_demo_drives(tmp_path / "a4", tmp_path / "c4", [A230], seed=4, duration_s=0.1)
    assert other[0]["archive_files"] == first[0]["archive_files"]
    assert other[0]["probes"][0]["serial"] == first[0]["probes"][0]["serial"]
    assert _tree(tmp_path / "a4") != a3


def test_refuses_unusable_roots_and_names(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=str(blocker)):
        build_demo_drives(blocker, tmp_path / "cup", [A230])
    with pytest.raises(ValueError, match=str(blocker / "sub")):
        build_demo_drives(tmp_path / "archive", blocker / "sub", [A230])
    with pytest.raises(ValueError, match="not a plain folder name"):
        DemoRecording("../..", "A230", dt.date(2019, 8, 9))
    with pytest.raises(ValueError, match="defect"):
        DemoRecording("Adrian", "A230", dt.date(2019, 8, 9), defect="bogus")
    with pytest.raises(ValueError, match="both write"):
        build_demo_drives(tmp_path / "archive", tmp_path / "cup", [A230, A230])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # refused before writing


def test_a_datetime_from_the_database_becomes_the_day():
    rec = DemoRecording("Adrian", "A230", dt.datetime(2019, 8, 9, 0, 0))
    assert rec == A230 and type(rec.date) is dt.date


def test_demo_build_picks_one_session_per_recording(mariadb_server, admin_conn, unique_prefix):
    """On the real demo legacy database: every plan entry gets a day with exactly one session of
    its rat (so the folder, which carries no day letter, matches it unambiguously)."""
    from brody_assets.demo.build import demo_recordings
    from brody_assets.demo.legacy import build_legacy_database
    from brody_assets_tests.conftest import make_settings

    build_legacy_database(admin_conn, unique_prefix, scale="small", seed=7)
    settings = make_settings(mariadb_server, unique_prefix)
    recordings = demo_recordings(admin_conn, settings)
    assert len(recordings) == len(DEMO_PLAN)
    assert [(r.probes, r.layout, r.variant, r.defect) for r in recordings] == list(DEMO_PLAN)
    bdata = settings.legacy_schema("bdata")
    with admin_conn.cursor() as cursor:
        for r in recordings:
            cursor.execute(
                f"SELECT COUNT(*) FROM `{bdata}`.sessions WHERE ratname = %s AND sessiondate = %s",
                (r.ratname, r.date),
            )
            assert cursor.fetchone()[0] == 1, r
    assert len({(r.ratname, r.date) for r in recordings}) == len(recordings)


def test_every_demo_folder_matches_its_session_and_kilosort_folder(drives):
    """The demo layouts are ones the drive matcher (``ephys.matching``) understands: each probe's
    .ap.meta matches its one session with the right insertion, and its Kilosort folder is found."""
    from brody_assets.ephys.matching import (
        SessionLookup,
        SessionRow,
        find_kilosort_folder,
        match_recording,
    )
    from brody_assets.ephys.partitions import recording_key

    _, cup, manifest, _ = drives
    sessions = {}
    for m in manifest:
        sessions.setdefault((m["ratname"], m["date"]), len(sessions) + 1000)
    lookup = SessionLookup(
        {m["experimenter"]: [m["experimenter"].lower()] for m in manifest},
        {m["ratname"] for m in manifest},
        [
            SessionRow(sessid, rat, next(m["experimenter"].lower() for m in manifest if m["ratname"] == rat),
                       dt.date.fromisoformat(day))
            for (rat, day), sessid in sessions.items()
        ],
    )  # fmt: skip
    for m in manifest:
        for p in m["probes"]:
            match = match_recording(recording_key(PurePosixPath(p["ap_meta"])), lookup)
            assert match.sessid == sessions[(m["ratname"], m["date"])]
            assert (match.ratname, match.insertion_number) == (m["ratname"], p["probe_index"])
            assert match.raw_dir.as_posix() == p["raw_dir"]
            folder = find_kilosort_folder(match, cup)
            assert folder is not None and folder.relative_to(cup).as_posix() == p["kilosort_dir"]
