"""What the drive sensors remember between ticks, and the unmatched list.

Two JSON files beside each other (``<name>.json`` and ``<name>.known.json``):

* the **known** file holds what only grows as the drive grows — the recordings already requested
  (sizes at that time, session, sort folder) and the folders already walked (mtime). A tick that
  changed it appends just the changed entries to ``<name>.known.log`` (one JSON line); the file
  is rewritten from scratch only when that log has grown to a quarter of it, so neither a quiet
  tick nor a tick with ten new sessions rewrites megabytes on a drive of 10,000 sessions;
* the main file holds the small, changing part — copies in progress, recordings waiting to be
  matched again, sorts being written, and the unmatched list.

Within one process the last store saved is kept in memory and reused while the files on disk are
the ones it wrote (same size and mtime), so a tick does not re-read them either.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

KNOWN = ("recordings", "folders")


class TrackedDict(dict):
    """A dict that remembers which keys changed (``dirty``); values are replaced, never edited."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dirty: set = set()
        self.cleared = False

    def __setitem__(self, key, value):
        self.dirty.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.dirty.add(key)
        super().__delitem__(key)

    def pop(self, key, *default):
        if key in self:
            self.dirty.add(key)
        return super().pop(key, *default)

    def setdefault(self, key, default=None):
        if key not in self:
            self.dirty.add(key)
        return super().setdefault(key, default)

    def update(self, *args, **kwargs):
        other = dict(*args, **kwargs)
        self.dirty.update(other)
        super().update(other)

    def clear(self):
        self.cleared = True
        super().clear()

    @property
    def changed(self) -> bool:
        return bool(self.dirty) or self.cleared

    def delta(self) -> dict:
        """The changed keys with their new values (None: deleted)."""
        return {key: self.get(key) for key in self.dirty}

    def settle(self) -> None:
        self.dirty.clear()
        self.cleared = False


@dataclass
class UnmatchedEntry:
    """One line of the unmatched list."""

    path: str  # archive-relative POSIX path of the folder or file
    reason_code: str
    detail: str
    key: str | None = None  # the recording (partition key) it concerns, if any
    since: float = 0.0  # when it was first listed (epoch seconds)
    source: str = "recording"  # "recording" (kept by key) or "folder:<rel>" (kept by that folder's walk)


@dataclass
class DiscoveryStore:
    """What the sensors know per recording and folder, and the unmatched list."""

    recordings: dict[str, dict] = field(default_factory=TrackedDict)  # requested recordings
    folders: dict[str, int] = field(default_factory=TrackedDict)  # walked folders → mtime_ns
    pending: dict[str, dict] = field(default_factory=dict)  # seen, not complete yet
    rematch: dict[str, list] = field(default_factory=dict)  # complete, not matched: key → sig
    sort_pending: dict[str, list] = field(default_factory=dict)  # key → [folder, total size]
    cup_tops: dict[str, int] = field(default_factory=dict)  # cup "exp/rat" → mtime_ns
    cup_watch: dict[str, float] = field(default_factory=dict)  # cup "exp/rat" → watched since
    generations: dict[str, int] = field(default_factory=dict)  # key → times ingested afresh
    unmatched: dict[str, UnmatchedEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in KNOWN:
            value = getattr(self, name)
            if not isinstance(value, TrackedDict):
                setattr(self, name, TrackedDict(value))

    # --- JSON ----------------------------------------------------------------------------------
    def _volatile(self) -> dict:
        data = {n: getattr(self, n) for n in self.__dataclass_fields__ if n not in KNOWN and n != "unmatched"}
        data["unmatched"] = {path: vars(entry) for path, entry in self.unmatched.items()}
        return data

    def to_json(self) -> str:
        """Everything in one JSON text (tests; the files split it in two)."""
        return json.dumps({**self._volatile(), **{n: getattr(self, n) for n in KNOWN}}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, known: str | None = None) -> DiscoveryStore:
        data = json.loads(text)
        if known:
            data.update(json.loads(known))
        unmatched = data.pop("unmatched", {})
        store = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        store.unmatched = {p: UnmatchedEntry(**e) for p, e in unmatched.items()}
        return store

    # --- files ---------------------------------------------------------------------------------
    @staticmethod
    def known_path(path: Path) -> Path:
        return path.with_name(path.stem + ".known.json")

    @staticmethod
    def log_path(path: Path) -> Path:
        return path.with_name(path.stem + ".known.log")

    @classmethod
    def load(cls, path: Path) -> DiscoveryStore:
        """Read the store at ``path`` (missing files: an empty store)."""
        path = Path(path)
        cached = _CACHE.pop(str(path), None)
        if cached is not None and cached[0] == _signature(path):
            return cached[1]
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        try:
            known = cls.known_path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            known = None
        store = cls.from_json(text, known)
        try:
            lines = cls.log_path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                delta = json.loads(line)
            except ValueError:
                break  # a line cut short by a crash: everything after it is lost with it
            for name in KNOWN:
                table = getattr(store, name)
                for key, value in delta.get(name, {}).items():
                    if value is None:
                        table.pop(key, None)
                    else:
                        table[key] = value
        for name in KNOWN:
            getattr(store, name).settle()
        return store

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename); the known part only when it changed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        known, log = self.known_path(path), self.log_path(path)
        tables = [getattr(self, n) for n in KNOWN]
        if any(t.cleared for t in tables) or not known.exists() or (
            log.exists() and log.stat().st_size * 4 > known.stat().st_size
        ):
            _write(known, json.dumps({n: getattr(self, n) for n in KNOWN}, separators=(",", ":")))
            log.unlink(missing_ok=True)
        elif any(t.changed for t in tables):
            line = json.dumps({n: getattr(self, n).delta() for n in KNOWN}, separators=(",", ":"))
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        for table in tables:
            table.settle()
        _write(path, json.dumps(self._volatile(), separators=(",", ":")))
        _CACHE[str(path)] = (_signature(path), self)

    # --- the list ------------------------------------------------------------------------------
    def unmatched_rows(self) -> list[UnmatchedEntry]:
        """The unmatched list, sorted by path."""
        return [self.unmatched[p] for p in sorted(self.unmatched)]

    def signature(self) -> frozenset:
        """What a change of the unmatched list means for its asset: paths and reasons."""
        return frozenset((p, e.reason_code) for p, e in self.unmatched.items())


_CACHE: dict[str, tuple[tuple, DiscoveryStore]] = {}


def _signature(path: Path) -> tuple:
    sig = []
    for p in (path, DiscoveryStore.known_path(path), DiscoveryStore.log_path(path)):
        try:
            st = os.stat(p)
            sig.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except FileNotFoundError:
            sig.append(None)
    return tuple(sig)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
