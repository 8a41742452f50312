"""``brody-assets demo record``: a new Neuropixels recording arrives on the demo drives.

Picks a behaviour session of the migrated database that has no recording on the archive drive yet
(exactly one session that rat that day, so no day letter is needed), synthesises its SpikeGLX
files and Kilosort output with the demo writers (``drives.py``) in a staging folder, then copies
them onto the drives the way a transfer does: the ``.ap.meta`` first, the ``.ap.bin`` growing in
chunks over ``copy_seconds``, the LF pair, and — ``sort_delay_s`` later — the Kilosort folder.
With ``dagster dev`` running, the archive-drive sensor sees the copy in progress (it is listed
as ``incomplete_copy``), waits until the sizes settle, then adds the partition and requests its
ingestion; the cup-drive sensor requests the Kilosort assets once the sort has landed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pymysql

from brody_assets.config import Settings
from brody_assets.demo.drives import DemoRecording, build_demo_drives, layout_of
from brody_assets.migration.schemas.naming import schema_name

ORDER = (".ap.meta", ".ap.bin", ".lf.meta", ".lf.bin")


@dataclass
class Transfer:
    """One file to copy: from the staging folder to its drive, relative path as on the drive."""

    source: Path
    target: Path
    rel: str


def pick_session(conn, new_prefix: str, archive_root: Path, ratname: str | None = None,
                 date: dt.date | None = None, layout: str = "standard", oldest: bool = False) -> DemoRecording:
    """The newest (``oldest``: the oldest) migrated session-day with one session that day and no
    recording on the drive."""
    lab, subject = schema_name(new_prefix, "lab"), schema_name(new_prefix, "subject")
    acq = schema_name(new_prefix, "acquisition")
    where, params = ["s.session_date > '1000-01-01'"], []
    if ratname:
        where.append("s.session_rat = %s")
        params.append(ratname)
    if date:
        where.append("s.session_date = %s")
        params.append(date)
    sql = f"""
        SELECT c.experimenter, s.session_rat, s.session_date
        FROM `{acq}`.sessions s
        JOIN `{lab}`.contacts c ON c.user_id = s.session_userid
        JOIN `{subject}`.rats r ON r.ratname = s.session_rat
        WHERE {' AND '.join(where)}
        GROUP BY c.experimenter, s.session_rat, s.session_date
        HAVING COUNT(DISTINCT s.sessid) = 1
        ORDER BY s.session_date {'ASC' if oldest else 'DESC'}, s.session_rat
        LIMIT 500
    """
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except pymysql.MySQLError as exc:
        raise RuntimeError(
            f"cannot read the migrated sessions under prefix '{new_prefix}' ({exc.args[-1]}); run the "
            "migration first (`brody-assets materialize`)"
        ) from None
    for experimenter, rat, day in rows:
        try:
            rec = DemoRecording(experimenter, rat, day, layout=layout)
        except ValueError:
            continue  # a name that cannot be a folder
        if not (archive_root / layout_of(rec).session_dir).exists() and not _rat_day_on_drive(
            archive_root, rec
        ):
            return rec
    wanted = f" for rat {ratname}" if ratname else ""
    wanted += f" on {date}" if date else ""
    raise RuntimeError(f"no migrated behaviour session{wanted} is left without a recording on {archive_root}")


def _rat_day_on_drive(archive_root: Path, rec: DemoRecording) -> bool:
    rat_dir = archive_root / rec.experimenter / rec.ratname
    if not rat_dir.is_dir():
        return False
    marks = (rec.date.isoformat(), rec.date.strftime("%Y_%m_%d"))
    return any(any(m in child.name for m in marks) for child in rat_dir.iterdir())


def stage(rec: DemoRecording, staging: Path, seed: int = 11, duration_s: float = 1.0
          ) -> tuple[dict, list[Transfer], list[Transfer]]:
    """Write ``rec`` under ``staging``; return its manifest entry and the raw and sort transfers."""
    manifest = build_demo_drives(staging / "archive", staging / "cup", [rec], seed=seed, duration_s=duration_s)[0]

    def order(rel: str) -> tuple:
        suffix = next((s for s in ORDER if rel.endswith(s)), "")
        return (PurePosixPath(rel).parent.as_posix(), ORDER.index(suffix) if suffix else 9, rel)

    raw = [Transfer(staging / "archive" / rel, Path(), rel) for rel in sorted(manifest["archive_files"], key=order)]
    sort = [Transfer(staging / "cup" / rel, Path(), rel) for rel in sorted(manifest["cup_files"])]
    return manifest, raw, sort


def copy_like_a_transfer(transfers: list[Transfer], root: Path, seconds: float, chunks: int = 8,
                         after_chunk: Callable[[Transfer, int, int], None] | None = None) -> None:
    """Copy each file to ``root / rel``; big files in ``chunks`` appends spread over ``seconds``.

    ``after_chunk(transfer, written, total)`` is called after every chunk (tests tick the sensor
    there). Files land under their final names and grow, as with rsync --inplace or robocopy.
    """
    big = [t for t in transfers if t.source.stat().st_size > 64 * 1024]
    pause = seconds / max(1, len(big) * chunks)
    for transfer in transfers:
        target = root / transfer.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        total = transfer.source.stat().st_size
        pieces = chunks if transfer in big else 1
        step = max(1, -(-total // pieces))
        with open(transfer.source, "rb") as src, open(target, "wb") as dst:
            written = 0
            while True:
                data = src.read(step)
                if not data:
                    break
                dst.write(data)
                dst.flush()
                written += len(data)
                if after_chunk is not None:
                    after_chunk(transfer, written, total)
                if transfer in big and written < total:
                    time.sleep(pause)
        if total == 0 and after_chunk is not None:
            after_chunk(transfer, 0, 0)


def record(settings: Settings, *, ratname: str | None = None, date: dt.date | None = None,
           layout: str = "standard", probes: int = 1, copy_seconds: float = 8.0, sort_delay_s: float = 5.0,
           with_sort: bool = True, seed: int = 11, log: Callable[[str], None] = print) -> dict:
    """Drop a new recording (and later its Kilosort output) for an existing demo session."""
    if settings.archive_root is None or settings.cup_root is None:
        raise ValueError("the demo drives need 'custom.ephys_root_data_dir' = [archive, cup] in the config")
    archive, cup = Path(settings.archive_root), Path(settings.cup_root)
    for root, name in ((archive, "archive"), (cup, "cup")):
        if not root.is_dir():
            raise ValueError(f"the {name} drive {root} does not exist: run `brody-assets demo build` first")
    db = settings.database
    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal(),
                           charset="utf8mb4", connect_timeout=10, **db.tls_options())
    try:
        rec = pick_session(conn, settings.new_prefix, archive, ratname, date, layout)
    finally:
        conn.close()
    if probes != 1:
        rec = DemoRecording(rec.experimenter, rec.ratname, rec.date, probes=probes, layout=layout)
    with tempfile.TemporaryDirectory(prefix="brody-record-", dir=archive.parent) as tmp:
        manifest, raw, sort = stage(rec, Path(tmp), seed=seed)
        log(f"recording {rec.experimenter}/{rec.ratname} {rec.date} ({probes} probe(s)) → {archive}")
        for probe in manifest["probes"]:
            log(f"  {probe['ap_meta']}")
        copy_like_a_transfer(raw, archive, copy_seconds,
                             after_chunk=lambda t, w, n: log(f"  copying {PurePosixPath(t.rel).name}: "
                                                             f"{w:,} / {n:,} bytes") if n > 65536 else None)
        log("raw files complete")
        if with_sort:
            log(f"sorting … (Kilosort output in {sort_delay_s:g} s)")
            time.sleep(sort_delay_s)
            copy_like_a_transfer(sort, cup, 1.0)
            log(f"Kilosort output written to {cup / manifest['probes'][0]['kilosort_dir']}")
    shutil.rmtree(Path(tmp), ignore_errors=True)
    return manifest
