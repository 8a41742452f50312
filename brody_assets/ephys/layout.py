"""Reading who, which rat and which day out of a recording's path on the archive drive.

The lab never had one folder convention (``shared/spec/ephys.md`` §2.2). Every form seen is
accepted, for example (archive-relative paths of the ``.ap.meta`` file)::

    Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec0/A230_2019-08-09_g0_t0.imec0.ap.meta
    Adrian/A230/2019-07-04_g0/2019-07-04_g0_imec2/2019-07-04_g0_t0.imec2.ap.meta      (date only)
    Adrian/A230/A230_2019_07_15/2019-07-15_g0_imec0/2019-07-15_g0_t0.imec0.ap.meta  (- and _)
    Thomas/T274/T274_2020_12_13c_g0/T274_2020_12_13c_g0_t0.imec0.ap.meta            (3rd of the day)
    Thomas/T304/T304_2020_10_04_2.8mm_ML_g0/...                                       (free suffix)
    Thomas/T173/T173_bank0_2018_03_19/T173_bank0_2018_03_19_g0_t0.imec.ap.meta       (3A era)
    Adrian/A230/2019-07-04 (bank 0)/2019-07-04_g0_imec0/...

The first path part is the experimenter's first name (``contacts.experimenter``), the second the
rat (``rats.ratname``). Every folder below the rat and the SpikeGLX run name inside the file name
is read; each may carry the date (``YYYY-MM-DD`` or ``YYYY_MM_DD``), a day letter right after the
date (``b``, ``c``: the 2nd, 3rd session of that day), the gate ``_g<N>``, the probe ``_imec<P>``
and free tags (``_bank0``, ``_idle``, ``_600s``, ``_2.8mm_ML``, ``_segment0to5324``,
`` (bank 0)``). The parts must agree with each other: a folder dated one day holding a run dated
another, or a probe folder ``_imec1`` holding ``imec0`` files, is refused with a reason instead of
being guessed at. Nothing here touches the disk or the database.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from brody_assets.ephys.partitions import AP_META_SUFFIX, recording_key

_DATE = re.compile(r"(?<!\d)(?P<y>\d{4})(?P<sep>[-_])(?P<m>\d{2})(?P=sep)(?P<d>\d{2})(?!\d)")
_LETTER = re.compile(r"^(?P<letter>[a-z])(?=$|[_ (\-])")
_RAT_TOKEN = re.compile(r"^(?P<rat>[A-Za-z]\d{3})(?=$|[_\- ])")
_GATE = re.compile(r"(?:^|[_ ])g(?P<gate>\d+)(?=$|[_ ])")
_PROBE = re.compile(r"(?:^|[_ .])imec(?P<probe>\d+)(?=$|[_ .])")
_SEPARATORS = "_- "
# <run>_g<N>_t<M>.imec<P>.ap.meta; 3A era: <run>_g<N>_t<M>.imec.ap.meta; CatGT: _tcat
_SPIKEGLX_FILE = re.compile(
    r"^(?P<run>.+?)_g(?P<gate>\d+)_t(?P<trigger>\d+|cat)\.imec(?P<probe>\d*)" + re.escape(AP_META_SUFFIX) + "$"
)
RAT_NAME = re.compile(r"^[A-Za-z]\d{3}$")

# Reason codes a path can be refused with; the unmatched list shows them with the detail.
LAYOUT_REASONS: dict[str, str] = {
    "outside_rat_folder": "the file does not sit under <experimenter>/<rat>/",
    "not_spikeglx_name": "the file name is not <run>_g<N>_t<M>.imec[<P>].ap.meta",
    "no_date": "no folder and no run name carries a date (YYYY-MM-DD or YYYY_MM_DD)",
    "bad_date": "a date in the path is not a calendar date",
    "conflicting_dates": "the folders and the run name carry different dates",
    "conflicting_rat": "a folder or the run name names another rat than the rat folder",
    "conflicting_day_letter": "the folders and the run name carry different day letters",
    "conflicting_gate": "the run folder and the file carry different gates _g<N>",
    "conflicting_probe_index": "the probe folder _imec<P> and the file's imec<P> differ",
}


class PathProblem(Exception):
    """A recording path that cannot be taken as it is: the path, a reason code (the unmatched
    list's column) and a detail a person can act on."""

    def __init__(self, path: PurePosixPath | str, reason_code: str, detail: str) -> None:
        self.path = PurePosixPath(path)
        self.reason_code = reason_code
        self.detail = detail
        super().__init__(f"{self.path}: {reason_code}: {detail}")


class LayoutError(PathProblem, ValueError):
    """A path that cannot be read as a recording of one rat on one day; names path and reason."""


@dataclass(frozen=True)
class NameParts:
    """What one folder or run name says: e.g. ``T274_2020_12_13c_g0`` → T274, 2020-12-13, c, gate 0."""

    name: str
    date: dt.date | None
    day_letter: str | None
    rat_token: str | None
    gate: int | None
    probe: int | None
    tags: tuple[str, ...]


def _strip_tokens(text: str) -> str:
    text = _GATE.sub(" ", text)
    text = _PROBE.sub(" ", text)
    return text.strip(_SEPARATORS + ".")


def parse_name(name: str) -> NameParts:
    """Read one folder name (or SpikeGLX run name). Raises ``ValueError`` for an impossible date."""
    match = _DATE.search(name)
    rat_source = name if match is None else name[: match.start()]
    rat = _RAT_TOKEN.match(rat_source)
    rat_token = rat.group("rat") if rat else None
    gates = {int(m.group("gate")) for m in _GATE.finditer(name)}
    probes = {int(m.group("probe")) for m in _PROBE.finditer(name)}
    if len(gates) > 1 or len(probes) > 1:
        raise ValueError(f"{name!r} carries several gates or probe indices")
    date = letter = None
    if match is None:
        rest = name[rat.end():] if rat else name
        tags = (_strip_tokens(rest),)
    else:
        try:
            date = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
        except ValueError as exc:
            raise ValueError(f"{match.group(0)!r} in {name!r} is not a calendar date") from exc
        pre = name[rat.end() if rat else 0 : match.start()]
        post = name[match.end():]
        letter_match = _LETTER.match(post)
        if letter_match:
            letter = letter_match["letter"]
            post = post[1:]
        tags = (_strip_tokens(pre), _strip_tokens(post))
    return NameParts(
        name=name,
        date=date,
        day_letter=letter,
        rat_token=rat_token,
        gate=gates.pop() if gates else None,
        probe=probes.pop() if probes else None,
        tags=tuple(t for t in tags if t),
    )


def day_index(letter: str | None) -> int | None:
    """0-based session-of-the-day index of a day letter: none → None, ``a`` → 0, ``b`` → 1 …"""
    return None if letter is None else ord(letter) - ord("a")


@dataclass(frozen=True)
class RawRecordingPath:
    """The identity read from one ``.ap.meta`` path on the archive drive."""

    key: str  # partition key (see partitions.py)
    meta_rel: PurePosixPath
    experimenter: str
    rat_folder: str
    date: dt.date
    day_letter: str | None  # b, c … (2nd, 3rd session of the day); None when absent
    tags: tuple[str, ...]  # free suffixes, e.g. ("bank0",), ("2.8mm_ML",), ("(bank 0)",)
    run_name: str  # SpikeGLX run name without the gate, e.g. "A230_2019-08-09"
    gate: int
    trigger: str  # "0", "1" … or "cat"
    probe_index: int | None  # None for 3A-era files (".imec.ap.meta") outside an _imec<P> folder
    session_folder: str | None  # first folder below the rat folder (None: file sits in it)

    @property
    def run(self) -> str:
        """SpikeGLX run folder name including the gate, e.g. ``A230_2019-08-09_g0``."""
        return f"{self.run_name}_g{self.gate}"

    @property
    def insertion_number(self) -> int:
        """The probe insertion: the ``imec<P>`` index, 0 for 3A-era single-probe files (P21)."""
        return 0 if self.probe_index is None else self.probe_index

    @property
    def raw_dir(self) -> PurePosixPath:
        return self.meta_rel.parent


def _agree(path: PurePosixPath, values: dict[str, object], reason: str, what: str):
    distinct = set(values.values())
    if len(distinct) > 1:
        listing = ", ".join(f"{name!r} says {value}" for name, value in values.items())
        raise LayoutError(path, reason, f"the {what} disagree: {listing}")
    return distinct.pop() if distinct else None


def parse_raw_path(meta_rel: PurePosixPath | str) -> RawRecordingPath:
    """Read experimenter, rat, day, day letter, run, gate and probe from an ``.ap.meta`` path.

    ``meta_rel`` is relative to the archive drive's root. Raises :class:`LayoutError` with one of
    ``LAYOUT_REASONS`` when the path cannot be read unambiguously.
    """
    path = PurePosixPath(meta_rel)
    key = recording_key(path)
    if len(path.parts) < 3:
        raise LayoutError(path, "outside_rat_folder", "expected <experimenter>/<rat>/…/<file>.ap.meta")
    experimenter, rat_folder = path.parts[0], path.parts[1]
    file_match = _SPIKEGLX_FILE.match(path.name)
    if file_match is None:
        raise LayoutError(path, "not_spikeglx_name", LAYOUT_REASONS["not_spikeglx_name"])
    folders = path.parts[2:-1]
    try:
        names = [parse_name(folder) for folder in folders]
        run_parts = parse_name(file_match["run"])
    except ValueError as exc:
        reason = "bad_date" if "calendar date" in str(exc) else "conflicting_gate"
        raise LayoutError(path, reason, str(exc)) from exc
    every = [*names, run_parts]

    dates = {p.name: p.date for p in every if p.date is not None}
    date = _agree(path, dates, "conflicting_dates", "dates")
    if date is None:
        raise LayoutError(path, "no_date", LAYOUT_REASONS["no_date"])
    if RAT_NAME.match(rat_folder):
        others = {p.name: p.rat_token for p in every if p.rat_token and p.rat_token.upper() != rat_folder.upper()}
        if others:
            listing = ", ".join(f"{n!r} names {r}" for n, r in others.items())
            raise LayoutError(path, "conflicting_rat", f"rat folder {rat_folder!r} but {listing}")
    letter = _agree(
        path,
        {p.name: p.day_letter for p in every if p.day_letter is not None and p.date is not None},
        "conflicting_day_letter",
        "day letters",
    )
    gate = int(file_match["gate"])
    folder_gates = {p.name: p.gate for p in names if p.gate is not None}
    _agree(path, {**folder_gates, path.name: gate}, "conflicting_gate", "gates")
    file_probe = int(file_match["probe"]) if file_match["probe"] else None
    folder_probes = {p.name: p.probe for p in names if p.probe is not None}
    if file_probe is not None:
        folder_probes[path.name] = file_probe
    probe = _agree(path, folder_probes, "conflicting_probe_index", "probe indices")
    tags: list[str] = []
    for part in every:
        tags.extend(t for t in part.tags if t not in tags)
    return RawRecordingPath(
        key=key,
        meta_rel=path,
        experimenter=experimenter,
        rat_folder=rat_folder,
        date=date,
        day_letter=letter,
        tags=tuple(tags),
        run_name=file_match["run"],
        gate=gate,
        trigger=file_match["trigger"],
        probe_index=probe,
        session_folder=folders[0] if folders else None,
    )
