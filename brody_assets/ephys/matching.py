"""Which behaviour session a recording on the archive drive belongs to, and where its sort is.

A recording (one ``.ap.meta`` file set, see ``partitions.py``) is matched by identity, never by a
substring test on paths (``shared/spec/ephys.md`` §2.5, P14–P18):

1. the experimenter folder must be a ``contacts.experimenter`` of the migrated lab schema (exactly;
   a folder differing only in letter case is accepted when it names one experimenter),
2. the rat folder must be a ``rats.ratname`` of the migrated subject schema,
3. the day comes from the folder and run names (``layout.py``),
4. the behaviour sessions (migrated ``acquisition.sessions``) of that rat that day run under that
   experimenter's user id(s), ordered by start time then ``sessid``, must leave exactly one choice:
   one session that day, or the day letter picks one (no letter or ``a`` → 1st, ``b`` → 2nd,
   ``c`` → 3rd). Several sessions and no letter is ``ambiguous_session`` — never a silent pick.

Several recordings may belong to one session (probes ``imec<P>``, gates ``_g<N>``); one recording
never maps to two sessions. Anything that does not match raises :class:`UnmatchedRecording` with a
reason code from ``REASONS`` and a sentence for the data manager.

``find_kilosort_folder`` finds the Kilosort output of a matched recording on the cup drive by the
same identity (experimenter, rat, day, day letter, gate, probe), under either cup-root convention
(the ``…/PhysData/`` folder holding ``NP_sorted/``, or ``NP_sorted/`` itself).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from brody_assets.ephys.layout import (
    LAYOUT_REASONS,
    LayoutError,
    PathProblem,
    RawRecordingPath,
    day_index,
    parse_name,
    parse_raw_path,
)
from brody_assets.ephys.partitions import meta_path_of

REASONS: dict[str, str] = {
    **LAYOUT_REASONS,
    "unknown_experimenter": "the experimenter folder is no contacts.experimenter",
    "ambiguous_experimenter": "the experimenter folder names several contacts differing in case only",
    "unknown_rat": "the rat folder is no rats.ratname (e.g. 'Unimplanted' bench tests)",
    "no_session": "the rat has no behaviour session of this experimenter that day",
    "ambiguous_session": "several behaviour sessions that day and no day letter to choose one",
    "no_such_session_of_day": "the day letter asks for a session the day does not have",
    "ambiguous_kilosort": "several Kilosort folders fit the recording equally well",
}

SORTED_SUBFOLDER = "NP_sorted"


class UnmatchedRecording(PathProblem):
    """A recording that could not be tied to exactly one behaviour session (or sort)."""

    def __init__(self, key: str, path: PurePosixPath | str, reason_code: str, detail: str) -> None:
        self.key = key
        super().__init__(path, reason_code, detail)


@dataclass(frozen=True)
class RecordingMatch:
    """A recording tied to its behaviour session."""

    key: str  # the partition key
    experimenter: str
    user_id: str
    ratname: str
    sessid: int  # behaviour session (migrated acquisition.sessions)
    session_date: dt.date
    run: str  # SpikeGLX run folder incl. gate, e.g. "A230_2019-08-09_g0"
    insertion_number: int  # from imec<P> (P21); 0 for 3A-era files without an index
    raw_dir: PurePosixPath  # archive-relative folder holding the .ap.meta
    day_letter: str | None = None  # the day letter of the folder names, if any
    tags: tuple[str, ...] = field(default=())  # free suffixes of the folder names (bank0, idle …)
    probe_index: int | None = None  # imec<P> as written (None: 3A-era file without an index)
    gate: int = 0


@dataclass(frozen=True)
class SessionRow:
    """One behaviour session as the matcher needs it."""

    sessid: int
    ratname: str
    user_id: str
    session_date: dt.date
    starttime: dt.timedelta | dt.time | None = None


SessionFetch = Callable[[set[tuple[str, dt.date]]], Iterable[SessionRow]]


def _start_key(row: SessionRow) -> tuple:
    start = row.starttime
    if isinstance(start, dt.time):
        start = dt.timedelta(hours=start.hour, minutes=start.minute, seconds=start.second)
    return (start if start is not None else dt.timedelta(0), row.sessid)


class SessionLookup:
    """Experimenters, rats and behaviour sessions of the migrated schemas, for matching.

    Contacts and rats are read once; sessions are fetched per (rat, day) on demand (and cached),
    so a sensor tick with a few new folders asks the database only about those days.
    ``prefetch`` fetches many (rat, day) pairs in one query.
    """

    def __init__(
        self,
        experimenters: Mapping[str, Sequence[str]],
        ratnames: Iterable[str],
        sessions: Iterable[SessionRow] = (),
        fetch: SessionFetch | None = None,
    ) -> None:
        self.experimenters = {name: tuple(sorted(ids)) for name, ids in experimenters.items()}
        self._folded: dict[str, list[str]] = defaultdict(list)
        for name in self.experimenters:
            self._folded[name.casefold()].append(name)
        self.ratnames = frozenset(ratnames)
        self._fetch = fetch
        self._sessions: dict[tuple[str, dt.date], list[SessionRow]] = defaultdict(list)
        self._known: set[tuple[str, dt.date]] = set()
        for row in sessions:
            self._sessions[(row.ratname, row.session_date)].append(row)
        if fetch is None:  # everything was given: every (rat, day) is known
            self._complete = True
        else:
            self._complete = False

    @classmethod
    def from_connection(cls, conn, new_prefix: str) -> SessionLookup:
        """Read contacts and rats through ``conn`` (pymysql); sessions are read on demand through it.

        The connection must stay open while the lookup is used.
        """
        from brody_assets.migration.schemas.naming import schema_name

        lab, subject = schema_name(new_prefix, "lab"), schema_name(new_prefix, "subject")
        acquisition = schema_name(new_prefix, "acquisition")
        experimenters: dict[str, list[str]] = defaultdict(list)
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT experimenter, user_id FROM `{lab}`.`contacts`")
            for name, user_id in cursor.fetchall():
                if name:
                    experimenters[name].append(user_id)
            cursor.execute(f"SELECT ratname FROM `{subject}`.`rats`")
            ratnames = [row[0] for row in cursor.fetchall()]

        def fetch(pairs: set[tuple[str, dt.date]]) -> list[SessionRow]:
            rows: list[SessionRow] = []
            ordered = sorted(pairs)
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                where = " OR ".join(["(session_rat = %s AND session_date = %s)"] * len(chunk))
                params = [value for pair in chunk for value in pair]
                with conn.cursor() as cursor:
                    cursor.execute(
                        f"SELECT sessid, session_rat, session_userid, session_date, session_starttime "
                        f"FROM `{acquisition}`.`sessions` WHERE {where}",
                        params,
                    )
                    rows.extend(SessionRow(*row) for row in cursor.fetchall())
            return rows

        return cls(experimenters, ratnames, fetch=fetch)

    def user_ids(self, experimenter: str) -> tuple[str, ...] | None:
        """User ids of an experimenter folder name; None when unknown. Raises on case ambiguity."""
        if experimenter in self.experimenters:
            return self.experimenters[experimenter]
        folded = self._folded.get(experimenter.casefold(), [])
        if len(folded) > 1:
            raise ValueError(", ".join(sorted(folded)))
        return self.experimenters[folded[0]] if folded else None

    def prefetch(self, pairs: Iterable[tuple[str, dt.date]]) -> None:
        """Fetch the sessions of many (rat, day) pairs in as few queries as possible."""
        if self._complete or self._fetch is None:
            return
        missing = {pair for pair in pairs if pair not in self._known}
        if not missing:
            return
        for row in self._fetch(missing):
            self._sessions[(row.ratname, row.session_date)].append(row)
        self._known |= missing

    def sessions_of(self, ratname: str, date: dt.date) -> list[SessionRow]:
        """Every behaviour session of ``ratname`` on ``date``, in start-time then sessid order."""
        self.prefetch([(ratname, date)])
        return sorted(self._sessions.get((ratname, date), []), key=_start_key)


def _unmatched(raw: RawRecordingPath, code: str, detail: str) -> UnmatchedRecording:
    return UnmatchedRecording(raw.key, raw.meta_rel, code, detail)


def match_recording(key: str, lookup: SessionLookup) -> RecordingMatch:
    """Tie partition ``key`` to exactly one behaviour session; raise :class:`UnmatchedRecording`."""
    meta_rel = meta_path_of(key)
    try:
        raw = parse_raw_path(meta_rel)
    except LayoutError as exc:
        raise UnmatchedRecording(key, meta_rel, exc.reason_code, exc.detail) from None
    try:
        user_ids = lookup.user_ids(raw.experimenter)
    except ValueError as exc:
        raise _unmatched(
            raw, "ambiguous_experimenter", f"folder {raw.experimenter!r} matches contacts {exc}"
        ) from None
    if user_ids is None:
        raise _unmatched(
            raw, "unknown_experimenter",
            f"experimenter folder {raw.experimenter!r} is not a contacts.experimenter",
        )
    ratname = raw.rat_folder
    if ratname not in lookup.ratnames:
        upper = raw.rat_folder.upper()
        if upper in lookup.ratnames:
            ratname = upper
        else:
            raise _unmatched(raw, "unknown_rat", f"rat folder {raw.rat_folder!r} is not a rats.ratname")
    everyone = lookup.sessions_of(ratname, raw.date)
    sessions = [row for row in everyone if row.user_id in user_ids]
    day = raw.date.isoformat()
    if not sessions:
        others = ", ".join(f"{row.sessid} ({row.user_id})" for row in everyone)
        detail = f"rat {ratname} has no session of {raw.experimenter} ({', '.join(user_ids)}) on {day}"
        raise _unmatched(raw, "no_session", detail + (f"; sessions of others: {others}" if others else ""))
    index = day_index(raw.day_letter)
    listing = ", ".join(str(row.sessid) for row in sessions)
    if index is None:
        if len(sessions) > 1:
            raise _unmatched(
                raw, "ambiguous_session",
                f"rat {ratname} has {len(sessions)} sessions on {day} ({listing}) and the folder "
                "names carry no day letter (b, c …) to choose one",
            )
        chosen = sessions[0]
    elif index >= len(sessions):
        raise _unmatched(
            raw, "no_such_session_of_day",
            f"day letter {raw.day_letter!r} asks for session {index + 1} of {day} but rat {ratname} "
            f"has {len(sessions)} ({listing})",
        )
    else:
        chosen = sessions[index]
    return RecordingMatch(
        key=key,
        experimenter=raw.experimenter,
        user_id=chosen.user_id,
        ratname=ratname,
        sessid=int(chosen.sessid),
        session_date=raw.date,
        run=raw.run,
        insertion_number=raw.insertion_number,
        raw_dir=raw.raw_dir,
        day_letter=raw.day_letter,
        tags=raw.tags,
        probe_index=raw.probe_index,
        gate=raw.gate,
    )


# --- the Kilosort folder on the cup drive ---------------------------------------------------------

_MAX_SORT_DEPTH = 3  # session folder / run or probe folder / spikesort_<timestamp>


def sorted_base(cup_root: Path) -> Path:
    """The folder whose children are experimenter folders, under either cup-root convention."""
    inner = cup_root / SORTED_SUBFOLDER
    return inner if inner.is_dir() else cup_root


def _holds_npy(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.endswith(".npy") and e.is_file() for e in entries)
    except OSError:
        return False


def _sort_folders(top: Path, depth: int = 0) -> Iterable[Path]:
    if _holds_npy(top):
        yield top
    if depth >= _MAX_SORT_DEPTH:
        return
    try:
        with os.scandir(top) as entries:
            subdirs = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return
    for sub in subdirs:
        yield from _sort_folders(Path(sub), depth + 1)


def find_kilosort_folder(match: RecordingMatch, cup_root: Path) -> Path | None:
    """The Kilosort output folder of ``match`` on the cup drive, or None when there is none yet.

    A sort folder (one holding ``*.npy`` files, the lab's rule) fits when its session-level folder
    (``<exp>/<rat>/<folder>``) carries the recording's day and day letter, and no folder on the way
    names another probe (``imec<P>``) or gate (``_g<N>``). Folders naming the probe and gate, and
    folders with the recording's tags (``bank0``, ``600s`` …), fit better than folders that leave
    them out. Several ``spikesort_<timestamp>`` runs of the same folder: the newest. Several
    different folders fitting equally: ``UnmatchedRecording(reason_code="ambiguous_kilosort")``.
    """
    rat_dir = sorted_base(Path(cup_root)) / match.experimenter / match.ratname
    try:
        with os.scandir(rat_dir) as entries:
            session_dirs = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return None
    scored: list[tuple[tuple[int, int, int], Path]] = []
    for name in session_dirs:
        try:
            parts = parse_name(name)
        except ValueError:
            continue
        if parts.date != match.session_date or parts.day_letter != match.day_letter:
            continue
        for folder in _sort_folders(rat_dir / name):
            score = _fit(folder.relative_to(rat_dir), match)
            if score is not None:
                scored.append((score, folder))
    if not scored:
        return None
    best = max(score for score, _ in scored)
    winners = [folder for score, folder in scored if score == best]
    parents = {_without_spikesort(folder) for folder in winners}
    if len(parents) > 1:
        listing = ", ".join(str(f.relative_to(cup_root)) for f in winners)
        raise UnmatchedRecording(
            match.key, match.raw_dir, "ambiguous_kilosort",
            f"several Kilosort folders fit equally well: {listing}",
        )
    return max(winners, key=lambda f: f.name)


def _without_spikesort(folder: Path) -> Path:
    return folder.parent if folder.name.startswith("spikesort_") else folder


def _fit(rel: Path, match: RecordingMatch) -> tuple[int, int, int] | None:
    probe_named = gate_named = 0
    tags: set[str] = set()
    for component in rel.parts:
        if component.startswith("spikesort_"):
            continue
        try:
            parts = parse_name(component)
        except ValueError:
            return None
        if parts.date is not None and parts.date != match.session_date:
            return None
        if parts.probe is not None:
            if parts.probe != match.insertion_number:
                return None
            probe_named = 1
        if parts.gate is not None:
            if parts.gate != match.gate:
                return None
            gate_named = 1
        tags.update(parts.tags)
    if not probe_named and match.insertion_number != 0:
        # a folder without imec<P> is the sort of a single-probe (or probe-0) recording only
        return None
    tags_fit = int(set(match.tags) == tags)
    return (probe_named, gate_named, tags_fit)
