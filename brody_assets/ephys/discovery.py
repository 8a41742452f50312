"""Finding new, fully copied recordings on the archive drive, a bounded amount of work per tick.

One call of :func:`scan_archive` is one sensor tick. It never walks the whole drive twice:

* **Tops** — the experimenter and rat folders. Each tick lists the drive root and ``stat``\\ s
  every experimenter and rat folder; a folder's modification time changes when an entry is added
  to (or removed from) it, so only rat folders whose mtime moved since the last tick (kept in the
  cursor, ``ScanCursor.tops``) are listed again, and in them only the new sub-folders are walked.
  Rat folders unchanged for ``cold_after_s`` (14 days) are ``stat``\\ ed every ``cold_every``-th
  tick only (a different tenth each tick): a new session of a long-idle rat is found within
  ``cold_every`` ticks (5 minutes at 30 s), and a slow network drive is not asked about hundreds
  of idle rats on every tick.
* **Watch** — folders modified within ``watch_window_s`` (a copy in progress adds probe folders
  and files below the rat folder, which does not touch the rat folder's mtime) are ``stat``\\ ed
  each tick and listed again when they change.
* **Pending** — recordings seen but not complete are re-checked each tick (4 ``stat``\\ s). A
  recording is complete when its ``.ap.meta`` is there and readable, its ``.ap.bin`` size equals
  the meta's ``fileSizeBytes``, and sizes and the ``.ap.bin`` mtime did not change since the
  previous tick (the same for the ``.lf`` pair when present).
* **Queue** — folders still to walk. Work stops at ``max_seconds`` / ``max_entries``; the rest
  stays in the cursor for the next tick.
* **Audit** — a few known recordings and folders are re-``stat``\\ ed per tick, round robin, so a
  recording whose files change after ingestion is reported (``changed_after_ingestion``), never
  re-ingested, and a probe folder added late to an old session is still found.

Complete recordings are matched to their behaviour session (``matching.py``). Whatever cannot be
ingested — no session, two sessions, half-copied, ``.meta`` without ``.bin``, names that fit no
pattern, unreadable folders, symlinks leaving the drive — is kept on the unmatched list
(``DiscoveryStore.unmatched``) with its reason and path until it is fixed. Recordings that failed
to match are matched again every ``rematch_every_s`` (the behaviour session may be migrated later).

State: the small cursor (Dagster's sensor cursor) holds folder mtimes, the queue and the watch
list; the :class:`~brody_assets.ephys.discovery_store.DiscoveryStore` (JSON files beside the
Dagster instance's storage) holds what is known per recording and folder, and the unmatched list.
File-system calls go through a :class:`~brody_assets.ephys.filesystem.FileSystem`. No Dagster
import here.
"""

from __future__ import annotations

import os
import posixpath
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from pathlib import Path

from brody_assets.ephys.discovery_store import DiscoveryStore, UnmatchedEntry
from brody_assets.ephys.discovery_types import (
    META_LIMIT,
    REASONS,
    SUFFIXES,
    DiscoveryOptions,
    NewRecording,
    ScanCursor,
    ScanResult,
)
from brody_assets.ephys.filesystem import FileSystem, Stat
from brody_assets.ephys.layout import LayoutError, parse_raw_path
from brody_assets.ephys.matching import (
    SessionLookup,
    UnmatchedRecording,
    find_kilosort_folder,
    match_recording,
)
from brody_assets.ephys.partitions import partition_key_problem


def _depth(rel: str) -> int:
    return 0 if not rel else rel.count("/") + 1


def _join(root: str, rel: str) -> str:
    return os.path.join(root, *rel.split("/")) if rel else root


class _Budget:
    def __init__(self, options: DiscoveryOptions, start: float) -> None:
        self.deadline = start + options.max_seconds
        self.entries_left = options.max_entries

    def spend(self, n: int = 1) -> None:
        self.entries_left -= n

    @property
    def exhausted(self) -> bool:
        return self.entries_left <= 0 or time.monotonic() >= self.deadline


def _parse_file_size(raw: bytes) -> int | None:
    for line in raw.decode("utf-8", errors="replace").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "fileSizeBytes":
            try:
                size = int(value.strip())
            except ValueError:
                return None
            return size if size >= 0 else None
    return None


class ArchiveScan:
    """One tick over the archive drive (use :func:`scan_archive`)."""

    def __init__(self, fs: FileSystem, root: Path | str, cursor: ScanCursor, store: DiscoveryStore,
                 options: DiscoveryOptions, now: float) -> None:
        self.fs, self.cursor, self.store, self.options, self.now = fs, cursor, store, options, now
        self.root = os.path.abspath(str(root))
        self.real_root = self.root
        self.result = ScanResult()
        self.completed: list[tuple[str, list]] = []
        self.dirs_walked = 0
        self.queue = deque(cursor.queue)
        self.queued = set(cursor.queue)
        self._keys_by_dir: dict[str, set[str]] | None = None
        self.folder_entries: dict[str, set[str]] = defaultdict(set)  # folder → its folder-source paths
        for path, entry in store.unmatched.items():
            if entry.source.startswith("folder:"):
                self.folder_entries[entry.source[7:]].add(path)

    @property
    def keys_by_dir(self) -> dict[str, set[str]]:
        """Folder → recordings known in it (built on first use: quiet ticks never need it)."""
        if self._keys_by_dir is None:
            self._keys_by_dir = defaultdict(set)
            for table in (self.store.pending, self.store.rematch, self.store.recordings):
                for key in table:
                    self._keys_by_dir[posixpath.dirname(key)].add(key)
        return self._keys_by_dir

    def _enqueue(self, rel: str) -> None:
        if rel not in self.queued:
            self.queued.add(rel)
            self.queue.append(rel)

    # --- unmatched list --------------------------------------------------------------------------
    def _list(self, path: str, code: str, detail: str, key: str | None = None, owner: str | None = None):
        """Put ``path`` on the unmatched list; ``owner``: the folder whose walk found it (else a
        recording, kept by its key)."""
        old = self.store.unmatched.get(path)
        since = old.since if old is not None and old.reason_code == code else self.now
        source = "recording" if owner is None else f"folder:{owner}"
        self.store.unmatched[path] = UnmatchedEntry(path, code, detail, key, since, source)
        if owner is not None:
            self.folder_entries[owner].add(path)

    def _unlist_key(self, key: str) -> None:
        paths = [key + suffix for suffix in SUFFIXES]
        outside = self.store.pending.get(key, {}).get("outside")
        if outside:
            paths.append(outside)
        for path in paths:
            entry = self.store.unmatched.get(path)
            if entry is not None and entry.key == key:
                del self.store.unmatched[path]

    def _unlist_folder(self, rel: str) -> None:
        for path in self.folder_entries.pop(rel, ()):
            entry = self.store.unmatched.get(path)
            if entry is not None and entry.source == f"folder:{rel}":
                del self.store.unmatched[path]

    # --- file system helpers ---------------------------------------------------------------------
    def _stat(self, path: str) -> Stat | None:
        self.budget.spend()
        try:
            return self.fs.stat(path)
        except FileNotFoundError:
            return None

    def _inside(self, path: str) -> tuple[bool, str]:
        target = self.fs.realpath(path)
        return (target == self.real_root or target.startswith(self.real_root + os.sep)), target

    # --- the tick --------------------------------------------------------------------------------
    def run(self) -> ScanResult:
        self.budget = _Budget(self.options, time.monotonic())
        started = time.monotonic()
        try:
            root_stat = self.fs.stat(self.root)
        except OSError as exc:
            self.result.skip_reason = (
                f"archive drive root {self.root} is missing or unreadable ({exc.strerror or exc}); "
                "is the drive mounted? Nothing was scanned."
            )
            return self.result
        if not root_stat.is_dir:
            self.result.skip_reason = f"archive drive root {self.root} is not a folder; nothing was scanned"
            return self.result
        self.real_root = self.fs.realpath(self.root)
        self.cursor.tick += 1
        before = self.store.signature()
        self._tops()
        self._watched()
        self._recheck_pending()
        self._walk_queue()
        self._audit()
        self.cursor.queue = list(self.queue)
        self.result.unmatched_changed = self.store.signature() != before
        self.result.counts.update(
            dirs_walked=self.dirs_walked,
            queue_left=len(self.cursor.queue),
            pending=len(self.store.pending),
            completed=len(self.completed),
            unmatched=len(self.store.unmatched),
            seconds=round(time.monotonic() - started, 4),
        )
        if self.cursor.queue:
            self.result.notes.append(
                f"{len(self.cursor.queue)} folders left for the next tick (budget "
                f"{self.options.max_seconds:g} s / {self.options.max_entries} entries reached)"
            )
        return self.result

    def _list_dir(self, rel: str):
        self.budget.spend()
        entries = self.fs.scandir(_join(self.root, rel))
        self.budget.spend(len(entries))
        return entries

    def _tops(self) -> None:
        """List the root, stat experimenter and rat folders; queue rat folders that changed."""
        tops = self.cursor.tops
        try:
            exp_entries = self._list_dir("")
        except OSError as exc:
            self.result.skip_reason = f"archive drive root {self.root} cannot be listed: {exc}"
            return
        self._unlist_folder("")
        exps = set()
        for entry in exp_entries:
            if entry.is_symlink:
                self._symlink(entry, entry.name, "")
                continue
            if entry.is_dir:
                exps.add(entry.name)
            elif entry.name.endswith((".ap.meta", ".ap.bin")):
                self._list(entry.name, "outside_rat_folder", REASONS["outside_rat_folder"], owner="")
        for gone in [k for k in tops if k.split("/")[0] not in exps]:
            self._forget_top(gone)
        for exp in sorted(exps):
            st = self._safe_stat_dir(exp)
            if st is None:
                continue
            rats = {k for k in tops if k.startswith(exp + "/")}
            if tops.get(exp) != st.mtime_ns or (not rats and exp not in tops):
                try:
                    entries = self._list_dir(exp)
                except OSError as exc:
                    self._unreadable(exp, exc)
                    continue
                self._unlist_folder(exp)
                names = set()
                for entry in entries:
                    rel = f"{exp}/{entry.name}"
                    if entry.is_symlink:
                        self._symlink(entry, rel, exp)
                    elif entry.is_dir:
                        names.add(rel)
                    elif entry.name.endswith((".ap.meta", ".ap.bin")):
                        self._list(rel, "outside_rat_folder", REASONS["outside_rat_folder"], owner=exp)
                for gone in rats - names:
                    self._forget_top(gone)
                for new in names - rats:
                    tops.setdefault(new, -1)
                tops[exp] = st.mtime_ns
            for rat in sorted(k for k in tops if k.startswith(exp + "/")):
                if self._cold(rat):
                    continue
                rst = self._safe_stat_dir(rat)
                if rst is None:
                    continue
                if tops.get(rat) != rst.mtime_ns:
                    self._enqueue(rat)
                    tops[rat] = rst.mtime_ns  # walking it (now or in a later tick) sees this state

    def _cold(self, rat: str) -> bool:
        """True when this tick skips a rat folder that has not changed for ``cold_after_s``."""
        mtime = self.cursor.tops.get(rat, -1)
        if mtime < 0 or self.options.cold_every <= 1:
            return False
        if self.now - mtime / 1e9 < self.options.cold_after_s:
            return False
        return (zlib.crc32(rat.encode()) + self.cursor.tick) % self.options.cold_every != 0

    def _forget_top(self, rel: str) -> None:
        self.cursor.tops.pop(rel, None)
        for path in [p for p in self.store.unmatched if p == rel or p.startswith(rel + "/")]:
            if self.store.unmatched[path].source.startswith("folder:"):
                del self.store.unmatched[path]

    def _safe_stat_dir(self, rel: str) -> Stat | None:
        try:
            st = self._stat(_join(self.root, rel))
        except OSError as exc:
            self._unreadable(rel, exc)
            return None
        if st is None:
            self.cursor.tops.pop(rel, None)
        return st

    def _unreadable(self, rel: str, exc: OSError) -> None:
        self._unlist_folder(rel)
        self._list(rel, "unreadable", f"cannot read {rel}: {exc.strerror or exc}", owner=rel)
        if rel not in self.cursor.retry:
            self.cursor.retry.append(rel)

    def _symlink(self, entry, rel: str, owner: str) -> bool:
        """True when the symlink stays on the drive (then it is simply not followed)."""
        try:
            inside, target = self._inside(entry.path)
        except OSError as exc:
            self._unreadable(rel, exc)
            return False
        if not inside:
            self._list(rel, "symlink_outside_root",
                       f"{rel} links to {target}, outside the archive drive {self.root}; not followed",
                       owner=owner)
        return inside

    def _watched(self) -> None:
        """Stat recently modified folders and retry unreadable ones; queue those that changed."""
        for rel in list(self.cursor.retry):
            self._enqueue(rel)
        for rel, mtime in list(self.cursor.watch.items()):
            try:
                st = self._stat(_join(self.root, rel))
            except OSError as exc:
                self._unreadable(rel, exc)
                continue
            if st is None:
                del self.cursor.watch[rel]
                self.store.folders.pop(rel, None)
                self._unlist_folder(rel)
                continue
            if st.mtime_ns != mtime:
                self._enqueue(rel)
            elif self.now - st.mtime_ns / 1e9 > self.options.watch_window_s and not self._has_pending(rel):
                del self.cursor.watch[rel]

    def _walk_queue(self) -> None:
        while self.queue and not self.budget.exhausted:
            rel = self.queue.popleft()
            self.queued.discard(rel)
            self._walk(rel)

    def _walk(self, rel: str) -> None:
        path = _join(self.root, rel)
        try:
            st = self._stat(path)
        except OSError as exc:
            self._unreadable(rel, exc)
            return
        if st is None:  # gone
            self.store.folders.pop(rel, None)
            self.cursor.watch.pop(rel, None)
            if rel in self.cursor.retry:
                self.cursor.retry.remove(rel)
            self._unlist_folder(rel)
            return
        try:
            entries = self._list_dir(rel)
        except OSError as exc:
            self._unreadable(rel, exc)
            return
        self.dirs_walked += 1
        if rel in self.cursor.retry:
            self.cursor.retry.remove(rel)
        self._unlist_folder(rel)
        groups: dict[str, dict[str, object]] = {}
        subdirs: list[str] = []
        others: list[str] = []
        for entry in entries:
            sub = f"{rel}/{entry.name}"
            if entry.is_symlink:
                if not self._symlink(entry, sub, rel):
                    stem = _stem(entry.name)
                    if stem is not None:
                        groups.setdefault(stem[0], {})["outside"] = sub
                    continue
                try:
                    target = self.fs.stat(entry.path)
                except OSError:
                    continue
                if target.is_dir:
                    continue  # a link within the drive: its target is walked on its own
            elif entry.is_dir:
                subdirs.append(sub)
                continue
            stem = _stem(entry.name)
            if stem is None:
                others.append(entry.name)
            else:
                groups.setdefault(stem[0], {})[stem[1]] = entry
        for sub in subdirs:
            if sub in self.store.folders:
                continue  # walked before: watch and audit catch later changes in it
            if _depth(sub) > self.options.max_depth:
                self._list(sub, "too_deep", REASONS["too_deep"], owner=rel)
                continue
            self._enqueue(sub)
        for stem, files in sorted(groups.items()):
            self._recording_seen(rel, stem, files)
        self._forget_vanished(rel, {f"{rel}/{stem}" for stem in groups})
        if not subdirs and not groups and _depth(rel) >= 2:
            listing = ", ".join(sorted(others)[:3]) + (" …" if len(others) > 3 else "")
            detail = f"holds {len(others)} files ({listing}) but no .ap.meta/.ap.bin" if others else "empty folder"
            self._list(rel, "no_recording_files", detail, owner=rel)
        self.store.folders[rel] = st.mtime_ns
        recent = self.now - st.mtime_ns / 1e9 <= self.options.watch_window_s
        if recent or self._has_pending(rel):
            self.cursor.watch[rel] = st.mtime_ns

    def _has_pending(self, rel: str) -> bool:
        if not self.store.pending:
            return False
        return any(k in self.store.pending for k in self.keys_by_dir.get(rel, ()))

    def _forget_vanished(self, rel: str, seen: set[str]) -> None:
        """Recordings of folder ``rel`` no longer there: drop pending ones, report ingested ones."""
        known = self.keys_by_dir.get(rel)
        if not known:
            return
        for key in sorted(known - seen):
            if key in self.store.recordings:
                self._check_ingested(key)
                continue
            self._unlist_key(key)
            self.store.pending.pop(key, None)
            self.store.rematch.pop(key, None)
            known.discard(key)

    def _recording_seen(self, rel: str, stem: str, files: dict) -> None:
        if ".ap.meta" not in files and ".ap.bin" not in files and "outside" not in files:
            some = sorted(k for k in files if k != "outside")[0]
            self._list(f"{rel}/{stem}{some}", "missing_meta",
                       f"{stem}{some} without {stem}.ap.meta/.ap.bin", owner=rel)
            return
        key = f"{rel}/{stem}"
        if key in self.store.recordings:
            self._check_ingested(key)
            return
        if key in self.store.rematch:
            return
        pending = self.store.pending.setdefault(key, {"sig": None, "since": self.now})
        self.keys_by_dir[rel].add(key)
        if "outside" in files:
            pending["outside"] = files["outside"]
        else:
            pending.pop("outside", None)
        if pending.get("checked") != self.now:
            self._evaluate(key)

    # --- completeness ----------------------------------------------------------------------------
    def _recheck_pending(self) -> None:
        for key in sorted(self.store.pending):
            if self.budget.exhausted:
                break
            self._evaluate(key)

    def _evaluate(self, key: str) -> None:
        """Check one pending recording; list it while incomplete, move it on when complete."""
        pending = self.store.pending[key]
        pending["checked"] = self.now
        base = _join(self.root, key)
        rel_meta = key + ".ap.meta"
        if pending.get("outside"):
            self._unlist_key(key)
            link = pending["outside"]
            self._list(link, "symlink_outside_root",
                       f"{link} leads outside the archive drive {self.root}; not followed", key)
            return
        stats: dict[str, Stat | None] = {}
        try:
            for suffix in SUFFIXES:
                stats[suffix] = self._stat(base + suffix)
        except OSError as exc:
            self._unlist_key(key)
            self._list(rel_meta, "unreadable", f"cannot stat the files of {key}: {exc.strerror or exc}", key)
            return
        if all(s is None for s in stats.values()):
            del self.store.pending[key]
            self._unlist_key(key)
            return
        sig = [s.size if s else -1 for s in stats.values()]
        sig.append(stats[".ap.bin"].mtime_ns if stats[".ap.bin"] else -1)
        previous = pending.get("sig")
        pending["sig"] = sig
        stable = previous == sig
        self._unlist_key(key)
        problem = self._problem(key, stats, stable)
        if problem is not None:
            path, code, detail = problem
            self._list(path, code, detail, key)
            return
        if not stable:
            return  # sizes right, but seen for the first time at these sizes: wait one tick
        del self.store.pending[key]
        self.completed.append((key, sig))

    def _problem(self, key: str, stats: dict[str, Stat | None], stable: bool):
        for band in ("ap", "lf"):
            meta, binary = stats[f".{band}.meta"], stats[f".{band}.bin"]
            if meta is None and binary is None:
                continue
            rel_meta, rel_bin = f"{key}.{band}.meta", f"{key}.{band}.bin"
            if meta is None:
                return rel_bin, "missing_meta", f"{posixpath.basename(rel_bin)} has no .meta beside it"
            if binary is None:
                return rel_meta, "missing_bin", f"{posixpath.basename(rel_meta)} has no .bin beside it"
            try:
                self.budget.spend()
                expected = _parse_file_size(self.fs.read_bytes(_join(self.root, rel_meta), META_LIMIT))
            except OSError as exc:
                return rel_meta, "unreadable", f"cannot read {posixpath.basename(rel_meta)}: {exc.strerror or exc}"
            if expected is None:
                return rel_meta, "bad_meta", f"{posixpath.basename(rel_meta)} has no usable fileSizeBytes"
            if binary.size != expected:
                if stable:
                    return rel_bin, "size_mismatch", (
                        f"{posixpath.basename(rel_bin)} is {binary.size:,} bytes, the .meta says "
                        f"{expected:,}; unchanged since the last tick (truncated or over-long copy)")
                return rel_bin, "incomplete_copy", (
                    f"{posixpath.basename(rel_bin)} is {binary.size:,} of {expected:,} bytes; still copying")
        if stats[".ap.meta"] is None:
            return f"{key}.ap.bin", "missing_meta", "the .ap.bin has no .ap.meta beside it"
        return None

    def _check_ingested(self, key: str) -> None:
        known = self.store.recordings[key]
        base = _join(self.root, key)
        try:
            binary, meta = self._stat(base + ".ap.bin"), self._stat(base + ".ap.meta")
        except OSError as exc:
            self._unlist_key(key)
            self._list(key + ".ap.meta", "unreadable", f"cannot stat {key}: {exc.strerror or exc}", key)
            return
        self._unlist_key(key)
        if binary is None or meta is None:
            self._list(key + ".ap.meta", "missing_after_ingestion",
                       f"ingested on {_day(known.get('at'))}; its .ap.bin or .ap.meta is gone", key)
        elif (binary.size, binary.mtime_ns, meta.size) != (known["size"], known["mtime_ns"], known["meta_size"]):
            self._list(key + ".ap.bin", "changed_after_ingestion",
                       f"ingested on {_day(known.get('at'))} at {known['size']:,} bytes; now {binary.size:,} "
                       "bytes / modified again. Not re-ingested: check the copy; to ingest the files as "
                       "they are now, delete its ephys_recordings partition and the sensor requests it "
                       "afresh", key)

    def _audit(self) -> None:
        n = self.options.audit_per_tick
        if n <= 0 or self.budget.exhausted:
            return
        keys = sorted(self.store.recordings)
        if keys:
            start = self.cursor.audit % len(keys)
            for key in (keys[start:] + keys[:start])[:n]:
                self._check_ingested(key)
            self.cursor.audit = (start + n) % len(keys)
        folders = sorted(self.store.folders)
        if folders:
            start = self.cursor.audit_dirs % len(folders)
            for rel in (folders[start:] + folders[:start])[:n]:
                try:
                    st = self._stat(_join(self.root, rel))
                except OSError:
                    continue
                if st is None:
                    self.store.folders.pop(rel, None)
                elif st.mtime_ns != self.store.folders[rel]:
                    self._enqueue(rel)
            self.cursor.audit_dirs = (start + n) % len(folders)


def _stem(name: str) -> tuple[str, str] | None:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return None


def _day(epoch: float | None) -> str:
    return "?" if not epoch else time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def scan_archive(
    fs: FileSystem,
    archive_root: Path | str,
    cursor: ScanCursor,
    store: DiscoveryStore,
    lookup_factory: Callable[[], SessionLookup],
    options: DiscoveryOptions | None = None,
    cup_root: Path | str | None = None,
    now: float | None = None,
) -> ScanResult:
    """One tick: walk what changed, check pending copies, match the completed recordings.

    ``cursor`` and ``store`` are updated in place (the caller saves them). ``lookup_factory`` is
    called only when there is something to match (it opens the database). Never raises for bad
    input: problems go to ``store.unmatched``; a missing root gives ``result.skip_reason``; a
    database that cannot be reached leaves the recordings pending (``result.notes``).
    """
    options = options or DiscoveryOptions()
    scan = ArchiveScan(fs, archive_root, cursor, store, options, time.time() if now is None else now)
    result = scan.run()
    if result.skip_reason:
        return result
    due = [k for k in store.rematch if scan.now - cursor.last_rematch >= options.rematch_every_s]
    todo = scan.completed + [(k, store.rematch[k]) for k in due]
    if not todo:
        return result
    try:
        lookup = lookup_factory()
        lookup.prefetch(_days(key for key, _ in todo))
    except Exception as exc:  # the database is down: keep everything for the next tick
        for key, sig in scan.completed:
            store.pending[key] = {"sig": sig, "since": scan.now}
        result.notes.append(f"could not read the migrated sessions ({type(exc).__name__}: {exc}); "
                            f"{len(scan.completed)} complete recordings wait for the next tick")
        return result
    cursor.last_rematch = scan.now  # every key was just matched: the next retry is rematch_every_s away
    before = store.signature()
    for key, sig in todo:
        store.rematch.pop(key, None)
        scan._unlist_key(key)
        problem = partition_key_problem(key)
        if problem:
            store.rematch[key] = sig
            scan._list(key + ".ap.meta", "invalid_partition_key", problem, key)
            continue
        try:
            match = match_recording(key, lookup)
        except UnmatchedRecording as exc:
            store.rematch[key] = sig
            scan._list(str(exc.path), exc.reason_code, exc.detail, key)
            continue
        except Exception as exc:  # a bug or a database error on this one recording: list it, go on
            store.rematch[key] = sig
            scan._list(key + ".ap.meta", "match_error", f"{type(exc).__name__}: {exc}", key)
            continue
        ks_dir = None
        if cup_root is not None:
            try:
                found = find_kilosort_folder(match, Path(cup_root))
            except UnmatchedRecording as exc:
                scan._list(str(exc.path), exc.reason_code, exc.detail, key)
                found = None
            if found is not None:
                ks_dir = found.relative_to(Path(cup_root)).as_posix()
        size, mtime_ns, meta_size = sig[1], sig[4], sig[0]
        store.recordings[key] = {
            "size": size, "mtime_ns": mtime_ns, "meta_size": meta_size, "at": scan.now,
            "sessid": match.sessid, "user_id": match.user_id, "ratname": match.ratname, "sort": ks_dir,
        }
        result.new.append(NewRecording(key, size, match, ks_dir, store.generations.get(key, 0)))
    if store.signature() != before:
        result.unmatched_changed = True
    result.counts["requested"] = len(result.new)
    return result


def forget_recording(store: DiscoveryStore, key: str, now: float) -> None:
    """Treat an ingested recording as new again (its partition was deleted on purpose): it is
    checked for completeness on the next tick and requested under a new run key."""
    store.recordings.pop(key, None)
    for path in [p for p, e in store.unmatched.items() if e.key == key]:
        del store.unmatched[path]
    store.generations[key] = store.generations.get(key, 0) + 1
    store.pending[key] = {"sig": None, "since": now}


def _days(keys: Iterable[str]) -> set[tuple[str, object]]:
    pairs = set()
    for key in keys:
        try:
            raw = parse_raw_path(key + ".ap.meta")
        except (LayoutError, ValueError):
            continue
        pairs.add((raw.rat_folder, raw.date))
        pairs.add((raw.rat_folder.upper(), raw.date))
    return pairs
