"""``brody_assets.ephys.spikeglx`` on real files: the demo drives' recordings and hand-broken copies.

Every reader fix and every bad input of issue 11: numbers agree with spikeinterface's
``read_spikeglx``, the measured rate is kept, ``~snsGeomMap`` metas and probes without a 3A/3B
marker read fine, and each broken file set raises ``RecordingError`` naming the file and problem.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from brody_assets.demo.drives import (
    AP_SAMPLE_RATE,
    DEFECTS,
    DEMO_PLAN,
    LF_SAMPLE_RATE,
    build_demo_drives,
    demo_plan,
    load_ground_truth,
)
from brody_assets.demo.spikeglx_writer import AP_UV_PER_BIT, LF_UV_PER_BIT
from brody_assets.ephys.errors import EphysInputError, RecordingError
from brody_assets.ephys.spikeglx import (
    NP1_3A,
    NP1_3B,
    NP2_SS,
    _as_slice,
    channel_positions,
    element_lfp_channels,
    iter_lf_chunks,
    probe_type_of,
    read_ap_windows,
    read_meta,
    read_recording,
)

DURATION = 0.3


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("glx")
    rows = [("Adrian", f"A{300 + i}", dt.date(2020, 2, 1 + i)) for i in range(len(DEMO_PLAN))]
    manifest_path = base / "drives_manifest.json"
    manifest = build_demo_drives(
        base / "archive", base / "cup", demo_plan(rows), seed=11, duration_s=DURATION,
        manifest_path=manifest_path,
    )  # fmt: skip
    return base / "archive", base / "cup", manifest, manifest_path


def _ingestible(manifest: list[dict]) -> list[tuple[dict, dict]]:
    return [(m, p) for m in manifest if m["defect"] is None for p in m["probes"]]


def _by(manifest: list[dict], *, defect: str | None = None, variant: str | None = None) -> dict:
    (found,) = [m for m in manifest if m["defect"] == defect and m["variant"] == variant][:1]
    return found


def _copy_probe(archive: Path, probe: dict, dest_root: Path) -> Path:
    """Copy one probe folder into a fresh archive root; return the new .ap.meta path."""
    dest = dest_root / probe["raw_dir"]
    shutil.copytree(archive / probe["raw_dir"], dest)
    return dest_root / probe["ap_meta"]


def _edit_meta(path: Path, **changes: str | None) -> None:
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        key = line.split("=", 1)[0]
        if key in changes:
            if changes[key] is not None:
                out.append(f"{key}={changes.pop(key)}")
            else:
                changes.pop(key)
        else:
            out.append(line)
    out += [f"{k}={v}" for k, v in changes.items() if v is not None]
    path.write_text("\n".join(out) + "\n")


# ------------------------------------------------------------------ the demo recordings


def test_every_ingestible_demo_recording_reads_with_its_ground_truth(demo):
    archive, _, manifest, _ = demo
    seen_variants = set()
    for m, p in _ingestible(manifest):
        rec = read_recording(archive / p["ap_meta"], archive)
        seen_variants.add(m["variant"])
        assert rec.serial == p["serial"]
        assert rec.probe_type == p["probe_type"] == NP1_3B
        assert rec.probe_part == "NP1000"
        assert rec.imec_index == p["probe_index"]
        # P30: the measured rate, not the nominal 30000 params.py states
        assert (
            rec.ap_sample_rate
            == p["ap_sampling_rate"]
            == AP_SAMPLE_RATE
            != p["nominal_sampling_rate"]
        )
        assert rec.lf_sample_rate == pytest.approx(LF_SAMPLE_RATE)
        assert rec.n_saved_channels == p["n_channels"] == 385
        assert rec.n_neural_channels == p["n_neural_channels"] == 384
        assert np.array_equal(rec.neural_channels, np.arange(384))
        assert rec.n_samples == p["ap_samples"] and rec.lf_n_samples == p["lf_samples"]
        assert rec.duration_s == pytest.approx(p["duration_s"])
        assert np.all(rec.ap_uv_per_bit == p["ap_uv_per_bit"])
        assert np.all(rec.lf_uv_per_bit == p["lf_uv_per_bit"])
        assert element_lfp_channels(rec).size == p["lfp_electrodes"] == 43
        assert rec.recording_datetime == dt.datetime.fromisoformat(m["recording_datetime"])
        assert rec.file_size_bytes == (archive / p["ap_bin"]).stat().st_size
        assert rec.lf_meta == archive / p["lf_meta"] and rec.lf_bin == archive / p["lf_bin"]
        # NP 1.0 bank 0: channel c sits at column c % 2, row c // 2
        assert rec.electrodes == [(0, c % 2, c // 2, 1) for c in range(384)]
    assert {"geom_map", "kilosort4", None} <= seen_variants
    assert sum(1 for m, _ in _ingestible(manifest) if len(m["probes"]) == 2) == 2


def test_readers_agree_with_spikeinterface(demo):
    from spikeinterface.extractors import read_spikeglx

    archive, _, manifest, _ = demo
    for _, p in _ingestible(manifest):
        rec = read_recording(archive / p["ap_meta"], archive)
        for band, rate, gains, n in (
            ("ap", rec.ap_sample_rate, rec.ap_uv_per_bit, rec.n_samples),
            ("lf", rec.lf_sample_rate, rec.lf_uv_per_bit, rec.lf_n_samples),
        ):
            si = read_spikeglx(archive / p["raw_dir"], stream_id=f"imec{p['probe_index']}.{band}")
            assert si.get_sampling_frequency() == pytest.approx(rate, abs=1e-9)
            assert si.get_num_channels() == rec.n_neural_channels
            assert si.get_num_samples() == n
            assert np.allclose(si.get_channel_gains(), gains)
            assert si.get_probe().annotations["serial_number"] == rec.serial


def test_geom_map_meta_gives_the_same_electrodes_and_the_old_reader_does_not(demo):
    """P34: SpikeGLX >= 20230202 writes ~snsGeomMap only; 0.2.11 has no shank map then."""
    from element_array_ephys.readers.spikeglx import SpikeGLXMeta

    archive, _, manifest, _ = demo
    p = _by(manifest, variant="geom_map")["probes"][0]
    meta = read_meta(archive / p["ap_meta"])
    assert "~snsGeomMap" in meta and "~snsShankMap" not in meta
    rec = read_recording(archive / p["ap_meta"], archive)
    assert rec.electrodes == [(0, c % 2, c // 2, 1) for c in range(384)]
    assert SpikeGLXMeta(archive / p["ap_meta"]).shankmap is None  # what broke 0.2.11


def test_channel_positions_from_probeinterface_agree_with_the_electrodes(demo):
    from brody_assets.demo.spikeglx_writer import np1_positions

    archive, _, manifest, _ = demo
    for _, p in _ingestible(manifest):
        rec = read_recording(archive / p["ap_meta"], archive)
        positions = channel_positions(rec)
        assert np.array_equal(positions, np1_positions())
        rows = np.array([row for _, _, row, _ in rec.electrodes])
        assert np.array_equal(positions[:, 1], rows * 20.0)


def test_spike_troughs_sit_at_the_ground_truth_samples(demo):
    archive, _, manifest, manifest_path = demo
    m, p = _ingestible(manifest)[0]
    rec = read_recording(archive / p["ap_meta"], archive)
    truth = load_ground_truth(manifest_path, p)
    for unit in p["units"]:
        samples = truth[unit["cluster_id"]]
        samples = samples[(samples >= 32) & (samples <= rec.n_samples - 32)]
        windows = read_ap_windows(rec, samples, np.array([unit["peak_channel"]]))
        assert windows.shape == (samples.size, 64, 1)
        mean = windows[:, :, 0].mean(axis=0)
        assert abs(int(np.argmin(mean)) - 32) <= 1  # the trough is at the stated sample (± noise)
        assert mean[32] < -0.6 * unit["amplitude_uv"]
        assert mean[12] > -0.2 * unit["amplitude_uv"] and mean[52] > -0.2 * unit["amplitude_uv"]


# ------------------------------------------------------------------ bounded reads


def test_lf_chunks_cover_the_file_in_microvolts(demo):
    archive, _, manifest, _ = demo
    _, p = _ingestible(manifest)[0]
    rec = read_recording(archive / p["ap_meta"], archive)
    cols = element_lfp_channels(rec)
    raw = np.fromfile(rec.lf_bin, dtype="<i2").reshape(-1, 385)
    chunks = list(iter_lf_chunks(rec, cols, chunk_samples=100))
    assert [start for start, _ in chunks] == list(range(0, rec.lf_n_samples, 100))
    assert chunks[-1][1].shape == (rec.lf_n_samples - chunks[-1][0], 43)
    got = np.concatenate([c for _, c in chunks])
    assert got.dtype == np.float32
    assert np.allclose(got, raw[:, cols] * LF_UV_PER_BIT)


@pytest.mark.parametrize("cols", [list(range(383, -1, -9)), list(range(0, 384, 9)), [7], [3, 3], [1, 2, 4],
                                  [10, 8, 6, 4, 2, 0], list(range(384))])
def test_evenly_spaced_columns_are_picked_as_a_view_with_the_same_values(cols):
    data = np.arange(5 * 385).reshape(5, 385)
    pick = _as_slice(np.asarray(cols))
    assert np.array_equal(data[:, pick], data[:, cols])
    regular = len(cols) > 1 and len(set(np.diff(cols))) == 1 and cols[1] != cols[0]
    assert isinstance(pick, slice) == regular


def test_a_file_that_shrinks_while_read_fails_naming_it_and_leaves_no_reader_thread(demo, tmp_path):
    archive, _, manifest, _ = demo
    _, p = _ingestible(manifest)[0]
    meta = _copy_probe(archive, p, tmp_path)
    rec = read_recording(meta, tmp_path)
    before = threading.active_count()
    chunks = iter_lf_chunks(rec, element_lfp_channels(rec), chunk_samples=40)
    next(chunks)
    chunks.close()  # a caller that stops early: the reader thread ends with the generator
    assert threading.active_count() == before
    os.truncate(rec.lf_bin, rec.lf_bin.stat().st_size // 2)  # the file shrinks after its meta was read
    with pytest.raises(RecordingError, match="short read at byte .*shrank") as caught:
        sum(c.shape[0] for _, c in iter_lf_chunks(rec, element_lfp_channels(rec), chunk_samples=40))
    assert str(rec.lf_bin) in str(caught.value)
    assert threading.active_count() == before


def test_reused_chunk_buffers_give_the_same_numbers(demo):
    """reuse=True (what the LFP step uses: buffers taken in turn, each chunk valid until the next
    is asked for) hands out exactly the chunks of fresh arrays."""
    archive, _, manifest, _ = demo
    _, p = _ingestible(manifest)[0]
    rec = read_recording(archive / p["ap_meta"], archive)
    cols = element_lfp_channels(rec)
    fresh = [(s, c) for s, c in iter_lf_chunks(rec, cols, chunk_samples=37)]
    reused = [(s, c.copy()) for s, c in iter_lf_chunks(rec, cols, chunk_samples=37, reuse=True)]
    assert len(fresh) == len(reused) > 5
    assert all(a == b and np.array_equal(x, y) for (a, x), (b, y) in zip(fresh, reused, strict=True))


def test_lf_chunks_use_memory_of_a_chunk_not_of_the_file(demo, tmp_path):
    archive, _, manifest, _ = demo
    _, p = _ingestible(manifest)[0]
    # a recording 8x as long: memory at a fixed chunk size must not follow
    meta = _copy_probe(archive, p, tmp_path)
    stem = meta.name[: -len(".ap.meta")]
    lf_bin = meta.parent / f"{stem}.lf.bin"
    one = lf_bin.read_bytes()
    lf_bin.write_bytes(one * 8)
    lf_meta = meta.parent / f"{stem}.lf.meta"
    _edit_meta(lf_meta, fileSizeBytes=str(len(one) * 8), fileTimeSecs=None)
    peaks = []
    for root, path in ((archive, archive / p["ap_meta"]), (tmp_path, meta)):
        rec = read_recording(path, root)
        tracemalloc.start()
        total = sum(c.shape[0] for _, c in iter_lf_chunks(rec, np.arange(384), chunk_samples=50))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert total == rec.lf_n_samples
    chunk_bytes = 50 * 385 * 2 + 50 * 384 * 4 * 2
    assert peaks[1] < 3 * chunk_bytes < len(one) * 8
    assert peaks[1] < 1.2 * peaks[0] + 4096


def test_ap_windows_match_the_file_and_refuse_windows_past_the_ends(demo):
    archive, _, manifest, _ = demo
    _, p = _ingestible(manifest)[0]
    rec = read_recording(archive / p["ap_meta"], archive)
    raw = np.fromfile(rec.ap_bin, dtype="<i2").reshape(-1, 385)
    cols = np.array([3, 100, 383])
    got = read_ap_windows(rec, np.array([32, 500, rec.n_samples - 32]), cols)
    for i, s in enumerate([32, 500, rec.n_samples - 32]):
        assert np.allclose(got[i], raw[s - 32 : s + 32][:, cols] * AP_UV_PER_BIT)
    with pytest.raises(ValueError, match="leave the file"):
        read_ap_windows(rec, np.array([31]), cols)
    with pytest.raises(ValueError, match="leave the file"):
        read_ap_windows(rec, np.array([rec.n_samples - 31]), cols)
    with pytest.raises(ValueError, match="channel indices"):
        read_ap_windows(rec, np.array([100]), np.array([384]))


# ------------------------------------------------------------------ probe types (P34)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"imDatPrb_type": "0", "typeImEnabled": "1"}, NP1_3B),
        ({"imDatPrb_type": "0"}, NP1_3B),  # no 3A/3B marker at all
        ({"imDatPrb_pn": "NP1000"}, NP1_3B),  # no type, an NP 1.0 part number
        ({"imDatPrb_pn": "PRB_1_4_0480_1"}, NP1_3B),
        ({"typeImEnabled": "1"}, NP1_3B),
        ({"typeEnabled": "1", "imProbeOpt": "3"}, NP1_3A),
        ({"imDatPrb_type": "21"}, NP2_SS),
        ({"imDatPrb_pn": "NP2000"}, NP2_SS),
    ],
)
def test_probe_type_without_markers(fields, expected):
    assert probe_type_of(fields, Path("x.ap.meta")) == expected


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"imDatPrb_type": "1030", "imDatPrb_pn": "NP1030"}, "imDatPrb_type=1030"),
        ({"imDatPrb_pn": "XYZ9"}, "imDatPrb_pn='XYZ9'"),
        ({}, "no imDatPrb_type, imDatPrb_pn"),
        ({"imDatPrb_type": "zero"}, "imDatPrb_type='zero' is not an integer"),
    ],
)
def test_unknown_probe_types_are_errors(fields, match):
    with pytest.raises(RecordingError, match=match) as info:
        probe_type_of(fields, Path("/a/x.ap.meta"))
    assert str(info.value).startswith("/a/x.ap.meta: ")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "defect", [d for d, spec in DEFECTS.items() if spec.error == "RecordingError"]
)
def test_each_broken_demo_recording_fails_naming_file_and_problem(demo, defect):
    archive, _, manifest, _ = demo
    m = _by(manifest, defect=defect)
    p = m["probes"][0]
    with pytest.raises(RecordingError, match=DEFECTS[defect].match) as info:
        read_recording(archive / p["ap_meta"], archive)
    err = info.value
    assert isinstance(err, EphysInputError) and isinstance(err, ValueError)
    named = {
        "truncated_bin": p["ap_bin"],
        "half_copied": p["ap_bin"],
        "garbled_meta": p["ap_meta"],
        "channel_mismatch": p["ap_meta"],
        "unknown_probe": p["ap_meta"],
        "symlink_outside": p["ap_bin"],
    }[defect]
    assert err.path == archive / named
    assert str(err).startswith(f"{archive / named}: ")


def test_missing_meta(demo, tmp_path):
    archive, _, manifest, _ = demo
    meta = _copy_probe(archive, _ingestible(manifest)[0][1], tmp_path)
    meta.unlink()
    with pytest.raises(RecordingError, match="the .meta file is missing") as info:
        read_recording(meta, tmp_path)
    assert info.value.path == meta


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"imSampRate=30000.5\nthis line has no equals sign\n", r"line 2 is not key=value"),
        (b"imSampRate=30000.5\nimSampRate=30000\n", "appears twice"),
        (b"imSampRate=30000.5\n\x00\x00\x00", "NUL bytes"),
        (b"=30000.5\n", "line 1 is not key=value"),
    ],
)
def test_garbled_metas(tmp_path, content, match):
    path = tmp_path / "r_g0_t0.imec0.ap.meta"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=match):
        read_meta(path)


def test_meta_values_may_hold_equals_signs_and_blank_lines(tmp_path):
    path = tmp_path / "r_g0_t0.imec0.ap.meta"
    path.write_text("userNotes=gain=500 bank=0\n\nimSampRate=30000.5\n")
    assert read_meta(path) == {"userNotes": "gain=500 bank=0", "imSampRate": "30000.5"}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"nSavedChans": "386"}, "nSavedChans=386"),
        ({"snsApLfSy": "383,0,1"}, "snsApLfSy=383,0,1 sums to 384"),
        ({"snsSaveChanSubset": "0:382,768"}, "383 neural"),
        ({"imSampRate": None}, "no imSampRate"),
        ({"imSampRate": "fast"}, "imSampRate='fast' is not a number"),
        ({"fileCreateTime": "yesterday"}, "fileCreateTime='yesterday'"),
        ({"imDatPrb_sn": ""}, "no probe serial"),
        ({"~snsShankMap": "(1,2,480)(0:0:0:1)"}, "~snsShankMap lists 1 sites for 384"),
        ({"~snsShankMap": None}, "neither ~snsShankMap nor ~snsGeomMap"),
        ({"fileSizeBytes": "100"}, "not a whole number"),
        ({"fileTimeSecs": "9.5"}, "fileTimeSecs × imSampRate"),
    ],
)
def test_inconsistent_ap_metas(demo, tmp_path, changes, match):
    archive, _, manifest, _ = demo
    meta = _copy_probe(archive, _ingestible(manifest)[0][1], tmp_path)
    _edit_meta(meta, **changes)
    with pytest.raises(RecordingError, match=match) as info:
        read_recording(meta, tmp_path)
    assert info.value.path == meta


def test_half_copied_lf_pair_and_a_longer_bin(demo, tmp_path):
    archive, _, manifest, _ = demo
    meta = _copy_probe(archive, _ingestible(manifest)[0][1], tmp_path)
    stem = meta.name[: -len(".ap.meta")]
    (meta.parent / f"{stem}.lf.meta").unlink()
    with pytest.raises(RecordingError, match="half-copied") as info:
        read_recording(meta, tmp_path)
    assert info.value.path == meta.parent / f"{stem}.lf.meta"
    shutil.copy(archive / _ingestible(manifest)[0][1]["lf_meta"], meta.parent)
    with open(meta.parent / f"{stem}.ap.bin", "ab") as f:
        f.write(b"\0" * 770)
    with pytest.raises(RecordingError, match="longer than fileSizeBytes") as info:
        read_recording(meta, tmp_path)
    assert info.value.path == meta.parent / f"{stem}.ap.bin"


def test_lf_meta_of_another_probe(demo, tmp_path):
    archive, _, manifest, _ = demo
    meta = _copy_probe(archive, _ingestible(manifest)[0][1], tmp_path)
    stem = meta.name[: -len(".ap.meta")]
    _edit_meta(meta.parent / f"{stem}.lf.meta", imDatPrb_sn="99999999999")
    with pytest.raises(RecordingError, match="differs from the AP meta"):
        read_recording(meta, tmp_path)


def test_symlinks_inside_the_root_are_fine_outside_refused(demo, tmp_path):
    archive, _, manifest, _ = demo
    p = _ingestible(manifest)[0][1]
    root = tmp_path / "root"
    meta = _copy_probe(archive, p, root / "real")
    link = root / "linked"
    link.symlink_to(meta.parent.parent.parent.parent.parent, target_is_directory=True)
    linked_meta = link / p["ap_meta"]
    assert read_recording(linked_meta, root).n_samples == p["ap_samples"]
    # a drive whose experimenter folder is a link to another tree
    other = tmp_path / "other_root"
    other.mkdir()
    (other / "Adrian").symlink_to(root / "real" / "Adrian", target_is_directory=True)
    with pytest.raises(RecordingError, match="outside the drive root") as info:
        read_recording(other / p["ap_meta"], other)
    assert info.value.path.name.endswith(".ap.meta")
    # one file of the set linked out of the drive
    outside = tmp_path / "outside"
    outside.mkdir()
    stem = meta.name[: -len(".ap.meta")]
    lf_bin = meta.parent / f"{stem}.lf.bin"
    os.replace(lf_bin, outside / lf_bin.name)
    lf_bin.symlink_to(outside / lf_bin.name)
    with pytest.raises(RecordingError, match="outside the drive root") as info:
        read_recording(meta, root)
    assert info.value.path == lf_bin


def test_not_a_spikeglx_meta_name(tmp_path):
    with pytest.raises(RecordingError, match="is not a SpikeGLX"):
        read_recording(tmp_path / "notes.meta", tmp_path)
    with pytest.raises(RecordingError, match="is not a SpikeGLX"):
        read_recording(tmp_path / "r_g0_t0.imec0.lf.meta", tmp_path)


def test_importing_the_readers_loads_no_heavy_reader_package():
    import subprocess
    import sys

    code = (
        "import sys, brody_assets.ephys.spikeglx, brody_assets.ephys.kilosort;"
        "print(sorted(m for m in ('spikeinterface', 'probeinterface', 'neo', 'dagster') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_meta_without_any_3a_3b_marker_is_np1_3b(demo, tmp_path):
    """P34: newer metas carry imDatPrb_type=0 / imDatPrb_pn but no typeImEnabled."""
    archive, _, manifest, _ = demo
    meta = _copy_probe(archive, _ingestible(manifest)[0][1], tmp_path)
    stem = meta.name[: -len(".ap.meta")]
    for band in ("ap", "lf"):
        _edit_meta(meta.parent / f"{stem}.{band}.meta", typeImEnabled=None, imDatPrb_type=None)
    rec = read_recording(meta, tmp_path)
    assert rec.probe_type == NP1_3B and rec.probe_part == "NP1000"


def test_a_3a_era_file_set(demo, tmp_path):
    """3A: ``.imec.`` without a probe index, imProbeSN instead of imDatPrb_sn, no type field."""
    archive, _, manifest, _ = demo
    p = _ingestible(manifest)[0][1]
    meta = _copy_probe(archive, p, tmp_path)
    stem = meta.name[: -len(".ap.meta")]
    old_stem = stem.replace(".imec0", ".imec")
    for band in ("ap", "lf"):
        for ext in ("bin", "meta"):
            (meta.parent / f"{stem}.{band}.{ext}").rename(meta.parent / f"{old_stem}.{band}.{ext}")
        _edit_meta(
            meta.parent / f"{old_stem}.{band}.meta",
            typeImEnabled=None, imDatPrb_type=None, imDatPrb_pn=None, imDatPrb_sn=None,
            imProbeSN="1234567", typeEnabled="1", imProbeOpt="3",
        )  # fmt: skip
    rec = read_recording(meta.parent / f"{old_stem}.ap.meta", tmp_path)
    assert (rec.probe_type, rec.serial, rec.imec_index, rec.probe_part) == (
        NP1_3A,
        "1234567",
        None,
        None,
    )
    assert rec.n_samples == p["ap_samples"] and rec.lf_bin.name == f"{old_stem}.lf.bin"
