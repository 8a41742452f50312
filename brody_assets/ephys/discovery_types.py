"""The vocabulary of drive discovery: reason codes, options, the cursor and what a tick returns.

No Dagster import; ``discovery.py`` (archive drive) and ``cup_discovery.py`` (cup drive) use it.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import asdict, dataclass, field

from brody_assets.ephys.matching import REASONS as MATCH_REASONS
from brody_assets.ephys.matching import RecordingMatch

SUFFIXES = (".ap.meta", ".ap.bin", ".lf.meta", ".lf.bin")
META_LIMIT = 1 << 20  # a SpikeGLX .meta is ~10-30 kB

REASONS: dict[str, str] = {
    **MATCH_REASONS,
    "incomplete_copy": "the .bin is smaller than the .meta's fileSizeBytes and still growing",
    "size_mismatch": "the .bin size differs from the .meta's fileSizeBytes and has stopped changing",
    "missing_bin": "a .meta without its .bin",
    "missing_meta": "a .bin without its .meta",
    "bad_meta": "the .meta has no usable fileSizeBytes",
    "unreadable": "the folder or file cannot be read (permissions)",
    "symlink_outside_root": "a symlink that leads outside the archive drive (not followed)",
    "no_recording_files": "a folder below a rat with no SpikeGLX .ap files",
    "too_deep": "a folder nested deeper than any known layout (not walked)",
    "changed_after_ingestion": "the files changed after the recording was ingested (not re-ingested)",
    "missing_after_ingestion": "the files of an ingested recording are gone",
    "invalid_partition_key": "the path holds characters Dagster refuses in a partition key",
    "match_error": "matching failed unexpectedly (the detail says how); tried again later",
}


@dataclass
class DiscoveryOptions:
    """Limits of one tick (defaults far under Dagster's 60 s sensor timeout)."""

    max_seconds: float = 15.0
    max_entries: int = 1_000_000  # entries listed + stats; the time budget usually ends a tick first
    watch_window_s: float = 3600.0
    audit_per_tick: int = 20
    cold_after_s: float = 14 * 86400.0  # a rat folder unchanged this long is "cold" …
    cold_every: int = 10  # … and stat'ed every 10th tick only (each tick a different tenth)
    rematch_every_s: float = 300.0
    max_depth: int = 8  # path parts below the root: exp/rat/session/run/probe/… (deeper: too_deep)


@dataclass(frozen=True)
class NewRecording:
    """A complete recording matched to its session: add its partition and request its run."""

    key: str
    bin_size: int
    match: RecordingMatch
    kilosort_dir: str | None = None  # cup-relative sort folder if one was already there
    generation: int = 0  # how often its partition was deleted to have it ingested afresh

    @property
    def run_key(self) -> str:
        """Path + size: the same file set is never requested twice (unless its partition was
        deleted to ingest it afresh: then ``|<generation>`` is appended)."""
        return f"{self.key}|{self.bin_size}" + (f"|{self.generation}" if self.generation else "")


@dataclass(frozen=True)
class NewSort:
    """A complete Kilosort folder found on the cup drive for an ingested recording."""

    key: str
    folder: str  # cup-relative
    total_size: int

    @property
    def run_key(self) -> str:
        return f"{self.key}|kilosort|{self.folder}|{self.total_size}"


@dataclass
class ScanCursor:
    """The sensor cursor: small, so it can be stored with every tick."""

    tops: dict[str, int] = field(default_factory=dict)  # "exp" and "exp/rat" → mtime_ns
    queue: list[str] = field(default_factory=list)  # folders still to walk (archive-relative)
    watch: dict[str, int] = field(default_factory=dict)  # recently modified folders → mtime_ns
    retry: list[str] = field(default_factory=list)  # unreadable folders, tried again each tick
    audit: int = 0
    audit_dirs: int = 0
    last_rematch: float = 0.0
    tick: int = 0

    def to_json(self) -> str:
        """JSON; above 2 kB zlib-compressed as ``z:<base64>`` (Dagster keeps the cursor of every
        tick: 500 rat folders would otherwise cost ~40 kB per tick in its history)."""
        text = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)
        if len(text) <= 2048:
            return text
        return "z:" + base64.b64encode(zlib.compress(text.encode(), 9)).decode()

    @classmethod
    def from_json(cls, text: str | None) -> ScanCursor:
        if not text:
            return cls()
        try:
            if text.startswith("z:"):
                text = zlib.decompress(base64.b64decode(text[2:])).decode()
            data = json.loads(text)
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError, zlib.error):
            return cls()  # an unreadable cursor means: start over (the store prunes the work)


@dataclass
class ScanResult:
    """The outcome of one tick."""

    new: list[NewRecording] = field(default_factory=list)
    new_sorts: list[NewSort] = field(default_factory=list)
    skip_reason: str | None = None
    unmatched_changed: bool = False
    notes: list[str] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.counts.items()]
        return ", ".join(parts)
