"""``brody_assets.ephys.kilosort`` on the demo drives' Kilosort folders and hand-broken copies.

Every fix of ``shared/spec/ephys.md`` §8.5 in the Kilosort reader (P29–P32, P34, P35), the
version-aware manifest, and each bad input raising ``KilosortError`` naming file and problem.
Spike times are compared with the generator's ground truth, to the sample.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brody_assets.demo.drives import (
    AP_SAMPLE_RATE,
    DEFECTS,
    DEMO_PLAN,
    NOMINAL_AP_RATE,
    build_demo_drives,
    demo_plan,
    load_ground_truth,
)
from brody_assets.ephys.errors import KilosortError
from brody_assets.ephys.kilosort import (
    KS2,
    KS2_REQUIRED,
    KS4,
    UNSORTED_FALLBACK,
    detect_version,
    parse_params,
    read_kilosort,
    read_labels,
)
from brody_assets.ephys.spikeglx import read_recording


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("ks")
    rows = [("Kevin", f"K{400 + i}", dt.date(2021, 3, 1 + i)) for i in range(len(DEMO_PLAN))]
    manifest_path = base / "drives_manifest.json"
    manifest = build_demo_drives(
        base / "archive", base / "cup", demo_plan(rows), seed=5, duration_s=0.4,
        manifest_path=manifest_path,
    )  # fmt: skip
    return base / "archive", base / "cup", manifest, manifest_path


def _probes(manifest, *, variant=None, defect=None):
    return [
        p
        for m in manifest
        if m["variant"] == variant and m["defect"] == defect
        for p in m["probes"]
    ]


def _sortable(manifest):
    """Probes whose Kilosort folder must read fine (clean and variants, not KS defects)."""
    ok_defects = {None} | {d for d, spec in DEFECTS.items() if spec.error == "RecordingError"}
    return [(m, p) for m in manifest if m["defect"] in ok_defects for p in m["probes"]]


def _copy(cup: Path, probe: dict, dest_root: Path) -> Path:
    dest = dest_root / probe["kilosort_dir"]
    shutil.copytree(cup / probe["kilosort_dir"], dest)
    return dest


# ------------------------------------------------------------------ demo folders


def test_every_demo_sorting_reads_with_its_ground_truth(demo):
    _, cup, manifest, manifest_path = demo
    versions = set()
    for _m, p in _sortable(manifest):
        ks = read_kilosort(cup / p["kilosort_dir"], cup)
        versions.add(ks.version)
        assert ks.version == p["kilosort_version"]
        assert ks.clustering_method == ("kilosort4" if ks.version == KS4 else "kilosort2")
        assert ks.nominal_sample_rate == NOMINAL_AP_RATE
        truth = load_ground_truth(manifest_path, p)
        units = {u["cluster_id"]: u for u in p["units"]}
        assert list(ks.cluster_ids) == sorted(units) == sorted(truth)
        for cid, samples in truth.items():
            mine = ks.spike_samples[np.asarray(ks.spike_clusters) == cid]
            assert np.array_equal(mine, samples), (p["kilosort_dir"], cid)
            assert ks.labels[cid] == units[cid]["expected_label"]
        if p["empty_cluster_id"] is not None:  # listed in the label file, owns no spike: no unit
            assert p["empty_cluster_id"] in ks.labels
            assert p["empty_cluster_id"] not in ks.cluster_ids
        assert ks.spike_samples.dtype == np.int64
        assert isinstance(ks.templates, np.memmap) and isinstance(ks.spike_clusters, np.memmap)
    assert versions == {KS2, KS4}


def test_spike_times_at_the_measured_rate_equal_the_ground_truth(demo):
    """P30: samples divided once by the recording's imSampRate (30000.5), not params.py's 30000."""
    archive, cup, manifest, manifest_path = demo
    for m, p in _sortable(manifest):
        if m["defect"] is not None:
            continue
        rec = read_recording(archive / p["ap_meta"], archive)
        ks = read_kilosort(cup / p["kilosort_dir"], cup)
        ks.validate_against(rec)
        times = ks.spike_times_s(rec.ap_sample_rate)
        truth = load_ground_truth(manifest_path, p)
        for cid, samples in truth.items():
            got = times[np.asarray(ks.spike_clusters) == cid]
            assert np.all(np.abs(got * AP_SAMPLE_RATE - samples) < 1e-6)  # the very sample
        nominal = ks.spike_times_s(ks.nominal_sample_rate)
        last = int(np.argmax(ks.spike_samples))
        assert nominal[last] - times[last] == pytest.approx(
            ks.spike_samples[last] * (1 / NOMINAL_AP_RATE - 1 / AP_SAMPLE_RATE)
        )


def test_sec_files_are_never_divided_again(demo):
    """P29: spike_times_sec.npy is seconds; 0.2.11 divided it by the sample rate once more."""
    _, cup, manifest, _ = demo
    (p,) = _probes(manifest, variant="params_quirks")
    ks = read_kilosort(cup / p["kilosort_dir"], cup)
    assert ks.spike_times_sec is not None
    assert np.allclose(ks.spike_times_sec, ks.spike_samples / NOMINAL_AP_RATE)
    assert ks.spike_times_sec.max() > 0.1  # seconds, not seconds / 30000
    assert np.array_equal(ks.spike_times_s(AP_SAMPLE_RATE), ks.spike_samples / AP_SAMPLE_RATE)
    with pytest.raises(ValueError, match="sample_rate must be positive"):
        ks.spike_times_s(0)


def test_params_quirks_parse_and_the_old_parser_fails(demo):
    """P31: comments, blank lines, '=' in a value, list literals."""
    from element_array_ephys.readers.kilosort import Kilosort

    _, cup, manifest, _ = demo
    (p,) = _probes(manifest, variant="params_quirks")
    params = parse_params(cup / p["kilosort_dir"] / "params.py")
    assert params["dat_path"].startswith("D:/SGL_DATA/gain=500/")
    assert params["tags"] == ["ks2", "jrc"]
    assert params["n_channels_dat"] == 385 and params["hp_filtered"] is False
    assert params["sample_rate"] == 30000.0
    with pytest.raises(ValueError):
        _ = Kilosort(cup / p["kilosort_dir"]).data


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("sample_rate = 30000\nimport os\n", "line 2 is not 'name = value'"),
        ("sample_rate = 30000\nx = open('f')\n", "line 2: x is not a literal"),
        ("sample_rate = = 3\n", "not valid Python \\(line 1\\)"),
        ("a, b = 1, 2\n", "line 1 is not 'name = value'"),
    ],
)
def test_bad_params_files(tmp_path, text, match):
    path = tmp_path / "params.py"
    path.write_text(text)
    with pytest.raises(KilosortError, match=match) as info:
        parse_params(path)
    assert info.value.path == path


# ------------------------------------------------------------------ versions (P35)


def test_kilosort4_folders_read_and_the_old_reader_rejects_them(demo):
    from element_array_ephys.readers.kilosort import Kilosort

    _, cup, manifest, _ = demo
    for variant in ("kilosort4", "kilosort4_phy"):
        (p,) = _probes(manifest, variant=variant)
        folder = cup / p["kilosort_dir"]
        assert detect_version(folder) == KS4
        assert not (folder / "template_features.npy").exists()
        ks = read_kilosort(folder, cup)
        assert ks.metrics is None and ks.mean_waveforms is None
        with pytest.raises(FileNotFoundError, match="template_feature"):
            Kilosort(folder)
    (p,) = _probes(manifest, variant="kilosort4")
    ks = read_kilosort(cup / p["kilosort_dir"], cup)
    assert ks.label_file.name == "cluster_group.tsv" and ks.label_column == "KSLabel"
    (p,) = _probes(manifest, variant="kilosort4_phy")
    assert (cup / p["kilosort_dir"] / "template_ind.npy").exists()
    assert not (cup / p["kilosort_dir"] / "whitening_mat.npy").exists()


def test_manifest_depends_on_the_version(demo, tmp_path):
    _, cup, manifest, _ = demo
    ks2 = _copy(cup, _probes(manifest)[0], tmp_path / "a")
    assert detect_version(ks2) == KS2
    (ks2 / "template_features.npy").unlink()
    (ks2 / "whitening_mat_inv.npy").unlink()
    with pytest.raises(
        KilosortError, match="Kilosort 2/2.5/3 folder: template_features.npy, whitening_mat_inv.npy"
    ) as info:
        read_kilosort(ks2, tmp_path / "a")
    assert info.value.path == ks2 / "template_features.npy"
    ks4 = _copy(cup, _probes(manifest, variant="kilosort4")[0], tmp_path / "b")
    (ks4 / "spike_clusters.npy").unlink()
    with pytest.raises(KilosortError, match="Kilosort 4 folder: spike_clusters.npy"):
        read_kilosort(ks4, tmp_path / "b")
    assert set(KS2_REQUIRED) >= {"template_features.npy", "templates_ind.npy", "params.py"}


def test_missing_ks_file_defect(demo):
    _, cup, manifest, _ = demo
    (p,) = _probes(manifest, defect="missing_ks_file")
    with pytest.raises(KilosortError, match=DEFECTS["missing_ks_file"].match) as info:
        read_kilosort(cup / p["kilosort_dir"], cup)
    assert info.value.path == cup / p["kilosort_dir"] / "spike_times.npy"


def test_spikes_past_the_end_of_the_recording(demo):
    archive, cup, manifest, _ = demo
    (p,) = _probes(manifest, defect="spikes_past_end")
    rec = read_recording(archive / p["ap_meta"], archive)
    ks = read_kilosort(cup / p["kilosort_dir"], cup)
    with pytest.raises(KilosortError, match=DEFECTS["spikes_past_end"].match) as info:
        ks.validate_against(rec)
    assert info.value.path == cup / p["kilosort_dir"] / "spike_times.npy"
    assert "2 spike(s)" in str(info.value) and f"{rec.n_samples} samples" in str(info.value)


# ------------------------------------------------------------------ labels (P34, P35)


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def test_labels_unsorted_ks_label_and_unknown(tmp_path):
    _write(
        tmp_path,
        "cluster_group.tsv",
        "cluster_id\tgroup\n0\tgood\n1\tunsorted\n2\tunsorted\n3\tMUA\n",
    )
    _write(tmp_path, "cluster_KSLabel.tsv", "cluster_id\tKSLabel\n0\tmua\n1\tgood\n")
    labels = read_labels(tmp_path)
    # unsorted -> Kilosort's own label where it has one, else UNSORTED_FALLBACK
    assert labels.labels == {0: "good", 1: "good", 2: UNSORTED_FALLBACK, 3: "mua"}
    assert labels.remapped_unsorted == (1, 2) and labels.column == "group"
    labels = read_labels(tmp_path, with_spikes=[0, 1, 5])  # 5 is in no file: unsorted -> mua
    assert labels.labels[5] == UNSORTED_FALLBACK and labels.unlisted == (5,)
    _write(tmp_path, "cluster_group.tsv", "cluster_id\tgroup\n0\tgood\n7\tmaybe\n")
    with pytest.raises(KilosortError, match="cluster 7 has label 'maybe'") as info:
        read_labels(tmp_path)
    assert info.value.path == tmp_path / "cluster_group.tsv"
    _write(tmp_path, "cluster_group.tsv", "cluster_id\tgroup\n0\tgood\nx\tmua\n")
    with pytest.raises(KilosortError, match="line 3: cluster_id 'x' is not an integer"):
        read_labels(tmp_path)
    _write(tmp_path, "cluster_group.tsv", "cluster_id\tgroup\n0\tgood\n0\tmua\n")
    with pytest.raises(KilosortError, match=r"cluster id\(s\) \[0\] listed more than once"):
        read_labels(tmp_path)
    _write(tmp_path, "cluster_group.tsv", "id\tgroup\n0\tgood\n")
    with pytest.raises(KilosortError, match="has no cluster_id column"):
        read_labels(tmp_path)
    _write(tmp_path, "cluster_group.tsv", "cluster_id\tquality\n0\tgood\n")
    with pytest.raises(KilosortError, match="no 'group' or 'KSLabel' column"):
        read_labels(tmp_path)
    _write(tmp_path, "cluster_group.tsv", "cluster_id\tgroup\n0\tunsorted\n")
    _write(tmp_path, "cluster_KSLabel.tsv", "cluster_id\tKSLabel\n0\tbad\n1\tgood\n")
    with pytest.raises(KilosortError, match="cluster 0 has label 'bad'") as info:
        read_labels(tmp_path)
    assert info.value.path == tmp_path / "cluster_KSLabel.tsv"
    _write(tmp_path, "cluster_KSLabel.tsv", "cluster_id\tKSLabel\n0\tmua\n1\tgood\n")
    (tmp_path / "cluster_group.tsv").unlink()
    assert read_labels(tmp_path).labels == {0: "mua", 1: "good"}  # cluster_KSLabel.tsv alone
    (tmp_path / "cluster_KSLabel.tsv").unlink()
    with pytest.raises(KilosortError, match="no label file"):
        read_labels(tmp_path)


def test_a_cluster_with_spikes_the_label_file_does_not_list(demo, tmp_path):
    """phy saves only the clusters someone labelled: the rest are unsorted -> Kilosort's label."""
    _, cup, manifest, _ = demo
    p = _probes(manifest)[0]
    folder = _copy(cup, p, tmp_path)
    lines = (folder / "cluster_group.tsv").read_text().splitlines()
    (folder / "cluster_group.tsv").write_text("\n".join(lines[:-1]) + "\n")
    last = p["units"][-1]
    ks = read_kilosort(folder, tmp_path)
    assert ks.unlisted_clusters == (last["cluster_id"],)
    assert ks.labels[last["cluster_id"]] == last["ks_label"]
    assert last["cluster_id"] in ks.cluster_ids


def test_a_single_template_sorting_keeps_its_2d_arrays(demo, tmp_path):
    _, cup, manifest, _ = demo
    folder = _copy(cup, _probes(manifest)[0], tmp_path)
    templates = np.load(folder / "templates.npy")
    np.save(folder / "templates.npy", templates[:1])
    for name in ("pc_feature_ind.npy", "similar_templates.npy"):
        np.save(folder / name, np.load(folder / name)[:1])
    np.save(folder / "spike_templates.npy", np.zeros_like(np.load(folder / "spike_templates.npy")))
    ks = read_kilosort(folder, tmp_path)
    assert ks.pc_feature_ind.shape == (1, 32)
    assert ks.templates.shape == (1,) + templates.shape[1:]


# ------------------------------------------------------------------ QC files (P32)


def test_metrics_and_mean_waveforms_by_cluster_id_from_this_folder(demo, tmp_path):
    _, cup, manifest, _ = demo
    p = _probes(manifest)[0]
    ks = read_kilosort(cup / p["kilosort_dir"], cup)
    units = {u["cluster_id"]: u for u in p["units"]}
    assert list(ks.metrics.index) == sorted(units)
    assert {"firing_rate", "isi_viol", "amplitude_cutoff"} <= set(ks.metrics.columns)
    for cid, unit in units.items():
        wf = ks.mean_waveform_of(cid)
        assert wf.shape == (384, 82)
        assert int(np.argmax(np.abs(wf).max(axis=1))) == unit["peak_channel"]
    assert ks.mean_waveform_of(p["empty_cluster_id"]) is None
    # what pairing rows with the label file's ids by position (0.2.11) would give: wrong units
    label_ids = [int(c) for c in pd.read_csv(ks.label_file, sep="\t")["cluster_id"]]
    by_position = dict(zip(label_ids, np.asarray(ks.mean_waveforms), strict=False))
    right = [
        c
        for c in units
        if c in by_position
        and int(np.argmax(np.abs(by_position[c]).max(axis=1))) == units[c]["peak_channel"]
    ]
    assert right == [min(units)]  # only the first unit, before the empty cluster's row
    # metrics.csv of THIS folder: another curation folder's file is not read
    other = _copy(cup, p, tmp_path / "curation2")
    frame = pd.read_csv(other / "metrics.csv")
    frame["firing_rate"] = 123.0
    frame.to_csv(other / "metrics.csv", index=False)
    assert (read_kilosort(other, tmp_path / "curation2").metrics["firing_rate"] == 123.0).all()
    assert (read_kilosort(cup / p["kilosort_dir"], cup).metrics["firing_rate"] != 123.0).all()


def test_qc_files_that_do_not_fit(demo, tmp_path):
    _, cup, manifest, _ = demo
    folder = _copy(cup, _probes(manifest)[0], tmp_path)
    mean = np.load(folder / "mean_waveforms.npy")
    np.save(folder / "mean_waveforms.npy", mean[:-1])
    with pytest.raises(
        KilosortError, match="one \\(channels × samples\\) mean per cluster"
    ) as info:
        read_kilosort(folder, tmp_path)
    assert info.value.path == folder / "mean_waveforms.npy"
    np.save(folder / "mean_waveforms.npy", mean)
    (folder / "metrics.csv").write_text("unit,firing_rate\n0,1.0\n")
    with pytest.raises(KilosortError, match="metrics.csv: has no cluster_id column"):
        read_kilosort(folder, tmp_path)


# ------------------------------------------------------------------ inconsistent arrays


@pytest.mark.parametrize(
    ("name", "make", "match"),
    [
        ("spike_clusters.npy", lambda a: a[:-1], "rows but spike_times.npy has"),
        ("amplitudes.npy", lambda a: a[:-2], "rows but spike_times.npy has"),
        ("spike_templates.npy", lambda a: a + 100, "refers to template"),
        ("channel_positions.npy", lambda a: a[:-1], "does not give one \\(x, y\\)"),
        ("spike_times.npy", lambda a: a.astype(np.float64) / 30000, "not sample indices"),
        ("templates.npy", lambda a: a[:, :, :-1], "channels but channel_map.npy has"),
    ],
)
def test_arrays_that_disagree(demo, tmp_path, name, make, match):
    _, cup, manifest, _ = demo
    folder = _copy(cup, _probes(manifest)[0], tmp_path)
    np.save(folder / name, make(np.load(folder / name)))
    with pytest.raises(KilosortError, match=match) as info:
        read_kilosort(folder, tmp_path)
    assert info.value.path == folder / name


def test_garbage_npy_and_params_rate_mismatch(demo, tmp_path):
    archive, cup, manifest, _ = demo
    p = _probes(manifest)[0]
    folder = _copy(cup, p, tmp_path)
    (folder / "amplitudes.npy").write_bytes(b"not numpy at all")
    with pytest.raises(KilosortError, match="amplitudes.npy: is not a readable .npy array"):
        read_kilosort(folder, tmp_path)
    shutil.copy(cup / p["kilosort_dir"] / "amplitudes.npy", folder)
    text = (
        (folder / "params.py").read_text().replace("n_channels_dat = 385", "n_channels_dat = 384")
    )
    (folder / "params.py").write_text(text)
    rec = read_recording(archive / p["ap_meta"], archive)
    with pytest.raises(KilosortError, match="n_channels_dat = 384 but .* saves 385 channels"):
        read_kilosort(folder, tmp_path).validate_against(rec)


def test_folder_missing_or_outside_the_cup_root(demo, tmp_path):
    _, cup, manifest, _ = demo
    with pytest.raises(KilosortError, match="does not exist"):
        read_kilosort(tmp_path / "nowhere", tmp_path)
    root = tmp_path / "cup"
    root.mkdir()
    (root / "sorted").symlink_to(
        cup / _probes(manifest)[0]["kilosort_dir"], target_is_directory=True
    )
    with pytest.raises(KilosortError, match="outside the cup root"):
        read_kilosort(root / "sorted", root)
