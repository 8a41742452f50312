"""Are the drive roots there? The archive drive (raw recordings) and the cup drive (Kilosort outputs).

:func:`check_drive_roots` returns one :class:`DriveProblem` per root that is not configured, does
not exist, is not a folder or cannot be listed, each with the fix. It reads directory entries
only, never writes. The ephys assets fail on a non-empty list, the ephys sensor skips its tick
with the problems as the skip reason, and ``brody-assets doctor`` prints them. An unmounted
network drive usually shows as an empty or missing mount point, so an empty root is reported too
(as a warning: a brand-new drive may really be empty).

No Dagster import: plain Python over :class:`~brody_assets.config.Settings`.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from brody_assets.config import Settings

ROOTS = (("archive", "raw SpikeGLX recordings, read-only"), ("cup", "Kilosort outputs"))
CONFIG_KEY = "custom.ephys_root_data_dir"


@dataclass(frozen=True)
class DriveProblem:
    """A drive root that cannot be used (``blocking``) or looks unmounted (not blocking)."""

    drive: str  # "archive" | "cup"
    path: Path | None
    problem: str
    fix: str
    blocking: bool = True

    def describe(self) -> str:
        return f"{self.drive} drive {self.path if self.path else '(not configured)'}: {self.problem}. {self.fix}"


def check_root(drive: str, path: Path | None) -> DriveProblem | None:
    """The problem with one drive root, or None when it is a readable, non-empty folder."""
    fix = (
        f"Mount the {drive} drive, or set '{CONFIG_KEY}' in dj_local_conf.json "
        f"(or BRODY_{drive.upper()}_ROOT) to [archive drive, cup drive]."
    )
    if path is None:
        return DriveProblem(drive, None, "is not configured", fix)
    if not path.exists():
        return DriveProblem(drive, path, "does not exist (not mounted?)", fix)
    if not path.is_dir():
        return DriveProblem(drive, path, "is not a folder", fix)
    if not os.access(path, os.R_OK | os.X_OK):
        return DriveProblem(drive, path, f"cannot be read by user {getpass.getuser()}", f"Give it read access. {fix}")
    try:
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as error:
        return DriveProblem(drive, path, f"cannot be listed ({error.strerror})", fix)
    if empty:
        return DriveProblem(drive, path, "is empty (an unmounted mount point looks like this)", fix, blocking=False)
    return None


def check_drive_roots(settings: Settings) -> list[DriveProblem]:
    """Every problem with the configured drive roots (empty list: both are usable)."""
    problems = [check_root(drive, getattr(settings, f"{drive}_root")) for drive, _ in ROOTS]
    return [p for p in problems if p is not None]


def blocking_drive_problems(settings: Settings) -> list[DriveProblem]:
    """Only the problems that must stop ephys work (missing, not a folder, unreadable)."""
    return [p for p in check_drive_roots(settings) if p.blocking]
