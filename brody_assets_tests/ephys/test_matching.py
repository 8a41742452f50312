"""Recordings are tied to exactly one behaviour session by experimenter, rat, day and day letter,
never by a substring test; the sort is found on the cup drive by the same identity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath

import pytest

from brody_assets.ephys.matching import (
    RecordingMatch,
    SessionLookup,
    SessionRow,
    UnmatchedRecording,
    find_kilosort_folder,
    match_recording,
)
from brody_assets.migration.declare import declare_in_child
from brody_assets_tests.ephys.ephys_support import admin_settings
from brody_assets_tests.ephys.sensor_support import seed_people_and_sessions

D = dt.date
H = dt.timedelta


def _lookup() -> SessionLookup:
    sessions = [
        SessionRow(100, "A230", "abondy", D(2019, 8, 9), H(hours=10)),
        # T274 on 2020-12-13: three sessions, listed out of start order on purpose
        SessionRow(203, "T274", "zhihaol", D(2020, 12, 13), H(hours=16)),
        SessionRow(201, "T274", "zhihaol", D(2020, 12, 13), H(hours=9)),
        SessionRow(202, "T274", "zhihaol", D(2020, 12, 13), H(hours=12)),
        SessionRow(300, "T305", "zhihaol", D(2020, 12, 5), H(hours=9)),
        SessionRow(301, "T305", "zhihaol", D(2020, 12, 5), H(hours=9)),  # same start: sessid orders
        SessionRow(400, "A231", "tech01", D(2019, 8, 9), H(hours=10)),
    ]
    return SessionLookup(
        {"Adrian": ["abondy"], "Thomas": ["zhihaol"], "Tess": ["tech01"]},
        ["A230", "A231", "T274", "T305"],
        sessions,
    )


KEY_A230 = "Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec1/A230_2019-08-09_g0_t0.imec1"


def test_a_recording_matches_its_one_session():
    match = match_recording(KEY_A230, _lookup())
    assert match == RecordingMatch(
        key=KEY_A230, experimenter="Adrian", user_id="abondy", ratname="A230", sessid=100,
        session_date=D(2019, 8, 9), run="A230_2019-08-09_g0", insertion_number=1,
        raw_dir=PurePosixPath(KEY_A230).parent, day_letter=None, tags=(), probe_index=1, gate=0,
    )


def test_several_probes_and_gates_of_one_session_all_match_it():
    keys = [
        "Adrian/A230/2019-08-09_g0/2019-08-09_g0_imec0/2019-08-09_g0_t0.imec0",
        "Adrian/A230/2019-08-09_g0/2019-08-09_g0_imec2/2019-08-09_g0_t0.imec2",
        "Adrian/A230/A230_2019_08_09/A230_2019_08_09_g1/A230_2019_08_09_g1_t0.imec0",
    ]
    matches = [match_recording(k, _lookup()) for k in keys]
    assert {m.sessid for m in matches} == {100}
    assert [m.insertion_number for m in matches] == [0, 2, 0]
    assert matches[2].run == "A230_2019_08_09_g1"


@pytest.mark.parametrize("letter, sessid", [("", None), ("a", 201), ("b", 202), ("c", 203)])
def test_the_day_letter_picks_the_session_of_the_day_by_start_time(letter, sessid):
    key = f"Thomas/T274/T274_2020_12_13{letter}_g0/T274_2020_12_13{letter}_g0_t0.imec0"
    if sessid is None:
        with pytest.raises(UnmatchedRecording) as info:
            match_recording(key, _lookup())
        assert info.value.reason_code == "ambiguous_session"
        assert "201, 202, 203" in info.value.detail
    else:
        assert match_recording(key, _lookup()).sessid == sessid


def test_two_sessions_with_the_same_start_are_ordered_by_sessid():
    key = "Thomas/T305/T305_2020_12_05b_g0/T305_2020_12_05b_g0_t0.imec0"
    assert match_recording(key, _lookup()).sessid == 301


@pytest.mark.parametrize(
    "key, reason, words",
    [
        ("Thomas/T274/T274_2020_12_13d_g0/T274_2020_12_13d_g0_t0.imec0", "no_such_session_of_day", "has 3"),
        ("Thomas/T305/T305_2020_12_05_g0/T305_2020_12_05_g0_t0.imec0", "ambiguous_session", "300, 301"),
        ("Adrian/A230/A230_2019-08-10_g0/A230_2019-08-10_g0_t0.imec0", "no_session", "2019-08-10"),
        # A231's session that day was run by another user: listed, not taken
        ("Adrian/A231/A231_2019-08-09_g0/A231_2019-08-09_g0_t0.imec0", "no_session", "400 (tech01)"),
        ("Adrian/Unimplanted/gain_2020_02_02_g0/gain_2020_02_02_g0_t0.imec0", "unknown_rat", "Unimplanted"),
        ("Nobody/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0", "unknown_experimenter", "Nobody"),
        ("VGAT-ReaChR acute 2020_01_31/3mm/run_2020_01_31_g0_t0.imec0", "unknown_experimenter", "VGAT"),
        ("Adrian/A230/misc/x_g0_t0.imec0", "no_date", "date"),
        ("Adrian/A230/2019-08-09_g0/2019-08-10_g0_t0.imec0", "conflicting_dates", "2019-08-10"),
    ],
)
def test_unmatched_recordings_carry_reason_and_path(key, reason, words):
    with pytest.raises(UnmatchedRecording) as info:
        match_recording(key, _lookup())
    assert info.value.reason_code == reason
    assert words in info.value.detail
    assert info.value.key == key
    assert info.value.path == PurePosixPath(key + ".ap.meta")


def test_no_substring_matching():
    """A folder of another rat that merely contains the date is not a candidate (P16)."""
    key = "Adrian/A230/A230_2019-08-09_g0_backup_of_A231/A230_2019-08-09_g0_t0.imec0"
    assert match_recording(key, _lookup()).sessid == 100
    with pytest.raises(UnmatchedRecording) as info:
        match_recording("Adrian/A230/notes_2019-08-09/A231_2019-08-09_g0_t0.imec0", _lookup())
    assert info.value.reason_code == "conflicting_rat"


def test_experimenter_folder_case_differences():
    lookup = SessionLookup({"Adrian": ["abondy"], "ADRIAN": ["other"]}, ["A230"], [])
    with pytest.raises(UnmatchedRecording) as info:
        match_recording("adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0", lookup)
    assert info.value.reason_code == "ambiguous_experimenter"
    single = SessionLookup({"Adrian": ["abondy"]}, ["A230"],
                           [SessionRow(1, "A230", "abondy", D(2019, 8, 9), None)])
    assert match_recording("adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0", single).sessid == 1


# --- the real migrated tables ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def migrated(mariadb_server, prefix_factory):
    prefix = prefix_factory()
    settings = admin_settings(mariadb_server, prefix)
    declare_in_child(settings)
    conn = mariadb_server.admin_connect()
    seed_people_and_sessions(
        conn, settings.new_prefix,
        contacts=[("abondy", "Adrian"), ("zhihaol", "Thomas")],
        rats=[("A230", "abondy"), ("T274", "zhihaol")],
        sessions=[
            (100, "A230", "abondy", D(2019, 8, 9), "10:00:00"),
            (202, "T274", "zhihaol", D(2020, 12, 13), "12:00:00"),
            (201, "T274", "zhihaol", D(2020, 12, 13), "09:00:00"),
        ],
    )
    yield conn, settings.new_prefix
    conn.close()


def test_lookup_from_the_migrated_tables(migrated):
    conn, new_prefix = migrated
    lookup = SessionLookup.from_connection(conn, new_prefix)
    assert lookup.user_ids("Adrian") == ("abondy",)
    assert lookup.ratnames == {"A230", "T274"}
    assert match_recording(KEY_A230, lookup).sessid == 100
    key_b = "Thomas/T274/T274_2020_12_13b_g0/T274_2020_12_13b_g0_t0.imec0"
    assert match_recording(key_b, lookup).sessid == 202
    lookup.prefetch([("T274", D(2020, 12, 13)), ("A230", D(2001, 1, 1))])
    assert lookup.sessions_of("A230", D(2001, 1, 1)) == []
    with pytest.raises(UnmatchedRecording) as info:
        match_recording("Thomas/T274/T274_2020_12_13_g0/T274_2020_12_13_g0_t0.imec0", lookup)
    assert info.value.reason_code == "ambiguous_session"


# --- the Kilosort folder on the cup drive --------------------------------------------------------

def _sort(root: Path, rel: str) -> Path:
    folder = root / rel
    folder.mkdir(parents=True)
    (folder / "spike_times.npy").write_bytes(b"")
    return folder


def _match(key: str, **changes) -> RecordingMatch:
    return match_recording(key, _lookup()) if not changes else RecordingMatch(**{
        **match_recording(key, _lookup()).__dict__, **changes})


@pytest.mark.parametrize("convention", ["PhysData", "NP_sorted"])
def test_kilosort_folder_under_both_cup_conventions(tmp_path, convention):
    cup = tmp_path / "PhysData"
    base = cup / "NP_sorted"
    base.mkdir(parents=True)
    root = cup if convention == "PhysData" else base
    p0 = _sort(base, "Adrian/A230/2019-08-09/A230_2019-08-09_g0_imec0")
    p1 = _sort(base, "Adrian/A230/2019-08-09/A230_2019-08-09_g0_imec1")
    _sort(base, "Adrian/A230/2019-08-10/A230_2019-08-10_g0_imec1")  # another day
    assert find_kilosort_folder(_match(KEY_A230), root) == p1
    key0 = KEY_A230.replace("imec1", "imec0")
    assert find_kilosort_folder(_match(key0), root) == p0


def test_kilosort_folder_spikesort_runs_and_suffixes(tmp_path):
    cup = tmp_path / "cup"
    _sort(cup, "Adrian/A256/A256_2020_09_28/A256_2020_09_28_g0/spikesort_2020_11_23_09_09_42_ks2jrc")
    newest = _sort(cup, "Adrian/A256/A256_2020_09_28/A256_2020_09_28_g0/spikesort_2020_12_01_10_00_00_ks2jrc")
    lookup = SessionLookup({"Adrian": ["abondy"]}, ["A256"], [SessionRow(9, "A256", "abondy", D(2020, 9, 28))])
    match = match_recording("Adrian/A256/A256_2020_09_28/A256_2020_09_28_g0/A256_2020_09_28_g0_t0.imec", lookup)
    assert find_kilosort_folder(match, cup) == newest

    # raw T170_2018_03_16 ↔ sorted T170_2018_03_16_600s/spikesort_… (3A era, no probe index)
    sorted_600 = _sort(cup, "Thomas/T170/T170_2018_03_16_600s/spikesort_2020_09_01_00_00_00_ks2jrc")
    lookup = SessionLookup({"Thomas": ["zhihaol"]}, ["T170"], [SessionRow(5, "T170", "zhihaol", D(2018, 3, 16))])
    match = match_recording("Thomas/T170/T170_2018_03_16/T170_2018_03_16_g0_t0.imec", lookup)
    assert find_kilosort_folder(match, cup) == sorted_600


def test_kilosort_folder_respects_day_letter_probe_and_ambiguity(tmp_path):
    cup = tmp_path / "cup"
    _sort(cup, "Thomas/T274/T274_2020_12_13b/spikesort_2021_01_01_00_00_00_ks2jrc")
    c_sort = _sort(cup, "Thomas/T274/T274_2020_12_13c/spikesort_2021_01_02_00_00_00_ks2jrc")
    match = _match("Thomas/T274/T274_2020_12_13c_g0/T274_2020_12_13c_g0_t0.imec0")
    assert find_kilosort_folder(match, cup) == c_sort
    # no sort yet for the plain day, nor for probe 1 (a folder without imec<P> is probe 0's)
    assert find_kilosort_folder(_match("Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec1"), cup) is None
    # two different folders fitting equally: refused, not picked
    _sort(cup, "Adrian/A230/2019-08-09/sortA")
    _sort(cup, "Adrian/A230/2019-08-09/sortB")
    with pytest.raises(UnmatchedRecording) as info:
        find_kilosort_folder(_match("Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0"), cup)
    assert info.value.reason_code == "ambiguous_kilosort"
    assert find_kilosort_folder(_match(KEY_A230), tmp_path / "missing") is None
