"""The cup drive: the Kilosort output of recordings already ingested, found once it is complete.

One call of :func:`scan_cup` is one tick of the cup-drive sensor. Only rats with recordings
awaiting their sort are looked at, so the cost follows what is awaited, not the size of the drive.
No Dagster import.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from brody_assets.ephys.discovery_store import DiscoveryStore
from brody_assets.ephys.discovery_types import DiscoveryOptions, NewSort, ScanResult
from brody_assets.ephys.filesystem import FileSystem
from brody_assets.ephys.layout import parse_raw_path
from brody_assets.ephys.matching import (
    RecordingMatch,
    UnmatchedRecording,
    find_kilosort_folder,
    sorted_base,
)


def _join(root: str, rel: str) -> str:
    return os.path.join(root, *rel.split("/")) if rel else root


def match_of(key: str, known: dict) -> RecordingMatch:
    """The :class:`RecordingMatch` of an ingested recording, from its key and what the store kept."""
    raw = parse_raw_path(key + ".ap.meta")
    return RecordingMatch(
        key=key, experimenter=raw.experimenter, user_id=known["user_id"], ratname=known["ratname"],
        sessid=known["sessid"], session_date=raw.date, run=raw.run, insertion_number=raw.insertion_number,
        raw_dir=raw.raw_dir, day_letter=raw.day_letter, tags=raw.tags, probe_index=raw.probe_index,
        gate=raw.gate,
    )


# --- the cup drive: Kilosort outputs of ingested recordings --------------------------------------

def scan_cup(
    fs: FileSystem,
    cup_root: Path | str,
    store: DiscoveryStore,
    options: DiscoveryOptions | None = None,
    now: float | None = None,
) -> ScanResult:
    """One tick on the cup drive: complete Kilosort folders of ingested recordings without a sort.

    Only rats with recordings awaiting a sort are looked at: their cup rat folder is ``stat``\\ ed;
    when its mtime moved (a new day folder) it is watched for ``watch_window_s`` and the awaiting
    recordings of that rat are looked up with :func:`find_kilosort_folder`. A folder is complete
    when the sizes of its files did not change since the previous tick.
    """
    options = options or DiscoveryOptions()
    now = time.time() if now is None else now
    result = ScanResult()
    root = os.path.abspath(str(cup_root))
    started = time.monotonic()
    try:
        if not fs.stat(root).is_dir:
            raise NotADirectoryError(root)
    except OSError as exc:
        result.skip_reason = f"cup drive root {root} is missing or unreadable ({exc}); is it mounted?"
        return result
    base = str(sorted_base(Path(root)))
    awaiting: dict[str, list[str]] = {}
    for key, rec in store.recordings.items():
        if not rec.get("sort") and "ratname" in rec:
            awaiting.setdefault(f"{key.split('/', 1)[0]}/{rec['ratname']}", []).append(key)
    checked = 0
    for rat, keys in sorted(awaiting.items()):
        if time.monotonic() - started > options.max_seconds:
            result.notes.append("cup scan budget reached; the rest next tick")
            break
        try:
            st = fs.stat(_join(base, rat))
        except OSError:
            continue
        if store.cup_tops.get(rat) != st.mtime_ns:
            store.cup_tops[rat] = st.mtime_ns
            store.cup_watch[rat] = now
        elif now - store.cup_watch.get(rat, -1e18) > options.watch_window_s and not any(
            k in store.sort_pending for k in keys
        ):
            store.cup_watch.pop(rat, None)
            continue
        for key in keys:
            checked += 1
            match = match_of(key, store.recordings[key])
            try:
                folder = find_kilosort_folder(match, Path(root))
            except UnmatchedRecording as exc:
                result.notes.append(f"{key}: {exc.detail}")
                continue
            if folder is None:
                continue
            try:
                total = sum(fs.stat(e.path).size for e in fs.scandir(str(folder)) if e.is_file)
            except OSError:
                continue
            rel = folder.relative_to(Path(root)).as_posix()
            if store.sort_pending.get(key) == [rel, total]:
                del store.sort_pending[key]
                store.recordings[key] = {**store.recordings[key], "sort": rel}
                result.new_sorts.append(NewSort(key, rel, total))
            else:
                store.sort_pending[key] = [rel, total]
    result.counts.update(rats_awaiting=len(awaiting), recordings_checked=checked,
                         seconds=round(time.monotonic() - started, 4))
    return result
