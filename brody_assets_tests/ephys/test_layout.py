"""Every raw folder pattern of spec §2.2 is read to the right experimenter, rat, day, run and probe;
paths that cannot be read unambiguously are refused with their reason code."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath

import pytest

from brody_assets.ephys.layout import LayoutError, parse_name, parse_raw_path
from brody_assets.ephys.partitions import bin_path_of, meta_path_of, recording_key

D = dt.date
# (path of the .ap.meta, experimenter, rat, date, day letter, tags, run, probe index, insertion)
GOOD = [
    ("Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec0/A230_2019-08-09_g0_t0.imec0.ap.meta",
     "Adrian", "A230", D(2019, 8, 9), None, (), "A230_2019-08-09_g0", 0, 0),
    ("Adrian/A230/2019-07-04_g0/2019-07-04_g0_imec2/2019-07-04_g0_t0.imec2.ap.meta",
     "Adrian", "A230", D(2019, 7, 4), None, (), "2019-07-04_g0", 2, 2),
    ("Adrian/A242/2019-05-30_g0/2019-05-30_g0_t0.imec.ap.meta",
     "Adrian", "A242", D(2019, 5, 30), None, (), "2019-05-30_g0", None, 0),
    ("Adrian/A230/A230_2019_07_15/2019-07-15_g0_imec0/2019-07-15_g0_t0.imec0.ap.meta",
     "Adrian", "A230", D(2019, 7, 15), None, (), "2019-07-15_g0", 0, 0),
    ("Adrian/A241/A241_2020_01_14/A241_2020_01_14_g0/A241_2020_01_14_g0_t0.imec1.ap.meta",
     "Adrian", "A241", D(2020, 1, 14), None, (), "A241_2020_01_14_g0", 1, 1),
    ("Thomas/T274/T274_2020_12_17_g0/T274_2020_12_17_g0_t0.imec0.ap.meta",
     "Thomas", "T274", D(2020, 12, 17), None, (), "T274_2020_12_17_g0", 0, 0),
    ("Thomas/T274/T274_2020_12_13c_g0/T274_2020_12_13c_g0_t0.imec0.ap.meta",
     "Thomas", "T274", D(2020, 12, 13), "c", (), "T274_2020_12_13c_g0", 0, 0),
    ("Thomas/T305/T305_2020_10_17b/T305_2020_10_17b_g1_t0.imec0.ap.meta",
     "Thomas", "T305", D(2020, 10, 17), "b", (), "T305_2020_10_17b_g1", 0, 0),
    ("Thomas/T304/T304_2020_10_04_2.8mm_ML_g0/T304_2020_10_04_2.8mm_ML_g0_t0.imec0.ap.meta",
     "Thomas", "T304", D(2020, 10, 4), None, ("2.8mm_ML",), "T304_2020_10_04_2.8mm_ML_g0", 0, 0),
    ("Thomas/T181/T181_2019_11_11_bank0_g0/T181_2019_11_11_bank0_g0_t0.imec0.ap.meta",
     "Thomas", "T181", D(2019, 11, 11), None, ("bank0",), "T181_2019_11_11_bank0_g0", 0, 0),
    ("Thomas/T170/T170_2018_03_16/T170_2018_03_16_g0_t0.imec.ap.meta",
     "Thomas", "T170", D(2018, 3, 16), None, (), "T170_2018_03_16_g0", None, 0),
    ("Thomas/T176/T176_2018_04_20_idle/T176_2018_04_20_idle_g0_t0.imec.ap.meta",
     "Thomas", "T176", D(2018, 4, 20), None, ("idle",), "T176_2018_04_20_idle_g0", None, 0),
    ("Thomas/T227/T227_2020_03_14_idle_bank0/T227_2020_03_14_idle_bank0_g0_t0.imec.ap.meta",
     "Thomas", "T227", D(2020, 3, 14), None, ("idle_bank0",), "T227_2020_03_14_idle_bank0_g0", None, 0),
    ("Thomas/T274/T274_2020_12_04_segment0to5324/T274_2020_12_04_segment0to5324_g0_t0.imec0.ap.meta",
     "Thomas", "T274", D(2020, 12, 4), None, ("segment0to5324",), "T274_2020_12_04_segment0to5324_g0", 0, 0),
    ("Thomas/T170/T170_2018_03_16_600s/T170_2018_03_16_g0_t0.imec.ap.meta",
     "Thomas", "T170", D(2018, 3, 16), None, ("600s",), "T170_2018_03_16_g0", None, 0),
    ("Thomas/T173/T173_bank0_2018_03_19/T173_bank0_2018_03_19_g0_t0.imec.ap.meta",
     "Thomas", "T173", D(2018, 3, 19), None, ("bank0",), "T173_bank0_2018_03_19_g0", None, 0),
    ("Adrian/A230/2019-07-04 (bank 0)/2019-07-04_g0_imec1/2019-07-04_g0_t0.imec1.ap.meta",
     "Adrian", "A230", D(2019, 7, 4), None, ("(bank 0)",), "2019-07-04_g0", 1, 1),
    ("Athena/W055/W055-2014-10-02/W055-2014-10-02_g0_t0.imec.ap.meta",
     "Athena", "W055", D(2014, 10, 2), None, (), "W055-2014-10-02_g0", None, 0),
    ("Athena/W055/2014-11-06_13-18-08/2014-11-06_g0_t0.imec.ap.meta",
     "Athena", "W055", D(2014, 11, 6), None, ("13-18-08",), "2014-11-06_g0", None, 0),
    # CatGT output and a second trigger
    ("Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec0/A230_2019-08-09_g0_tcat.imec0.ap.meta",
     "Adrian", "A230", D(2019, 8, 9), None, (), "A230_2019-08-09_g0", 0, 0),
    # file directly in the rat folder: the run name alone carries the day
    ("Adrian/A230/A230_2019-08-09_g0_t1.imec0.ap.meta",
     "Adrian", "A230", D(2019, 8, 9), None, (), "A230_2019-08-09_g0", 0, 0),
]


@pytest.mark.parametrize(
    "path, experimenter, rat, date, letter, tags, run, probe, insertion", GOOD, ids=[g[0] for g in GOOD]
)
def test_every_raw_pattern_is_read(path, experimenter, rat, date, letter, tags, run, probe, insertion):
    parsed = parse_raw_path(path)
    assert (parsed.experimenter, parsed.rat_folder, parsed.date) == (experimenter, rat, date)
    assert parsed.day_letter == letter
    assert parsed.tags == tags
    assert parsed.run == run
    assert parsed.probe_index == probe
    assert parsed.insertion_number == insertion
    assert parsed.raw_dir == PurePosixPath(path).parent
    assert parsed.key == path[: -len(".ap.meta")]
    assert meta_path_of(parsed.key) == PurePosixPath(path)


BAD = [
    ("Adrian/A230/A231_2019-08-09_g0/A231_2019-08-09_g0_t0.imec0.ap.meta", "conflicting_rat"),
    ("Adrian/A230/2019-08-09_g0/2019-08-10_g0_t0.imec0.ap.meta", "conflicting_dates"),
    ("Adrian/A230/A230_2019_08_09/2019-08-10_g0_imec0/2019-08-10_g0_t0.imec0.ap.meta", "conflicting_dates"),
    ("Adrian/A230/2019-08-09_g0_imec1/2019-08-09_g0_t0.imec0.ap.meta", "conflicting_probe_index"),
    ("Adrian/A230/2019-08-09_g1/2019-08-09_g0_t0.imec0.ap.meta", "conflicting_gate"),
    ("Thomas/T274/T274_2020_12_13b/T274_2020_12_13c_g0_t0.imec0.ap.meta", "conflicting_day_letter"),
    ("Adrian/A230/2019-13-09_g0/2019-13-09_g0_t0.imec0.ap.meta", "bad_date"),
    ("Adrian/A230/misc/recording.imec0.ap.meta", "not_spikeglx_name"),
    ("Adrian/A230/misc/x_g0_t0.imec0.ap.meta", "no_date"),
    ("Adrian/x_g0_t0.imec0.ap.meta", "outside_rat_folder"),
    ("Ann/misc/notes_g0_t0.imec0.ap.meta", "no_date"),
]


@pytest.mark.parametrize("path, reason", BAD, ids=[b[0] for b in BAD])
def test_unreadable_paths_are_refused_with_a_reason(path, reason):
    with pytest.raises(LayoutError) as info:
        parse_raw_path(path)
    assert info.value.reason_code == reason
    assert str(info.value).startswith(path)
    assert info.value.detail


def test_non_rat_folders_parse_and_are_left_to_the_matcher():
    """Bench tests under Unimplanted/ and root-level folders are readable paths; the matcher
    refuses them because the experimenter or rat is unknown."""
    bench = parse_raw_path(
        "Thomas/Unimplanted/gain_noise_18005123456_2020_02_02/gain_noise_2020_02_02_g0_t0.imec0.ap.meta"
    )
    assert bench.rat_folder == "Unimplanted" and bench.date == D(2020, 2, 2)
    root_level = parse_raw_path("VGAT-ReaChR acute 2020_01_31/3mm/run1_2020_01_31_g0_t0.imec0.ap.meta")
    assert root_level.experimenter == "VGAT-ReaChR acute 2020_01_31"


def test_name_parts_of_cup_folders():
    assert parse_name("2019-07-04 (bank 0)").tags == ("(bank 0)",)
    assert parse_name("A256_2020_09_28_g0").gate == 0
    assert parse_name("A230_2019-08-09_g0_imec3").probe == 3
    assert parse_name("T305_2020_10_17b").day_letter == "b"
    assert parse_name("spikesort_2020_11_23_09_09_42_ks2jrc").date == D(2020, 11, 23)
    with pytest.raises(ValueError, match="calendar"):
        parse_name("2020_02_30")


def test_partition_key_helpers_refuse_non_meta_paths():
    assert recording_key(PurePosixPath("a/b/c_g0_t0.imec0.ap.meta")) == "a/b/c_g0_t0.imec0"
    assert bin_path_of("a/b/c_g0_t0.imec0") == PurePosixPath("a/b/c_g0_t0.imec0.ap.bin")
    for bad in ("/abs/x.ap.meta", "a/../x.ap.meta", "a/x.lf.meta", ".ap.meta"):
        with pytest.raises(ValueError):
            recording_key(bad)
