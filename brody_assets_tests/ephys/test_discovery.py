"""Drive scanning on real folders: new recordings found once, copies awaited, every bad input listed
with its reason, work per tick proportional to what changed and bounded."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import pytest

from brody_assets.ephys.cup_discovery import scan_cup
from brody_assets.ephys.discovery import scan_archive
from brody_assets.ephys.discovery_store import DiscoveryStore
from brody_assets.ephys.discovery_types import DiscoveryOptions, ScanCursor
from brody_assets.ephys.filesystem import InstrumentedFileSystem
from brody_assets.ephys.matching import SessionLookup, SessionRow

D = dt.date
OLD = 1_500_000_000  # 2017: folders "not recently modified"
K1 = "Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec0/A230_2019-08-09_g0_t0.imec0"
K1B = "Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec1/A230_2019-08-09_g0_t0.imec1"


def write_recording(root: Path, key: str, size: int = 770, meta_size: int | None = None,
                    meta: bool = True, binary: bool = True, lf: bool = False) -> Path:
    folder = root / Path(key).parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / Path(key).name
    if meta:
        Path(f"{stem}.ap.meta").write_text(
            f"typeThis=imec\nnSavedChans=385\nfileSizeBytes={size if meta_size is None else meta_size}\n"
        )
    if binary:
        Path(f"{stem}.ap.bin").write_bytes(b"\0" * size)
    if lf:
        Path(f"{stem}.lf.meta").write_text(f"fileSizeBytes={size // 12}\n")
        Path(f"{stem}.lf.bin").write_bytes(b"\0" * (size // 12))
    return stem


def age(root: Path, when: float = OLD) -> None:
    """Make every folder and file look old (as on a real archive drive)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def lookup_factory(extra: list[SessionRow] = ()):
    sessions = [
        SessionRow(100, "A230", "abondy", D(2019, 8, 9), dt.timedelta(hours=10)),
        SessionRow(101, "A230", "abondy", D(2019, 8, 10), dt.timedelta(hours=9)),
        SessionRow(102, "A230", "abondy", D(2019, 8, 10), dt.timedelta(hours=15)),
        *extra,
    ]
    calls = []

    def make() -> SessionLookup:
        calls.append(1)
        return SessionLookup({"Adrian": ["abondy"], "Thomas": ["zhihaol"]}, ["A230", "A231", "T274"], sessions)

    make.calls = calls
    return make


class Drive:
    """A drive plus the sensor's state, ticked like the daemon would."""

    def __init__(self, root: Path, options: DiscoveryOptions | None = None, lookup=None) -> None:
        self.root = root
        self.cursor_json = ""
        self.store = DiscoveryStore()
        self.options = options or DiscoveryOptions()
        self.lookup = lookup or lookup_factory()
        self.fs = InstrumentedFileSystem()

    def tick(self, now: float | None = None):
        self.fs.calls.clear()
        cursor = ScanCursor.from_json(self.cursor_json)
        # the store goes through its JSON form each tick, as between two daemon ticks
        self.store = DiscoveryStore.from_json(self.store.to_json())
        result = scan_archive(self.fs, self.root, cursor, self.store, self.lookup, self.options, now=now)
        self.cursor_json = cursor.to_json()
        return result

    def reasons(self) -> dict[str, str]:
        return {e.path: e.reason_code for e in self.store.unmatched_rows()}


@pytest.fixture
def drive(tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    return Drive(root)


def test_a_new_recording_is_requested_once_after_it_settles(drive):
    write_recording(drive.root, K1, lf=True)
    first = drive.tick()
    assert first.new == [] and drive.store.pending  # seen once: wait for a second look
    second = drive.tick()
    assert [n.run_key for n in second.new] == [f"{K1}|770"]
    assert second.new[0].match.sessid == 100
    assert drive.reasons() == {}
    for _ in range(2):
        again = drive.tick()
        assert again.new == [] and not again.unmatched_changed
    assert drive.lookup.calls == [1]  # the database is asked only when something completed


def test_a_growing_bin_is_not_ingested_until_settled(drive):
    stem = write_recording(drive.root, K1, size=100, meta_size=770)
    assert drive.tick().new == []
    assert drive.reasons() == {K1 + ".ap.bin": "incomplete_copy"}
    with open(f"{stem}.ap.bin", "ab") as handle:
        handle.write(b"\0" * 300)  # still copying
    assert drive.tick().new == []
    assert "400 of 770 bytes" in drive.store.unmatched[K1 + ".ap.bin"].detail
    with open(f"{stem}.ap.bin", "ab") as handle:
        handle.write(b"\0" * 370)  # the full size, seen for the first time
    result = drive.tick()
    assert result.new == [] and result.unmatched_changed and drive.reasons() == {}
    assert [n.key for n in drive.tick().new] == [K1]


def test_every_bad_input_lands_on_the_list_with_its_reason(tmp_path, drive):
    root = drive.root
    write_recording(root, "Adrian/A231/A231_2019-08-09_g0/A231_2019-08-09_g0_t0.imec0")  # no session
    write_recording(root, "Adrian/A299/A299_2019-08-09_g0/A299_2019-08-09_g0_t0.imec0")  # no such rat
    write_recording(root, "Nobody/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0")  # no experimenter
    write_recording(root, "Adrian/A230/A230_2019-08-10_g0/A230_2019-08-10_g0_t0.imec0")  # two sessions
    write_recording(root, "Adrian/A230/A230_2019-08-09_g0/half/A230_2019-08-09_g0_t0.imec5",
                    size=500, meta_size=770)  # half-copied, not growing
    write_recording(root, "Adrian/A230/A230_2019-08-09_g0/nobin/A230_2019-08-09_g0_t0.imec6", binary=False)
    write_recording(root, "Adrian/A230/A230_2019-08-09_g0/nometa/A230_2019-08-09_g0_t0.imec7", meta=False)
    write_recording(root, "Adrian/A230/misc/recording.imec0")  # breaks every pattern
    write_recording(root, "Adrian/A230/A230_2019-08-09_g0/badmeta/A230_2019-08-09_g0_t0.imec3", size=10)
    Path(root, "Adrian/A230/A230_2019-08-09_g0/badmeta/A230_2019-08-09_g0_t0.imec3.ap.meta").write_text("garbage")
    old = root / "Athena/W055/2014-11-06_13-18-08"
    old.mkdir(parents=True)
    (old / "data.continuous").write_bytes(b"x")
    outside = tmp_path / "elsewhere" / "A230_2019-08-09_g0"
    write_recording(outside.parent, "A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0")
    (root / "Adrian/A230/linked_g0").symlink_to(outside, target_is_directory=True)
    linked = root / "Adrian/A230/A230_2019-08-09_g0/linkbin"
    linked.mkdir(parents=True)
    (linked / "A230_2019-08-09_g0_t0.imec4.ap.meta").write_text("fileSizeBytes=770\n")
    (linked / "A230_2019-08-09_g0_t0.imec4.ap.bin").symlink_to(outside / "A230_2019-08-09_g0_t0.imec0.ap.bin")
    age(root)
    for _ in range(3):
        result = drive.tick()
        assert result.new == []
    g0 = "Adrian/A230/A230_2019-08-09_g0"
    assert drive.reasons() == {
        "Adrian/A231/A231_2019-08-09_g0/A231_2019-08-09_g0_t0.imec0.ap.meta": "no_session",
        "Adrian/A299/A299_2019-08-09_g0/A299_2019-08-09_g0_t0.imec0.ap.meta": "unknown_rat",
        "Nobody/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_t0.imec0.ap.meta": "unknown_experimenter",
        "Adrian/A230/A230_2019-08-10_g0/A230_2019-08-10_g0_t0.imec0.ap.meta": "ambiguous_session",
        f"{g0}/half/A230_2019-08-09_g0_t0.imec5.ap.bin": "size_mismatch",
        f"{g0}/nobin/A230_2019-08-09_g0_t0.imec6.ap.meta": "missing_bin",
        f"{g0}/nometa/A230_2019-08-09_g0_t0.imec7.ap.bin": "missing_meta",
        "Adrian/A230/misc/recording.imec0.ap.meta": "not_spikeglx_name",
        f"{g0}/badmeta/A230_2019-08-09_g0_t0.imec3.ap.meta": "bad_meta",
        "Athena/W055/2014-11-06_13-18-08": "no_recording_files",
        "Adrian/A230/linked_g0": "symlink_outside_root",
        f"{g0}/linkbin/A230_2019-08-09_g0_t0.imec4.ap.bin": "symlink_outside_root",
    }
    ambiguous = drive.store.unmatched["Adrian/A230/A230_2019-08-10_g0/A230_2019-08-10_g0_t0.imec0.ap.meta"]
    assert "101, 102" in ambiguous.detail
    assert "500 bytes, the .meta says 770" in drive.store.unmatched[f"{g0}/half/A230_2019-08-09_g0_t0.imec5.ap.bin"].detail


def test_a_missing_root_skips_the_tick_naming_it(tmp_path):
    drive = Drive(tmp_path / "not-mounted")
    result = drive.tick()
    assert result.skip_reason and str(tmp_path / "not-mounted") in result.skip_reason
    assert "mounted" in result.skip_reason and result.new == []


def _scan_as_nobody(root: Path, store_json: str, cursor_json: str) -> tuple[str, str]:
    """Run one tick in a child process that dropped root's privileges (root reads everything)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            store, cursor = DiscoveryStore.from_json(store_json), ScanCursor.from_json(cursor_json)
            scan_archive(InstrumentedFileSystem(), root, cursor, store, lookup_factory())
            with os.fdopen(write, "w") as out:
                out.write(json.dumps([store.to_json(), cursor.to_json()]))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as incoming:
        data = incoming.read()
    os.waitpid(pid, 0)
    return tuple(json.loads(data))


def test_an_unreadable_folder_is_listed_and_retried(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="brody-perm-"))
    try:
        os.chmod(base, 0o755)
        root = base / "archive"
        write_recording(root, K1)
        locked = root / "Adrian/A230/A230_2019-08-11_g0"
        locked.mkdir()
        os.chmod(locked, 0o000)
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                if os.path.join(dirpath, name) != str(locked):
                    os.chmod(os.path.join(dirpath, name), 0o755)
        store_json, cursor_json = DiscoveryStore().to_json(), ""
        if os.geteuid() == 0:
            store_json, cursor_json = _scan_as_nobody(root, store_json, cursor_json)
        else:
            store, cursor = DiscoveryStore(), ScanCursor()
            scan_archive(InstrumentedFileSystem(), root, cursor, store, lookup_factory())
            store_json, cursor_json = store.to_json(), cursor.to_json()
        store = DiscoveryStore.from_json(store_json)
        entry = store.unmatched["Adrian/A230/A230_2019-08-11_g0"]
        assert entry.reason_code == "unreadable" and "ermission" in entry.detail
        assert "Adrian/A230/A230_2019-08-11_g0" in ScanCursor.from_json(cursor_json).retry
        os.chmod(locked, 0o755)  # fixed: the next tick lists it again and the line goes away
        cursor = ScanCursor.from_json(cursor_json)
        scan_archive(InstrumentedFileSystem(), root, cursor, store, lookup_factory())
        assert "Adrian/A230/A230_2019-08-11_g0" in store.unmatched  # now: an empty folder
        assert store.unmatched["Adrian/A230/A230_2019-08-11_g0"].reason_code == "no_recording_files"
        assert not cursor.retry
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _many_sessions(root: Path, rats: int, days: int) -> None:
    for r in range(rats):
        for d in range(days):
            day = D(2019, 1, 1) + dt.timedelta(days=d)
            run = f"A{300 + r}_{day.isoformat()}_g0"
            write_recording(root, f"Adrian/A{300 + r}/{run}/{run}_imec0/{run}_t0.imec0", size=10)


def test_ticks_do_work_proportional_to_what_changed(drive):
    drive.options.audit_per_tick = 5
    drive.options.cold_every = 1  # every rat folder every tick (the rotation: next test)
    _many_sessions(drive.root, rats=8, days=10)
    age(drive.root)
    drive.tick()
    drive.tick()  # the copies are complete; their folders leave the watch list on the next tick
    drive.tick()
    quiet = drive.tick()
    assert quiet.counts["dirs_walked"] == 0
    # root + experimenter + 8 rat stats + the audit of 5 folders (nothing ingested: unknown rats)
    assert drive.fs.calls["scandir"] == 1
    assert drive.fs.calls["stat"] == 1 + 1 + 8 + 5
    # a new session in one rat: that rat folder, the new session and its probe folder are listed
    run = "A303_2019-03-01_g0"
    write_recording(drive.root, f"Adrian/A303/{run}/{run}_imec0/{run}_t0.imec0", size=10)
    result = drive.tick()
    assert result.counts["dirs_walked"] == 3
    assert drive.fs.calls["scandir"] == 4


def test_idle_rats_are_stated_every_tenth_tick_and_their_new_sessions_still_found(drive):
    drive.options.audit_per_tick = 0
    _many_sessions(drive.root, rats=20, days=2)
    age(drive.root)  # 2017: every rat is "cold"
    for _ in range(3):
        drive.tick()
    stats = []
    for _ in range(10):
        drive.tick()
        stats.append(drive.fs.calls["stat"] - 2)  # minus the root and the experimenter folder
    assert sum(stats) == 20  # each rat folder once in 10 ticks
    assert max(stats) < 20
    run = "A317_2019-03-01_g0"
    write_recording(drive.root, f"Adrian/A317/{run}/{run}_imec0/{run}_t0.imec0", size=10)
    ticks_until_seen = next(i for i in range(1, 11) if drive.tick().counts["dirs_walked"] > 0)
    assert ticks_until_seen <= 10
    assert f"Adrian/A317/{run}/{run}_imec0/{run}_t0.imec0" in drive.store.pending


def test_a_tick_stops_at_its_budget_and_carries_on_next_tick(tmp_path):
    root = tmp_path / "archive"
    _many_sessions(root, rats=4, days=10)
    age(root)
    drive = Drive(root, DiscoveryOptions(max_entries=60, audit_per_tick=0))
    walked, ticks = 0, 0
    while True:
        result = drive.tick()
        ticks += 1
        walked += result.counts["dirs_walked"]
        assert drive.fs.total_calls <= 60 + 60  # the budget, plus the pending re-checks and tops
        if result.counts["queue_left"] == 0:
            break
        assert "left for the next tick" in " ".join(result.notes)
    assert ticks > 3
    assert walked == 4 + 40 + 40  # every rat, session and probe folder exactly once
    assert json.loads(drive.cursor_json)["queue"] == []


def test_a_recording_changed_after_ingestion_is_reported_not_reingested(drive):
    stem = write_recording(drive.root, K1)
    age(drive.root)
    drive.tick()
    assert [n.key for n in drive.tick().new] == [K1]
    with open(f"{stem}.ap.bin", "ab") as handle:
        handle.write(b"\0" * 10)
    results = [drive.tick() for _ in range(3)]  # the audit re-stats ingested recordings
    assert all(r.new == [] for r in results)
    entry = drive.store.unmatched[K1 + ".ap.bin"]
    assert entry.reason_code == "changed_after_ingestion" and "770" in entry.detail and "780" in entry.detail


def test_unmatched_recordings_are_matched_again_later(drive):
    key = "Adrian/A230/A230_2019-08-20_g0/A230_2019-08-20_g0_t0.imec0"
    write_recording(drive.root, key)
    age(drive.root)
    drive.options.rematch_every_s = 100
    drive.tick(now=1000.0)
    drive.tick(now=1001.0)
    assert drive.reasons() == {key + ".ap.meta": "no_session"}
    # the session is migrated the next night
    drive.lookup = lookup_factory([SessionRow(150, "A230", "abondy", D(2019, 8, 20))])
    assert drive.tick(now=1050.0).new == []  # not yet due
    result = drive.tick(now=1200.0)
    assert [n.match.sessid for n in result.new] == [150] and drive.reasons() == {}


def test_a_probe_folder_added_late_to_an_old_session_is_found(drive):
    write_recording(drive.root, K1)
    age(drive.root)
    drive.tick()
    drive.tick()
    write_recording(drive.root, K1B)  # the session folder's mtime moves, the rat folder's does not
    age(drive.root / "Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec1", OLD + 10)
    found = []
    for _ in range(4):
        found += [n.key for n in drive.tick().new]
    assert found == [K1B]


def test_a_database_outage_keeps_complete_recordings_for_the_next_tick(drive):
    write_recording(drive.root, K1)

    def down():
        raise ConnectionError("server gone")

    good = drive.lookup
    drive.lookup = down
    drive.tick()
    result = drive.tick()
    assert result.new == [] and "server gone" in " ".join(result.notes)
    drive.lookup = good
    assert [n.key for n in drive.tick().new] == [K1]


def test_the_cup_drive_scan_finds_the_sort_once_complete(tmp_path, drive):
    write_recording(drive.root, K1)
    drive.tick()
    drive.tick()
    cup = tmp_path / "PhysData"
    sort = cup / "NP_sorted/Adrian/A230/2019-08-09/A230_2019-08-09_g0_imec0"
    fs = InstrumentedFileSystem()
    assert scan_cup(fs, cup, drive.store).new_sorts == []
    sort.mkdir(parents=True)
    (sort / "spike_times.npy").write_bytes(b"0" * 64)
    assert scan_cup(fs, cup, drive.store).new_sorts == []  # first sight
    (sort / "spike_clusters.npy").write_bytes(b"0" * 64)  # still being written
    assert scan_cup(fs, cup, drive.store).new_sorts == []
    found = scan_cup(fs, cup, drive.store).new_sorts
    assert [(s.key, s.folder) for s in found] == [(K1, "NP_sorted/Adrian/A230/2019-08-09/A230_2019-08-09_g0_imec0")]
    assert scan_cup(fs, cup, drive.store).new_sorts == []
    assert scan_cup(fs, tmp_path / "nope", drive.store).skip_reason


def test_the_store_files_keep_everything_and_append_only_changes(tmp_path):
    from brody_assets.ephys import discovery_store
    from brody_assets.ephys.discovery_store import UnmatchedEntry

    path = tmp_path / "state" / "discovery.json"
    store = DiscoveryStore()
    for i in range(200):
        store.recordings[f"A/R/s{i}/x_g0_t0.imec0"] = {"size": i, "sessid": i}
        store.folders[f"A/R/s{i}"] = i
    store.unmatched["A/R/bad"] = UnmatchedEntry("A/R/bad", "no_recording_files", "empty folder", None, 1.0, "folder:A/R/bad")
    store.save(path)
    known = DiscoveryStore.known_path(path)
    written = known.stat().st_mtime_ns
    store.recordings["A/R/new/x_g0_t0.imec0"] = {"size": 7, "sessid": 7}
    del store.folders["A/R/s3"]
    store.save(path)
    assert known.stat().st_mtime_ns == written  # only the change was appended
    assert DiscoveryStore.log_path(path).read_text().count("\n") == 1
    discovery_store._CACHE.clear()
    again = DiscoveryStore.load(path)
    assert again.recordings == store.recordings and again.folders == store.folders
    assert again.unmatched["A/R/bad"].reason_code == "no_recording_files"
    assert DiscoveryStore.load(path) is not again  # loading without a save reads the files again
    for i in range(200):  # many changes: the log passes a quarter of the file, which is rewritten
        again.folders[f"A/R/s{i}"] = i + 1
        again.save(path)
    assert not DiscoveryStore.log_path(path).exists() or DiscoveryStore.log_path(path).stat().st_size * 4 <= known.stat().st_size
    discovery_store._CACHE.clear()
    assert DiscoveryStore.load(path).folders["A/R/s199"] == 200


def test_a_large_cursor_is_stored_compressed_and_read_back():
    cursor = ScanCursor(tops={f"Exp/R{i:03d}": 1_796_415_084_713_772_480 + i for i in range(500)}, tick=7)
    text = cursor.to_json()
    assert text.startswith("z:") and len(text) < 6000
    assert ScanCursor.from_json(text) == cursor
    assert ScanCursor.from_json("z:not-base64!") == ScanCursor()  # unreadable: start over
    assert ScanCursor.from_json(ScanCursor(tick=3).to_json()).tick == 3  # small: plain JSON


def test_a_path_dagster_cannot_take_as_partition_key_is_listed_not_requested(drive):
    key = "Adrian/A230/A230_2019-08-09_g0.../A230_2019-08-09_g0_t0.imec0"
    write_recording(drive.root, key)
    drive.tick()
    result = drive.tick()
    assert result.new == []
    entry = drive.store.unmatched[key + ".ap.meta"]
    assert entry.reason_code == "invalid_partition_key" and "'...'" in entry.detail


def test_a_changed_recording_is_ingested_afresh_only_after_its_partition_is_forgotten(drive):
    from brody_assets.ephys.discovery import forget_recording

    stem = write_recording(drive.root, K1)
    age(drive.root)
    drive.tick()
    assert [n.run_key for n in drive.tick().new] == [f"{K1}|770"]
    with open(f"{stem}.ap.bin", "ab") as handle:
        handle.write(b"\0" * 5)
    Path(f"{stem}.ap.meta").write_text("fileSizeBytes=775\n")  # a corrected copy
    assert all(drive.tick().new == [] for _ in range(3))
    assert drive.reasons()[K1 + ".ap.bin"] == "changed_after_ingestion"
    forget_recording(drive.store, K1, 0.0)  # what the sensor does once the partition is deleted
    assert drive.tick().new == []  # seen at its new size
    again = drive.tick().new
    assert [n.run_key for n in again] == [f"{K1}|775|1"] and drive.reasons() == {}
